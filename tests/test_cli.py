"""CLI: JSON schemas of index and ask, exit codes and one-line messages for bad input (real model)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from qa.cli import main

from conftest import REPO, SEED_DOC, SEEDS, write

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
    shutil.copytree(SEEDS, docs)
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
    assert result["answerable"] is True and 0.5 <= result["confidence"] <= 1
    for sentence in result["answer"]:
        assert extracted[sentence["start"] : sentence["end"]] == sentence["text"]


def test_human_readable_ask_shows_citation(cli_index, capsys):
    docs, index = cli_index
    run(capsys, "index", "--docs", str(docs), "--index", str(index))
    code, out, _ = run(capsys, "ask", QUESTION, "--index", str(index), "-k", "3")
    assert code == 0
    assert "[1] Reply of the Government of Kazakhstan" in out
    assert "denied access to the materials are untrue" in " ".join(out.split())


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
        (["ask", "x" * 5000], 2, "too long"),
        (["ask", QUESTION, "--doc", "nope.md"], 2, "not in the index"),
        (["text", "../../etc/passwd"], 2, "outside the docs folder"),
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


def test_missing_index_and_missing_docs_folder(tmp_path, capsys):
    code, _, err = run(capsys, "ask", QUESTION, "--index", str(tmp_path / "none"))
    assert code == 3 and "No index at" in err and "python -m qa index" in err
    code, _, err = run(capsys, "index", "--docs", str(tmp_path / "nodocs"), "--index", str(tmp_path / "i"))
    assert code == 2 and "does not exist" in err


def test_module_entry_point_runs_without_traceback(tmp_path):
    env = dict(os.environ, QA_INDEX=str(tmp_path / "none"))
    proc = subprocess.run(
        [sys.executable, "-m", "qa", "docs"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 3
    assert proc.stderr.startswith("error: No index at") and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_question_encoding_matches_the_models_own_encode(real_embedder):
    """``encode_query`` skips sentence-transformers' per-call bookkeeping; it must give the same vector as
    ``model.encode`` (also for a question past the 256-token limit, which both truncate)."""
    import numpy as np

    texts = ["What did the state say about access to case materials?", "ICCPR", "word " * 400]
    for text in texts:
        fast = real_embedder.encode_query(text)
        reference = real_embedder._model.encode([text], normalize_embeddings=True, convert_to_numpy=True)
        assert fast.shape == (1, 384) and abs(np.linalg.norm(fast) - 1) < 1e-5
        assert float(fast[0] @ reference[0]) > 0.9999
