"""One wording of an index update (``qa.reporting``) for the three front ends: the CLI prints it, the
watcher logs it, the page shows it (the page's side is checked in ``test_app.py``)."""

from __future__ import annotations

import io
import threading
import time

import pytest

from qa import reporting
from qa.report import Duplicate, Failure, IndexReport, Renamed


def _report(**changes) -> IndexReport:
    fields = dict(
        added=["new.md", "sub/other.pdf"], changed=["a.md"], removed=["gone.md"],
        renamed=[Renamed("old name.md", "new name.md")], duplicates=[Duplicate("copy.md", "a.md")],
        failed=[Failure("broken.pdf", "not a PDF")], skipped=[Failure("fifo.md", "not a regular file (a named pipe)")],
        unchanged=7, chunks_embedded=12, sentences_embedded=40, chunks_reused=3, chunks_total=90,
        documents_total=10, generation=4, seconds=1.25,
    )
    fields.update(changes)
    return IndexReport(**fields)


def test_headline_and_lines():
    report = _report()
    assert reporting.headline(report) == "Index updated: 2 added, 1 changed, 1 removed, 1 renamed, 1 failed, 1 skipped"
    assert reporting.lines(report) == [
        ("info", "Added: new.md, sub/other.pdf"),
        ("info", "Changed: a.md"),
        ("info", "Removed: gone.md"),
        ("info", "Renamed: old name.md → new name.md"),
        ("warning", "Not indexed twice: copy.md has the same content as a.md"),
        ("warning", "Skipped fifo.md: not a regular file (a named pipe)"),
        ("error", "Could not index broken.pdf: not a PDF"),
        ("info", "10 documents, 90 passages in the index (7 unchanged, 12 passages embedded with 40 sentences, "
                 "3 reused; generation 4, 1.2 s)"),
    ]
    assert not any("chunk" in text for _, text in reporting.lines(report)), "people read 'passages'"


def test_a_file_name_with_a_newline_stays_on_its_line():
    report = IndexReport(added=["a\nb.txt", "Réponse عربي.txt"], failed=[Failure("empty\nname.txt", "the file is empty")])
    text = reporting.as_text(report)
    assert "Added: a\\nb.txt, Réponse عربي.txt" in text
    assert "Could not index empty\\nname.txt: the file is empty" in text
    assert len(text.splitlines()) == 1 + len(reporting.lines(report))


def test_headline_when_nothing_changed():
    quiet = dict(added=[], changed=[], removed=[], renamed=[], duplicates=[])
    assert reporting.headline(_report(**quiet, failed=[], skipped=[])) == "The index is up to date: nothing changed"
    assert reporting.headline(_report(**quiet, skipped=[])) == "Nothing changed in the index: 1 failed"
    assert reporting.headline(_report(rebuild=True, failed=[], skipped=[])).startswith("Index rebuilt: 2 added")
    # an empty folder is no index "up to date" (session 19: it read as a normal state)
    empty = _report(**quiet, failed=[], skipped=[], unchanged=0, documents_total=0, chunks_total=0)
    assert reporting.headline(empty) == "The index is empty: the documents folder holds no document to read"
    one = _report(**quiet, failed=[], skipped=[], documents_total=1, chunks_total=1, chunks_embedded=1, sentences_embedded=1)
    assert reporting.lines(one)[-1][1].startswith("1 document, 1 passage in the index (7 unchanged, 1 passage embedded with 1 sentence,")


@pytest.fixture
def canned(monkeypatch):
    """``update_index`` replaced by one that returns a report with every kind of entry."""
    report = _report()

    def update_index(*args, **kwargs):
        return report

    monkeypatch.setattr("qa.indexing.update_index", update_index)
    monkeypatch.setattr("qa.watch.update_index", update_index)
    return report


def test_the_cli_prints_the_headline_and_the_lines(canned, tmp_path, capsys):
    from qa.cli import main

    (tmp_path / "docs").mkdir()
    code = main(["index", "--docs", str(tmp_path / "docs"), "--index", str(tmp_path / "index")])
    out = capsys.readouterr().out
    assert code == 1, "a failed document makes a partial update"
    assert out.splitlines() == [reporting.headline(canned)] + [f"  {text}" for _, text in reporting.lines(canned)]


def test_the_watcher_logs_the_headline_and_the_lines_on_one_line(canned, settings, docs_dir):
    from qa.watch import watch

    out = io.StringIO()
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(settings,), kwargs=dict(stop=stop, out=out), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while "Index updated" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=10)
    line = next(line for line in out.getvalue().splitlines() if "Index updated" in line)
    stamp = line[1:9]
    assert line == reporting.as_log_line(canned, stamp)
    assert line == f"[{stamp}] {reporting.headline(canned)} — " + " | ".join(text for _, text in reporting.lines(canned))
