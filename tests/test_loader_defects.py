"""Loader defects reported by users: symlink loops, FIFOs and other special files, blocking reads,
Markdown links with ``)`` in the URL, titles of renamed files, and the import circle of the format loaders."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from qa.errors import DocumentError
from qa.loaders import (
    Discovery,
    Skipped,
    content_title,
    discover,
    fallback_title,
    load_document,
    read_file,
    scan_folder,
    title_after_rename,
)
from qa.loaders.text import load_markdown

REPO = Path(__file__).resolve().parents[1]

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")


def _docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Good\n\nA regular document.\n", encoding="utf-8")
    return docs


def _reasons(found: Discovery) -> dict[str, str]:
    return {s.path: s.reason for s in found.skipped}


def _open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


# ------------------------------------------------------------------------------------ 1. symlink loop


def test_symlink_loop_is_skipped_with_a_reason_not_a_crash(tmp_path):
    docs = _docs(tmp_path)
    os.symlink("a.md", docs / "b.md")
    os.symlink("b.md", docs / "a.md")
    os.symlink("self.md", docs / "self.md")
    found = scan_folder(docs)  # used to raise RuntimeError("Symlink loop") from Path.resolve()
    assert found.files == ("good.md",)
    reasons = _reasons(found)
    assert set(reasons) == {"a.md", "b.md", "self.md"}
    assert all(r == "a symbolic link loop" for r in reasons.values())
    assert discover(docs) == ["good.md"]


def test_symlink_loop_in_a_subfolder_does_not_hide_the_other_documents(tmp_path):
    docs = _docs(tmp_path)
    sub = docs / "sub"
    sub.mkdir()
    (sub / "z.txt").write_text("more text", encoding="utf-8")
    os.symlink("loop.txt", sub / "loop.txt")
    assert discover(docs) == ["good.md", "sub/z.txt"]


# ---------------------------------------------------------------------------- 2. special files, links


@needs_fifo
def test_fifo_is_skipped_with_a_reason(tmp_path):
    docs = _docs(tmp_path)
    os.mkfifo(docs / "pipe.txt")
    found = scan_folder(docs)
    assert found.files == ("good.md",)
    assert found.skipped == (Skipped("pipe.txt", "a named pipe (FIFO), not a regular file"),)


@needs_fifo
def test_links_are_skipped_with_a_reason(tmp_path):
    docs = _docs(tmp_path)
    outside = tmp_path / "secret.md"
    outside.write_text("# Secret\n\nnot a document of this folder\n", encoding="utf-8")
    os.mkfifo(tmp_path / "docs" / ".hidden-pipe")  # hidden: ignored without a word
    os.symlink(".hidden-pipe", docs / "to-pipe.md")
    os.symlink(outside, docs / "outside.md")
    os.symlink("missing.md", docs / "dangling.md")
    os.symlink("good.md", docs / "alias.md")  # a link to a document inside the folder is fine
    found = scan_folder(docs)
    assert found.files == ("alias.md", "good.md")
    assert _reasons(found) == {
        "dangling.md": "a broken link (the file it points to does not exist)",
        "outside.md": "a link to a file outside the documents folder",
        "to-pipe.md": "a link to a named pipe (FIFO), not a regular file",
    }
    assert [s.path for s in found.skipped] == sorted(s.path for s in found.skipped)


def test_a_name_with_dot_dot_between_backslashes_is_skipped_with_a_reason(tmp_path):
    """On Linux "report\\..\\wombat.txt" is a file of the folder, but a name Verbatim refuses (qa.paths): it failed
    every update with "UnsafePathError: … points outside the docs folder"."""
    docs = _docs(tmp_path)
    (docs / "report\\..\\wombat.txt").write_text("The wombat digs.", encoding="utf-8")
    (docs / "report\\2024.txt").write_text("A backslash is part of a name.", encoding="utf-8")
    (docs / "\\lead.txt").write_text("A leading backslash.", encoding="utf-8")
    (docs / "C:notes.txt").write_text("A drive letter.", encoding="utf-8")
    found = scan_folder(docs)
    assert found.files == ("good.md", "report\\2024.txt")
    reason = ("its name reads as a path outside the folder (a drive letter, a leading backslash or '..' between "
              "backslashes); rename the file")
    assert _reasons(found) == {"report\\..\\wombat.txt": reason, "\\lead.txt": reason, "C:notes.txt": reason}


def test_links_to_folders_are_reported_not_silently_left_out(tmp_path):
    docs = _docs(tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "a.md").write_text("# A\n\ntext\n", encoding="utf-8")
    (docs / "real").mkdir()
    (docs / "real" / "b.md").write_text("# B\n\ntext\n", encoding="utf-8")
    os.symlink(tmp_path / "reports", docs / "outlink")
    os.symlink("real", docs / "inlink")
    found = scan_folder(docs)
    assert found.files == ("good.md", "real/b.md")
    reasons = _reasons(found)
    assert reasons["outlink"].startswith("a link to a folder outside the documents folder")
    assert reasons["inlink"].startswith("a link to a folder inside the documents folder")


def test_a_backslash_is_part_of_a_file_name_not_a_folder(tmp_path, settings, fake_embedder):
    """On Linux "report\\2024.txt" is one file; it was indexed as "report/2024.txt", re-added on every update, and
    collided with a real report/2024.txt (the whole update failed)."""
    from qa.indexing import update_index

    docs = settings.docs
    (docs / "report").mkdir(parents=True)
    (docs / "report\\2024.txt").write_text("A note about privacy.", encoding="utf-8")
    (docs / "report" / "2024.txt").write_text("A note about peaceful protest.", encoding="utf-8")
    (docs / "food.txt").write_text("A note about food security.", encoding="utf-8")
    report = update_index(docs, settings.index, settings, embedder=fake_embedder)
    assert report.added == ["food.txt", "report/2024.txt", "report\\2024.txt"] and not report.failed
    again = update_index(docs, settings.index, settings, embedder=fake_embedder)
    assert again.unchanged == 3 and not again.added and not again.removed


def test_socket_is_skipped_with_a_reason(tmp_path):
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("no Unix sockets")
    docs = _docs(tmp_path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cwd = os.getcwd()
    os.chdir(docs)  # AF_UNIX paths are limited to ~100 bytes: bind a relative name
    try:
        server.bind("sock.md")
    finally:
        os.chdir(cwd)
    try:
        found = scan_folder(docs)
        assert found.files == ("good.md",)
        assert _reasons(found) == {"sock.md": "a socket, not a regular file"}
        with pytest.raises(DocumentError, match="not a regular file"):
            read_file(docs / "sock.md", 1000, 5, rel="sock.md")
    finally:
        server.close()


def test_ignored_names_readme_and_unsupported_types_stay_silent(tmp_path):
    docs = _docs(tmp_path)
    for name in ("README.md", "SOURCE.md", ".hidden.md", "notes.md~", "data.csv"):
        (docs / name).write_text("x", encoding="utf-8")
    os.symlink("nowhere", docs / "broken.csv")  # unsupported type: no reason needed
    found = scan_folder(docs)
    assert found == Discovery(files=("good.md",), skipped=())


@needs_fifo
def test_indexing_a_folder_with_a_fifo_does_not_hang(tmp_path):
    """The user's report end to end in a child process: ``python -m qa index`` used to wait forever."""
    docs = _docs(tmp_path)
    os.mkfifo(docs / "pipe.txt")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from qa.loaders import scan_folder, load_document\n"
        "docs = Path(sys.argv[1])\n"
        "found = scan_folder(docs)\n"
        "assert found.files == ('good.md',), found\n"
        "from qa.errors import DocumentError\n"
        "try:\n"
        "    load_document(docs, 'pipe.txt')\n"
        "except DocumentError as exc:\n"
        "    print('REASON', exc.reason)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(docs)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "REASON a named pipe (FIFO), not a regular file" in result.stdout


