"""CLI: JSON schemas of index and ask, exit codes and one-line messages for bad input (real model)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from qa.cli import main

from conftest import REPO, SEED_DOC, copy_seeds, write

pytestmark = pytest.mark.slow

QUESTION = "What did the state say about access to case materials?"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory, real_embedder):
    root = tmp_path_factory.mktemp("cli")
    docs = root / "docs"
    copy_seeds(docs)
    write(docs, "notes/broken.txt", "")  # an empty file: reported, never blocks the others
    return docs, root / "index"


def test_index_json_schema_and_partial_exit_code(cli_index, capsys):
    docs, index = cli_index
    code, out, err = run(capsys, "index", "--docs", str(docs), "--index", str(index), "--json")
    report = json.loads(out)
    for key in ("added", "changed", "removed", "unchanged", "failed", "chunks_embedded", "chunks_total", "seconds"):
        assert key in report
    assert report["added"] == [SEED_DOC]
    assert report["failed"] == [{"doc": "notes/broken.txt", "error": "the file is empty"}]
    assert report["chunks_embedded"] == report["chunks_total"] > 10
    assert code == 1, "a partial update exits with 1"

    code, out, _ = run(capsys, "index", "--docs", str(docs), "--index", str(index), "--json")
    again = json.loads(out)
    assert again["unchanged"] == 1 and again["added"] == [] and again["chunks_embedded"] == 0


def test_ask_json_schema_offsets_and_answer(cli_index, capsys):
    docs, index = cli_index
    run(capsys, "index", "--docs", str(docs), "--index", str(index))
    code, out, err = run(capsys, "ask", QUESTION, "--index", str(index), "--json", "-k", "4")
    assert code == 0, err
    result = json.loads(out)
    assert result["question"] == QUESTION
    assert len(result["passages"]) == 4
    code, text_out, _ = run(capsys, "text", SEED_DOC, "--index", str(index))
    extracted = text_out[:-1]  # the command adds one newline
    for i, p in enumerate(result["passages"], start=1):
        assert set(p) >= {"rank", "score", "doc", "title", "section", "page", "start", "end", "text", "highlights"}
        assert p["rank"] == i and p["doc"] == SEED_DOC and p["page"] is None
        assert extracted[p["start"] : p["end"]] == p["text"]
        for s, e in p["highlights"]:
            assert p["start"] <= s < e <= p["end"]
    scores = [p["score"] for p in result["passages"]]
    assert scores == sorted(scores, reverse=True)
    assert any("denied access to the materials are untrue" in p["text"] for p in result["passages"][:3])
    assert result["status"] in ("answered", "uncertain") and 0 <= result["confidence"] <= 1  # never "not found"
    assert result["answerable"] == (result["status"] == "answered")
    for sentence in result["answer"]:
        assert extracted[sentence["start"] : sentence["end"]] == sentence["text"]


def test_human_readable_ask_shows_citation(cli_index, capsys, monkeypatch):
    import qa.answer

    monkeypatch.setattr(qa.answer, "answer_status", lambda confidence, kind="stored", second=None, first=None: "answered")
    docs, index = cli_index
    run(capsys, "index", "--docs", str(docs), "--index", str(index))
    code, out, _ = run(capsys, "ask", QUESTION, "--index", str(index), "-k", "3")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Answered. Quoted from the documents:"
    assert "[1] Reply of the Government of Kazakhstan" in out
    flat = " ".join(out.split())
    assert "denied access to the materials are untrue" in flat
    # the citation as the page shows it (title, symbol, section), how closely each passage matches in the
    # page's words, and the answering sentence marked (stdout is not a terminal: »…«, no ANSI)
    cited = [line for line in lines if line.startswith("[")]
    assert len(cited) == 3 and all(line.endswith(("strong match", "partial match", "weak match")) for line in cited)
    assert any("‘On the first point of the request’" in line for line in cited)
    assert re.search(r"»[^«]*denied access to the materials are untrue\.[^«]*«", flat)
    assert "\033[" not in out and "score" not in out and "chunk" not in out.lower()


def test_human_output_colours_the_marked_sentence_on_a_terminal():
    from qa.cli import format_answer
    from qa.types import Answer, AnswerSentence, Passage

    text = "Intro sentence here. The lawyer had full access to the case file. Tail."
    s, e = text.index("The lawyer"), text.index(" Tail")
    p = Passage(1, 0.5, 9, "a.md", "Reply", "On access", 0, len(text), text, highlights=((s, e),))
    answer = Answer("q", (p,), (AnswerSentence(text[s:e], "a.md", s, e, 1),), True, 0.9, status="answered",
                    cosines={9: 0.5})
    coloured = format_answer(answer, color=True)
    assert "\033[1mThe lawyer had full access to the case file.\033[0m" in coloured and "»" not in coloured
    plain = format_answer(answer, color=False)
    assert "»The lawyer had full access to the case file.«" in plain and "\033[" not in plain
    assert "[1] Reply, ‘On access’ · strong match" in plain


def test_an_answered_answer_without_a_sentence_to_quote_points_at_its_first_passage():
    from qa.cli import format_answer
    from qa.render import answer_html
    from qa.types import Answer, Passage

    text = "Mr. Petrov, released 1 July 2024"
    p = Passage(1, 0.5, 9, "note.md", "Note", "", 0, len(text), text)
    answer = Answer("When was Mr. Petrov released?", (p,), (), True, 0.9, status="answered", cosines={9: 0.5})
    assert format_answer(answer).startswith("Answered. The first passage below answers; no sentence of it reads as one to quote.\n")
    assert "Quoted from the documents" not in format_answer(answer)
    assert "The first passage below answers" in answer_html(answer, 1)


@pytest.mark.parametrize("status, first_line, heading, words", [
    ("answered", "Answered. Quoted from the documents:", "Sources:", None),
    ("uncertain", "Uncertain. These passages may not answer your question — check them before relying on them.",
     "Passages to check:", {"partial match", "weak match"}),
    ("not_found", "Not found. The documents don't seem to answer this.", "Closest passages (weak matches):", {"weak match"}),
])
def test_human_ask_says_which_state_the_answer_is_in(cli_index, capsys, monkeypatch, status, first_line, heading, words):
    import qa.answer

    docs, index = cli_index
    run(capsys, "index", "--docs", str(docs), "--index", str(index))
    monkeypatch.setattr(qa.answer, "answer_status", lambda confidence, kind="stored", second=None, first=None: status)
    code, out, _ = run(capsys, "ask", QUESTION, "--index", str(index), "-k", "3")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == first_line and heading in lines
    cited = [line for line in lines if line.startswith("[")]
    assert len(cited) == 3
    if words:
        assert {line.rsplit(" · ", 1)[1] for line in cited} <= words
    if status == "uncertain":
        assert lines[1].startswith("  Closest sentence: “") and "Quoted from the documents" not in out
    if status == "not_found":
        assert "»" not in out, "no sentence of a closest passage is marked as if it answered"
    code, out, _ = run(capsys, "ask", QUESTION, "--index", str(index), "-k", "3", "--json")
    assert json.loads(out)["status"] == status


def test_ask_prints_nothing_on_stderr_unless_verbose(cli_index, capsys):
    """No ``Loading weights … 103/103`` bar from the model libraries on a successful ``ask``; ``-v`` shows it."""
    docs, index = cli_index
    run(capsys, "index", "--docs", str(docs), "--index", str(index))
    command = [sys.executable, "-m", "qa", "ask", QUESTION, "--index", str(index), "-k", "2"]
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY")}
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.startswith(("Answered.", "Uncertain.", "Not found."))
    assert proc.stderr == ""
    proc = subprocess.run(command + ["-v"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Loading weights" in proc.stderr


def test_docs_lists_indexed_documents(cli_index, capsys):
    docs, index = cli_index
    run(capsys, "index", "--docs", str(docs), "--index", str(index))
    code, out, _ = run(capsys, "docs", "--index", str(index), "--json")
    listing = json.loads(out)["documents"]
    assert [d["doc"] for d in listing] == [SEED_DOC]
    assert listing[0]["chunks"] > 10 and len(listing[0]["hash"]) == 64
    assert listing[0]["title"].startswith("Reply of the Government of Kazakhstan")


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["ask", ""], 2, "question is empty"),
        (["ask", "   "], 2, "question is empty"),
        (["ask", "?"], 2, "no words to search for"),
        (["ask", "x" * 5000], 2, "too long"),
        (["ask", QUESTION, "--doc", "nope.md"], 2, "not in the index"),
        (["text", "../../etc/passwd"], 2, "outside the docs folder"),
        (["ask", QUESTION, "--doc", "../etc/passwd"], 2, "outside the docs folder"),
        (["ask", QUESTION, "--doc", "/etc/passwd"], 2, "is an absolute path"),
        (["text", "nope.md"], 2, "not in the index"),
        (["ask", QUESTION, "-k", "0"], 2, "-k must be"),
    ],
)
def test_bad_input_gives_one_line_and_exit_code(cli_index, capsys, argv, code, message):
    docs, index = cli_index
    run(capsys, "index", "--docs", str(docs), "--index", str(index))
    got, out, err = run(capsys, *argv, "--index", str(index))
    assert got == code
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_an_empty_folder_gives_an_empty_index_that_says_so(tmp_path, capsys, monkeypatch):
    (tmp_path / "docs").mkdir()
    index = tmp_path / "index"
    monkeypatch.setenv("QA_DOCS", str(tmp_path / "docs"))
    code, out, _ = run(capsys, "index", "--index", str(index))
    assert code == 0 and out.startswith("The index is empty: the documents folder holds no document to read")
    code, out, err = run(capsys, "ask", QUESTION, "--index", str(index))
    assert code == 3 and not out and err.count("\n") == 1
    assert f"The index at {index} holds no documents: put some in the documents folder ({tmp_path / 'docs'})" in err


def test_a_document_of_the_folder_not_in_the_index_says_why(cli_index, capsys, monkeypatch):
    docs, index = cli_index
    run(capsys, "index", "--docs", str(docs), "--index", str(index))
    monkeypatch.setenv("QA_DOCS", str(docs))
    code, _, err = run(capsys, "ask", QUESTION, "--doc", "notes/broken.txt", "--index", str(index))
    assert code == 2 and "could not be indexed (the file is empty)" in err and err.count("\n") == 1
    shutil.copy(docs / SEED_DOC, docs / "copy.md")
    write(docs, "later.txt", "A note added after the last update of the index.")
    try:
        code, _, err = run(capsys, "text", "copy.md", "--index", str(index))
        assert code == 2 and f"the same content as '{SEED_DOC}'" in err
        code, _, err = run(capsys, "ask", QUESTION, "--doc", "later.txt", "--index", str(index))
        assert code == 2 and "not indexed yet; run `verbatim index`" in err
        os.symlink(docs.parent / "outside.md", docs / "link.md")  # skipped by every update: never "not indexed yet"
        code, _, err = run(capsys, "text", "link.md", "--index", str(index))
        assert code == 2 and "skipped: a broken link" in err and "run `verbatim index`" not in err
        write(docs.parent, "outside.md", "# Outside\n\nA file outside the documents folder.\n")
        code, _, err = run(capsys, "text", "link.md", "--index", str(index))
        assert code == 2 and "skipped: a link to a file outside the documents folder" in err
        write(docs, ".hidden.md", "# Hidden\n\nA hidden file is never read.\n")
        code, _, err = run(capsys, "text", ".hidden.md", "--index", str(index))
        assert code == 2 and "hidden and temporary files" in err and "run `verbatim index`" not in err
    finally:
        for name in ("copy.md", "later.txt", "link.md", ".hidden.md"):
            (docs / name).unlink()


def test_missing_index_and_missing_docs_folder(tmp_path, capsys):
    code, _, err = run(capsys, "ask", QUESTION, "--index", str(tmp_path / "none"))
    assert code == 3 and "No index at" in err and "verbatim index" in err
    code, _, err = run(capsys, "index", "--docs", str(tmp_path / "nodocs"), "--index", str(tmp_path / "i"))
    assert code == 2 and "does not exist" in err


def test_a_file_where_a_folder_belongs_gives_one_line_and_exit_code_2(tmp_path, capsys):
    a_file = write(tmp_path, "not-a-folder", "text")
    (tmp_path / "docs").mkdir()
    for argv, message in ((["index", "--docs", str(tmp_path / "docs"), "--index", str(a_file)], "is a file, not a folder"),
                          (["index", "--docs", str(a_file), "--index", str(tmp_path / "index")], "is a file, not a folder"),
                          (["ask", QUESTION, "--index", str(a_file)], "is a file, not a folder"),
                          (["docs", "--index", str(a_file)], "is a file, not a folder")):
        code, out, err = run(capsys, *argv)
        assert code == 2 and message in err and str(a_file) in err, (argv, err)
        assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert not (tmp_path / "index").exists()


def test_a_reader_that_stops_early_ends_the_command_quietly(cli_index, capsys):
    """``… | head``: no BrokenPipeError traceback, exit code 1."""
    docs, index = cli_index
    run(capsys, "index", "--docs", str(docs), "--index", str(index))
    # A reader gone before anything is written: the closed pipe is certain.
    proc = subprocess.Popen([sys.executable, "-m", "qa", "text", SEED_DOC, "--index", str(index)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and err == b"", err.decode()
    # The case reported: the JSON answer cut by head -c.
    command = f'"{sys.executable}" -m qa ask "{QUESTION}" --index "{index}" --json -k 20 | head -c 600'
    proc = subprocess.run(["bash", "-c", command], cwd=REPO, capture_output=True, timeout=300)
    assert len(proc.stdout) == 600 and proc.stdout.startswith(b'{"question"')
    assert b"Traceback" not in proc.stderr and b"BrokenPipe" not in proc.stderr, proc.stderr.decode()


def test_module_entry_point_runs_without_traceback(tmp_path):
    env = dict(os.environ, QA_INDEX=str(tmp_path / "none"))
    proc = subprocess.run(
        [sys.executable, "-m", "qa", "docs"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 3
    assert proc.stderr.startswith("error: No index at") and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_question_encoding_matches_the_models_own_encode(real_embedder):
    """``encode_query`` runs one traced graph and skips sentence-transformers' per-call bookkeeping; it must
    give the same vector as ``model.encode`` (also for a question past the 256-token limit, which both truncate)."""
    import numpy as np

    texts = ["What did the state say about access to case materials?", "ICCPR", "word " * 400]
    for text in texts:
        fast = real_embedder.encode_query(text)
        reference = real_embedder._model.encode([text], normalize_embeddings=True, convert_to_numpy=True)
        assert fast.shape == (1, 384) and abs(np.linalg.norm(fast) - 1) < 1e-5
        assert float(fast[0] @ reference[0]) > 0.9999
    assert real_embedder._traced is not None  # the one-graph question path was built and passed its probes


def test_a_document_named_with_a_leading_dot_slash_is_found(cli_index, capsys):
    docs, index = cli_index
    run(capsys, "index", "--docs", str(docs), "--index", str(index))
    code, out, err = run(capsys, "ask", QUESTION, "--index", str(index), "--doc", f"./{SEED_DOC}", "--json")
    assert code == 0, err
    assert {p["doc"] for p in json.loads(out)["passages"]} == {SEED_DOC}


@pytest.mark.parametrize("command, message", [
    ("index", "Interrupted: the index keeps what was committed before (never half an update); run `verbatim index` again"),
    ("docs", "Interrupted."),
])
def test_ctrl_c_exits_130_saying_what_became_of_the_index(tmp_path, capsys, monkeypatch, command, message):
    import qa.cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(qa.cli, f"cmd_{command}", interrupted)
    code, _, err = run(capsys, command, "--index", str(tmp_path / "index"))
    assert code == 130 and err.startswith(message) and err.count("\n") == 1


def test_a_quote_that_starts_inside_a_sentence_is_marked_as_cut():
    """A passage cut in the middle of a long sentence gave a quote starting "the first national action plan…"."""
    from qa.cli import format_answer
    from qa.render import answer_html
    from qa.types import Answer, AnswerSentence, Passage

    text = "the first national action plan against trafficking was adopted. The Government also pledged support."
    cut, whole = (0, text.index(". The") + 1), (text.index("The Gov"), len(text))
    p = Passage(1, 0.5, 9, "a.md", "Pledges", "", 0, len(text), text, highlights=(cut, whole))
    sentences = tuple(AnswerSentence(text[s:e], "a.md", s, e, 1) for s, e in (cut, whole))
    answer = Answer("q", (p,), sentences, True, 0.9, status="answered", cosines={9: 0.5})
    plain = format_answer(answer)
    assert "“… the first national action plan" in plain and "“The Government also pledged support.”" in plain
    html = answer_html(answer, 1)
    assert "“… the first national action plan" in html and "“The Government also pledged" in html
    from qa.sentences import cut_before

    assert [cut_before(t) for t in ("iPhone users were tracked.", "e.g. the Committee may ask.", "de Souza was freed.",
                                    "al-Hassan was freed.", "launching the first plan.")] == ["", "", "", "", "… "]
