"""``verbatim serve``: bring the index up to date in the terminal, then start the app.

Without it the page builds the index while its first visitor waits (17.7 s on the bundled seeds, 11 s of it
loading the model). Here the update runs first, with the same progress bars as ``verbatim index``; then
``python -m streamlit run app.py`` starts with the same documents and index folders (``QA_DOCS`` and
``QA_INDEX`` are set for it), and the address to open is printed.

The port is 8501 unless ``--port`` says otherwise; when 8501 is taken the next free one is used and printed
(Streamlit only moves on by itself when no port is given, and then the printed address would be wrong).
Arguments after ``--`` go to ``streamlit run`` unchanged (``verbatim serve -- --server.address 0.0.0.0``).
Imported only when ``serve`` runs: ``verbatim --help`` stays fast.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from .errors import IndexLockedError, QAError

DEFAULT_PORT = 8501


class AppMissingError(QAError):
    """``app.py`` is not beside the ``qa`` package: the project was installed as a copy, not from its folder."""


def app_path() -> Path:
    """The repository's ``app.py`` (beside the ``qa`` package, as with ``pip install -e .``)."""
    from .settings import REPO_ROOT

    path = REPO_ROOT / "app.py"
    if not path.is_file():
        raise AppMissingError(
            f"app.py is not at {path}: install Verbatim from its folder with `pip install -e .` "
            "(a plain `pip install .` copies only the qa package)."
        )
    return path


def port_is_free(port: int, host: str = "") -> bool:
    """Whether a server could listen on ``port`` now (with address reuse, as Streamlit's server binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(start: int = DEFAULT_PORT, tries: int = 100) -> int:
    """``start`` or the first free port after it."""
    for port in range(start, start + tries):
        if port_is_free(port):
            return port
    raise QAError(f"No free port between {start} and {start + tries - 1}; pass one with --port.")


def option_value(args: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` among pass-through arguments (the last one wins)."""
    value = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def streamlit_command(app: Path, port: int | None, extra: list[str]) -> list[str]:
    """``python -m streamlit run app.py`` with this interpreter. No first-run e-mail prompt (it would stop the
    start on a fresh machine); ``extra`` comes last, so it can override anything set here."""
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.showEmailPrompt", "false"]
    if port is not None:
        command += ["--server.port", str(port)]
    return command + list(extra)


def address(port: int, extra: list[str]) -> str:
    host = option_value(extra, "--server.address")
    if not host or host in ("0.0.0.0", "::"):
        host = "localhost"
    return f"http://{host}:{port}"


def update(settings) -> None:
    """The index brought up to date, with progress bars on a terminal; the report is printed. Documents that
    cannot be read are reported and the app still starts; another running update (a watcher) is left to finish."""
    from .stores import update_index
    from .progress import progress_printer
    from .reporting import as_text

    print(f"Updating the index of {settings.docs} …", file=sys.stderr, flush=True)
    try:
        report = update_index(settings.docs, settings.index, settings, progress=progress_printer(sys.stderr.isatty()))
    except IndexLockedError as exc:
        print(f"{exc} Starting the app anyway: it shows the index as that update leaves it.", file=sys.stderr)
        return
    print(as_text(report), flush=True)


# Signals that stop ``serve``: passed on to the Streamlit process, which would otherwise keep running.
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def serve(args, settings) -> int:
    extra = list(getattr(args, "streamlit_args", None) or [])
    app = app_path()
    given = option_value(extra, "--server.port")
    if given is not None and args.port is not None:
        raise QAError("Give the port once: --port or --server.port, not both.")
    if given is not None:
        try:
            port, own_port = int(given), None
        except ValueError:
            raise QAError(f"--server.port must be a number, not {given!r}.") from None
    else:
        port = own_port = args.port if args.port is not None else free_port()
    if not getattr(args, "no_update", False):
        update(settings)
    env = dict(os.environ, QA_DOCS=str(Path(settings.docs).resolve()), QA_INDEX=str(Path(settings.index).resolve()))
    if settings.store:  # in the child's environment only: never on a command line
        env["QA_STORE"] = settings.store
    print(f"Starting Verbatim: open {address(port, extra)} in your browser (Ctrl-C stops it).", flush=True)
    sys.stderr.flush()
    stopping: list[int] = []

    def stop(signum, frame) -> None:  # a service manager's SIGTERM (or a closed terminal) reaches only this process
        stopping.append(signum)
        process.terminate()

    process = subprocess.Popen(streamlit_command(app, own_port, extra), cwd=app.parent, env=env)
    previous = {sig: signal.signal(sig, stop) for sig in _STOP_SIGNALS}
    try:
        code = process.wait()
        if stopping:
            print("stopped", file=sys.stderr)
            return 0
        return code
    except KeyboardInterrupt:  # the same Ctrl-C reached Streamlit: let it shut down
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait()
        print("stopped", file=sys.stderr)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