@needs_fifo
def test_read_file_refuses_a_fifo_at_once_and_leaves_nothing_open(tmp_path):
    pipe = tmp_path / "pipe.txt"
    os.mkfifo(pipe)
    before = _open_fds()
    started = time.monotonic()
    with pytest.raises(DocumentError) as info:
        read_file(pipe, 1000, 5, rel="pipe.txt")
    assert time.monotonic() - started < 2
    assert info.value.doc == "pipe.txt"
    assert info.value.reason == "a named pipe (FIFO), not a regular file"
    if before is not None:
        assert _open_fds() == before


def test_read_file_reads_a_regular_file(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"hello\x00world" * 1000)
    before = _open_fds()
    assert read_file(path, 1_000_000, 5) == b"hello\x00world" * 1000
    assert read_file(tmp_path / "a.txt", 11_000, 5) == b"hello\x00world" * 1000  # exactly the limit
    if before is not None:
        assert _open_fds() == before


def test_read_file_refuses_large_files_and_folders(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 5000)
    with pytest.raises(DocumentError, match="too large"):
        read_file(path, 4999, 5, rel="big.txt")
    (tmp_path / "folder.md").mkdir()
    with pytest.raises(DocumentError, match="not a regular file"):
        read_file(tmp_path / "folder.md", 1000, 5)


