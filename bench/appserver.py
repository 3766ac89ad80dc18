"""``streamlit run app.py`` on a free loopback port, for the browser test and the concurrency benchmark."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class AppServerError(RuntimeError):
    """The app did not start: the message ends with the end of its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """The page of ``repo`` on ``root/docs`` and ``root/index``; ``start`` returns the seconds to healthy."""

    def __init__(self, root: Path, repo: Path = REPO, extra_env: dict | None = None, timeout: float = 240):
        self.root, self.repo, self.timeout = Path(root), Path(repo), timeout
        self.docs, self.index = self.root / "docs", self.root / "index"
        self.log_path = self.root / "streamlit.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "QA_DOCS": str(self.docs), "QA_INDEX": str(self.index), "HF_HUB_OFFLINE": "1",
                    "TRANSFORMERS_OFFLINE": "1", **(extra_env or {})}
        self.proc = None
        self._log = None

    def start(self) -> float:
        command = [sys.executable, "-m", "streamlit", "run", str(self.repo / "app.py"), "--server.headless", "true",
                   "--server.port", str(self.port), "--server.address", "127.0.0.1",
                   "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        self._log = open(self.log_path, "wb")
        started = time.monotonic()
        self.proc = subprocess.Popen(command, cwd=self.repo, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        while time.monotonic() < started + self.timeout:
            if self.proc.poll() is not None:
                raise AppServerError(f"streamlit exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.2)
        raise AppServerError(f"streamlit did not become healthy within {self.timeout:g} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        finally:
            if self._log is not None:
                self._log.close()
