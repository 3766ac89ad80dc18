"""``python -m qa index --watch``: keep the index current while documents arrive, change or go.

* An update runs at start (``--rebuild`` applies to that one only), then after every burst of
  file events once the folder has been quiet for ``quiet`` seconds (1 s), or at the latest
  ``max_delay`` seconds (10 s) after the first event of a burst that does not stop.
* Events that cannot change the index are ignored: hidden, editor swap and temporary files
  (``qa.loaders.is_ignored_name``), unsupported file types, and files merely opened or read (by
  this process's own updates). Folders that overlap (an index inside the documents folder) are
  refused at start (``qa.indexing.check_folders``, exit code 2).
* Each update is logged as one line on stdout (``qa.reporting.as_log_line``: added, changed,
  removed, renamed, failed…), or as one JSON object per line with ``--json`` (``{"event":
  "update", ...IndexReport}``; also ``watching``, ``error`` and ``stopped`` events).
* SIGINT (Ctrl-C) and SIGTERM stop it: an update in progress is abandoned (its transaction rolls
  back, so the index stays at its last committed state), the update lock is released and the exit
  code is 0. Another process updating the same index (``IndexLockedError``) or a write error (disk
  full) is logged and retried after ``retry`` seconds; an index built with other settings stops the
  watcher with exit code 3.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .errors import IndexCorruptError, IndexLockedError, IndexMismatchError, QAError
from .indexing import DocsFolderError, IndexWriteError, check_folders
from .stores import update_index
from .loaders import NOT_DOCUMENTS, SUPPORTED_EXTENSIONS, is_ignored_name
from .progress import progress_printer
from .reporting import as_log_line

QUIET_S = 1.0
MAX_DELAY_S = 10.0
RETRY_S = 5.0
POLL_S = 0.1
_EVENTS = {"created", "deleted", "modified", "moved", "closed", "attrib"}


def _relevant_path(path: str, is_directory: bool, docs: Path) -> bool:
    """Whether a changed path could change the index built from ``docs``."""
    path = Path(os.path.abspath(os.fsdecode(path)))
    try:
        rel = path.relative_to(docs)
    except ValueError:
        return False
    parts = rel.parts
    if not parts or any(is_ignored_name(part) or part == "__pycache__" for part in parts):
        return False
    if is_directory:
        return True
    name = parts[-1]
    return name.lower() not in NOT_DOCUMENTS and Path(name).suffix.lower() in SUPPORTED_EXTENSIONS


class _Changes:
    """Collects relevant file events and says when a debounced update is due."""

    def __init__(self, quiet: float, max_delay: float):
        self.quiet = quiet
        self.max_delay = max_delay
        self._lock = threading.Lock()
        self._first: float | None = None
        self._last: float | None = None
        self.events = 0

    def note(self, delay: float = 0.0) -> None:
        now = time.monotonic() + delay
        with self._lock:
            if self._first is None:
                self._first = now
            self._last = max(self._last or now, now)
            self.events += 1

    def due(self) -> bool:
        """True (and reset) when the folder has been quiet long enough, or the burst has lasted too long."""
        now = time.monotonic()
        with self._lock:
            if self._first is None:
                return False
            if now - self._last >= self.quiet or now - self._first >= self.max_delay:
                self._first = self._last = None
                return True
            return False


def _handler(docs: Path, changes: _Changes):
    from watchdog.events import FileSystemEventHandler

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            if event.event_type not in _EVENTS:
                return  # opened / closed without writing: reading files changes nothing
            if event.is_directory and event.event_type not in ("created", "deleted", "moved"):
                return  # a folder's own mtime changes with every file event inside it
            paths = [event.src_path]
            if getattr(event, "dest_path", None):
                paths.append(event.dest_path)
            if any(_relevant_path(p, event.is_directory, docs) for p in paths):
                changes.note()

    return Handler()


def _start_observer(docs: Path, handler):
    from watchdog.observers import Observer
    from watchdog.observers.polling import PollingObserver

    observer = Observer()
    try:
        observer.schedule(handler, str(docs), recursive=True)
        observer.start()
        return observer
    except OSError:  # e.g. the inotify watch limit is reached: poll instead
        observer = PollingObserver(timeout=1.0)
        observer.schedule(handler, str(docs), recursive=True)
        observer.start()
        return observer


def watch(
    settings,
    rebuild: bool = False,
    as_json: bool = False,
    *,
    embedder=None,
    stop: threading.Event | None = None,
    quiet: float = QUIET_S,
    max_delay: float = MAX_DELAY_S,
    retry: float = RETRY_S,
    out=None,
) -> int:
    """Keep ``settings.index`` in line with ``settings.docs`` until SIGINT/SIGTERM or ``stop`` is set.

    ``embedder`` (default: the packaged model, loaded on first need), ``stop`` and ``out`` (default
    stdout) are for embedding the watcher in another program or a test thread. Signal handlers are
    installed only when called from the main thread. Returns the exit code (0 when stopped).
    """
    docs = Path(os.path.abspath(settings.docs))
    index = Path(os.path.abspath(settings.index))
    out = out or sys.stdout
    stop = stop or threading.Event()
    check_folders(docs, index)  # a missing docs folder, an index path that is a file, folders that overlap

    def log(event: str, text: str, **fields) -> None:
        if as_json:
            line = json.dumps({"event": event, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **fields}, ensure_ascii=False)
        else:
            line = text
        print(line, file=out, flush=True)

    changes = _Changes(quiet, max_delay)
    updating = threading.Event()
    interrupted = []

    def on_signal(signum, frame) -> None:
        interrupted.append(signal.Signals(signum).name)
        stop.set()
        if updating.is_set():
            raise KeyboardInterrupt  # abandon the update: its transaction rolls back

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)

    def run_update(full: bool) -> int | None:
        """One update; returns an exit code if the watcher must stop."""
        progress = progress_printer(not as_json and out is sys.stdout and sys.stderr.isatty())
        updating.set()
        try:
            if stop.is_set():
                return None
            report = update_index(docs, index, settings, rebuild=full, embedder=embedder, progress=progress)
        except (IndexMismatchError, IndexCorruptError) as exc:
            log("error", f"error: {exc}", error=str(exc), exit_code=exc.exit_code)
            return exc.exit_code
        except (IndexLockedError, IndexWriteError, DocsFolderError) as exc:
            log("error", f"error: {exc} (retrying in {retry:.0f} s)", error=str(exc), exit_code=exc.exit_code)
            changes.note(delay=max(0.0, retry - changes.quiet))
            return None
        except QAError as exc:
            log("error", f"error: {exc}", error=str(exc), exit_code=exc.exit_code)
            return None
        except Exception as exc:  # keep watching: the next change retries
            message = f"{type(exc).__name__}: {exc}"
            log("error", f"error: the update failed ({message})", error=message, exit_code=1)
            return None
        finally:
            updating.clear()
        log("update", as_log_line(report), **report.to_json())
        return None

    observer = None
    code = 0
    try:
        observer = _start_observer(docs, _handler(docs, changes))
        log("watching", f"Watching {docs} (index {index}); Ctrl-C stops.", docs=str(docs), index=str(index))
        code = run_update(rebuild)
        while code is None and not stop.is_set():
            if changes.due():
                code = run_update(False)
            else:
                stop.wait(POLL_S)
    except KeyboardInterrupt:
        interrupted.append("SIGINT")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
    reason = interrupted[0] if interrupted else ("error" if code else "stop")
    log("stopped", f"Stopped ({reason}).", reason=reason)
    return code or 0