def test_read_file_of_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_file(tmp_path / "gone.txt", 1000, 5)
    with pytest.raises(DocumentError, match="cannot read the file"):
        load_document(tmp_path, "gone.txt")


def test_read_file_has_a_time_limit(tmp_path, monkeypatch):
    """A read that stalls (a hung network or FUSE mount) ends with a reason; the caller does not wait."""
    import qa.loaders as loaders

    path = tmp_path / "slow.txt"
    path.write_bytes(b"some text")
    release = threading.Event()
    closed = threading.Event()
    real_close = os.close

    def stalled_read(fd, size):
        release.wait(10)
        return b""

    def watch_close(fd):
        real_close(fd)
        closed.set()

    monkeypatch.setattr(loaders, "_read_chunk", stalled_read)
    monkeypatch.setattr(loaders.os, "close", watch_close)
    started = time.monotonic()
    with pytest.raises(DocumentError) as info:
        read_file(path, 1000, 0.3, rel="slow.txt")
    elapsed = time.monotonic() - started
    assert info.value.reason == "reading the file took longer than 0.3 s"
    assert elapsed < 3
    assert not closed.is_set()  # still held by the stalled read …
    release.set()
    assert closed.wait(5)  # … and closed by the reading thread as soon as the read returns


def test_load_document_uses_the_time_limit_from_settings(tmp_path, monkeypatch):
    import qa.loaders as loaders

    (tmp_path / "slow.md").write_text("# Slow\n\ntext\n", encoding="utf-8")
    release = threading.Event()
    monkeypatch.setattr(loaders, "_read_chunk", lambda fd, size: release.wait(10) and b"")
    # ``read_timeout_s`` is read with getattr (Settings may not have the field yet)
    settings = SimpleNamespace(max_file_bytes=1000, read_timeout_s=0.2)
    try:
        with pytest.raises(DocumentError, match="took longer than 0.2 s"):
            load_document(tmp_path, "slow.md", settings)
    finally:
        release.set()


# ------------------------------------------------------------------------- 3. Markdown link with ")"


@pytest.mark.parametrize(
    "source, expected",
    [
        ("[report](https://example.org/a_(b)) text", "report text"),
        ("See [the report](https://en.wikipedia.org/wiki/Report_(2024)) now.", "See the report now."),
        ("[x](http://a.org/x_(y_(z))) end", "x end"),
        ("[a](<http://x.org/a)b>) end", "a end"),
        ('[a](http://x.org/a "the (title)") end', "a end"),
        ("[a](http://x.org/a\\)) end", "a end"),
        ("[![logo](img_(1).png)](http://x.org) end", "logo end"),
        ("[a](x) and [b](y_(z))", "a and b"),
        ("a [b] (c) d", "a [b] (c) d"),  # not a link
        ("[b](unclosed_( tail", "[b](unclosed_( tail"),
    ],
)
def test_markdown_link_with_parentheses_in_the_url(source, expected):
    assert load_markdown(source.encode(), "doc.md").text == expected


def test_markdown_link_in_a_heading_keeps_offsets_consistent():
    source = (
        "# Rules of [the court](https://example.org/court_(1))\n\n"
        "Text with [report](https://example.org/a_(b)) inside.\n\n"
        "## Annex [A](http://x.org/annex_(a)) and more\n\nEnd.\n"
    )
    extracted = load_markdown(source.encode(), "doc.md")
    assert extracted.text == (
        "Rules of the court\n\nText with report inside.\n\nAnnex A and more\n\nEnd."
    )
    assert ")" not in extracted.text
    assert [h.title for h in extracted.headings] == ["Rules of the court", "Annex A and more"]
    for heading in extracted.headings:
        assert extracted.text[heading.start : heading.end] == heading.title
    assert extracted.title == "Rules of the court"


# --------------------------------------------------------------------------------- 4. title on rename


def test_fallback_title_is_a_pure_function_of_the_path():
    assert fallback_title("reports/annual_report-2024.md") == "Annual report 2024"
    assert fallback_title("x/notes.txt") == "Notes"
    assert fallback_title("__.md") == "__.md"


def test_title_from_the_name_is_recognisable_and_follows_a_rename(tmp_path):
    (tmp_path / "old_name.txt").write_text("plain text without a heading", encoding="utf-8")
    (tmp_path / "titled.md").write_text("# Real title\n\nbody\n", encoding="utf-8")
    from qa.loaders import extract

    plain = extract("old_name.txt", (tmp_path / "old_name.txt").read_bytes())
    titled = extract("titled.md", (tmp_path / "titled.md").read_bytes())
    assert content_title(plain) is None  # the title will come from the file name
    assert content_title(titled) == "Real title"
    document = load_document(tmp_path, "old_name.txt")
    assert document.title == fallback_title("old_name.txt") == "Old name"

    # the indexer moves the stored document to its new path without extracting it again
    assert title_after_rename(document.title, "old_name.txt", "new-name.txt") == "New name"
    assert title_after_rename("Real title", "titled.md", "moved/other.md") == "Real title"
    assert title_after_rename("Old name", "old_name.txt", "x.txt", from_name=False) == "Old name"
    assert title_after_rename("Real", "a.txt", "b_c.txt", from_name=True) == "B c"
    # the same result as loading the renamed file afresh
    os.rename(tmp_path / "old_name.txt", tmp_path / "new-name.txt")
    assert load_document(tmp_path, "new-name.txt").title == "New name"


@pytest.mark.parametrize("name, text", [
    ("reponse_fr.txt", "Réponse à la question 1\n\nLe Gouvernement a libéré M. Dupont le 3 février 2024.\n"),
    ("otvet.txt", "Ответ на вопрос 1\n\nПравительство освободило г-на Петрова 5 мая 2024 года.\n"),
    ("rad.txt", "الرد على السؤال 1\n\nأفرجت الحكومة عن السيد خالد في 10 آذار/مارس 2024.\n"),
    ("article.md", "# Article 1\n\nAll human beings are born free and equal in dignity and rights.\n"),
])
def test_an_answer_or_article_heading_first_is_a_section_not_the_title(tmp_path, name, text):
    """Session 19: replies laid out as "Réponse à la question 1" all carried that heading as their title (and their
    citations read "Réponse à la question 1, ‘Réponse à la question 1’"); the title comes from the file name."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    document = load_document(tmp_path, name)
    assert document.title == fallback_title(name)
    assert document.headings and document.headings[0].title == text.split("\n", 1)[0].lstrip("# ")


def test_blank_metadata_title_falls_back_to_the_name():
    from qa.types import Extracted

    assert content_title(Extracted(text="x", title="   ")) is None


# ---------------------------------------------------------------------------------- 5. import circle


def test_format_modules_import_only_common():
    for name in ("pdf", "docx", "html"):
        source = (REPO / "qa" / "loaders" / f"{name}.py").read_text(encoding="utf-8")
        assert "from .formats" not in source and "import formats" not in source, name
        assert "from .common import" in source, name
    common = (REPO / "qa" / "loaders" / "common.py").read_text(encoding="utf-8")
    for name in ("formats", "pdf", "docx", "html"):
        assert f"from .{name}" not in common and f"import {name}" not in common


@pytest.mark.parametrize("first", ["qa.loaders.pdf", "qa.loaders.docx", "qa.loaders.html", "qa.loaders.common"])
def test_each_loader_module_imports_first_in_a_fresh_interpreter(first):
    code = (
        f"import {first}\n"
        "from qa.loaders.formats import Paragraph, assemble, clean_title, extract_in_process, squash\n"
        "from qa.loaders.formats import first_symbol, symbol_of_line, SYMBOL, _cover\n"
        "from qa.loaders import common\n"
        "assert Paragraph is common.Paragraph and assemble is common.assemble\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_markup_is_stripped_from_a_paragraph_that_runs_straight_into_a_heading_line():
    """The ICCPR's Markdown has its preamble, with links, right above "### PART I" (no blank line)."""
    source = "Considering the [Charter](../charter/README.md) and **peace**,\n### PART I\n\nArticle 1.\n"
    extracted = load_markdown(source.encode(), "doc.md")
    assert extracted.text == "Considering the Charter and peace,\n\nPART I\n\nArticle 1."
    assert [h.title for h in extracted.headings] == ["PART I"]
