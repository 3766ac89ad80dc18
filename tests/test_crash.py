"""Crash safety: an update interrupted at any moment leaves the index as it was before or after.

* ``test_sigkill_at_random_moments``: 24 updates (adds, changes, deletes, renames, every fourth a
  ``--rebuild``) run in a subprocess (tests/crash_worker.py, fake embedder) and are SIGKILLed after
  seeded random delays. After each kill the index must open, pass ``verify(strict=True)`` (FAISS and
  BM25 files of the current generation present and in agreement with SQLite), answer, and equal the
  snapshot before the update or the one after it; the next update then brings it to the after state
  and leaves no temporary files.
* Failures injected at exact points: an exception right after the commit, an exception (and a
  KeyboardInterrupt) in a loader, ENOSPC while writing the FAISS file or the BM25 folder, ENOSPC while
  repairing a missing file, and leftovers of a dead update.
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import qa.indexing
from qa import vectors
from qa.errors import QAError
from qa.indexing import IndexWriteError
from qa.loaders import discover
from qa.retrieval import search
from qa.store import Store

from index_helpers import check, leftovers, make_docs, paragraph, question, run_update, sectioned_doc, state

WORKER = Path(__file__).with_name("crash_worker.py")
TRIALS = 24
SLOW = 0.03  # seconds the worker sleeps around each write, to widen those windows


class Corpus:
    """A folder of sectioned documents that the test mutates between updates."""

    def __init__(self, folder: Path, rng: random.Random):
        self.folder = folder
        self.rng = rng
        self.paragraphs: dict[str, list[str]] = {}
        self.serial = 0

    def write(self, name: str) -> None:
        (self.folder / name).write_text(sectioned_doc(name, self.paragraphs[name]), encoding="utf-8")

    def add(self) -> None:
        self.serial += 1
        name = f"new{self.serial:03d}.md"
        self.paragraphs[name] = [paragraph(self.rng, f"n{self.serial}s{j}") for j in range(4)]
        self.write(name)

    def mutate(self) -> None:
        names = sorted(self.paragraphs)
        for name in self.rng.sample(names, self.rng.randint(1, 3)):  # change one paragraph
            self.serial += 1
            self.paragraphs[name][self.rng.randrange(4)] = paragraph(self.rng, f"c{self.serial}")
            self.write(name)
        for _ in range(self.rng.randint(0, 2)):
            self.add()
        for name in self.rng.sample(sorted(self.paragraphs), self.rng.randint(0, 2)):
            (self.folder / name).unlink()
            del self.paragraphs[name]
        if self.rng.random() < 0.5:  # rename
            old = self.rng.choice(sorted(self.paragraphs))
            self.serial += 1
            new = f"renamed{self.serial:03d}.md"
            os.replace(self.folder / old, self.folder / new)
            self.paragraphs[new] = self.paragraphs.pop(old)

    def expected(self) -> list[tuple[str, str]]:
        """(path, sha256) of every document in the folder: what the after state must hold."""
        return [(p, hashlib.sha256((self.folder / p).read_bytes()).hexdigest()) for p in discover(self.folder)]


def _spawn(settings, rebuild: bool) -> subprocess.Popen:
    args = [sys.executable, str(WORKER), str(settings.docs), str(settings.index), "--slow", str(SLOW)]
    if rebuild:
        args.append("--rebuild")
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _go(worker: subprocess.Popen) -> float:
    assert worker.stdout.readline().strip() == "ready"
    worker.stdin.write("go\n")
    worker.stdin.flush()
    return time.monotonic()


def _answers(settings, embedder, docs: tuple) -> None:
    """The index answers in every mode, and only with documents of the state it is in."""
    paths = {d[0] for d in docs}
    with Store.open(settings.index, settings) as store:
        for mode in ("dense", "bm25", "hybrid"):
            hits = search(store, embedder, question("n1s0") + " lawyer", k=5, mode=mode)
            assert hits or mode == "bm25"
            assert {h.doc for h in hits} <= paths


def test_sigkill_at_random_moments(settings, docs_dir, fake_embedder):
    rng = random.Random(20240611)
    corpus = Corpus(docs_dir, rng)
    for _ in range(40):
        corpus.add()
    run_update(settings, fake_embedder)
    plan = [i % 4 == 3 for i in range(TRIALS)]  # every fourth update is a --rebuild

    # Calibrate: how long an update and a rebuild take in the worker (not killed).
    durations = {}
    for rebuild in (False, True):
        worker = _spawn(settings, rebuild)
        corpus.mutate()
        started = _go(worker)
        assert worker.wait(timeout=60) == 0
        durations[rebuild] = time.monotonic() - started
        worker.stdout.close()
        worker.stdin.close()

    outcomes = {"before": 0, "after": 0}
    worker = _spawn(settings, plan[0])
    for trial in range(TRIALS):
        rebuild = plan[trial]
        corpus.mutate()
        before = state(settings)
        delay = rng.uniform(0, 1.4 * durations[rebuild])
        started = _go(worker)
        time.sleep(max(0.0, started + delay - time.monotonic()))
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        worker.stdout.close()
        worker.stdin.close()
        worker = _spawn(settings, plan[(trial + 1) % TRIALS])  # imports while this trial is checked

        killed = state(settings)  # opens as a reader
        check(settings, strict=True)  # FAISS + BM25 files present and equal to the store
        _answers(settings, fake_embedder, killed[1])

        report = run_update(settings, fake_embedder)  # the next run: finishes the job or finds it done
        after = state(settings)
        assert [(p, h) for p, h, _ in after[1]] == corpus.expected()
        assert after[0] == before[0] + 1
        assert killed in (before, after), f"trial {trial}: a state that is neither before nor after"
        outcomes["before" if killed == before else "after"] += 1
        assert not leftovers(settings.index), (trial, leftovers(settings.index))
        assert report.exit_code == 0
    worker.kill()
    worker.wait()
    print(f"kill outcomes over {TRIALS} trials: {outcomes}")
    assert outcomes["before"] >= 1 and outcomes["after"] >= 1
    check(settings, strict=True)


# ----------------------------------------------------------------------------- exact points


@pytest.fixture
def indexed(settings, docs_dir, fake_embedder):
    make_docs(docs_dir, 6, seed=5)
    run_update(settings, fake_embedder)
    (docs_dir / "doc001.md").unlink()
    make_docs(docs_dir, 2, seed=6, prefix="extra")
    return state(settings)


def _assert_opens_and_answers(settings, embedder, expected_state, marker):
    assert state(settings) == expected_state
    check(settings, strict=True)
    with Store.open(settings.index, settings) as store:
        for mode in ("dense", "bm25", "hybrid"):
            hits = search(store, embedder, question(marker), k=3, mode=mode)
            assert hits and marker in hits[0].text.lower(), mode


def test_exception_after_commit_leaves_the_after_state(settings, fake_embedder, indexed):
    def boom():
        raise RuntimeError("died right after the commit")

    with pytest.raises(RuntimeError):
        run_update(settings, fake_embedder, after_commit=boom)
    after = state(settings)
    assert after[0] == indexed[0] + 1 and "extra000.md" in [d[0] for d in after[1]]
    _assert_opens_and_answers(settings, fake_embedder, after, "extra1s2")
    report = run_update(settings, fake_embedder)
    assert not report.changed_anything and state(settings) == after and not leftovers(settings.index)


def test_interrupt_in_a_loader_leaves_the_before_state(settings, fake_embedder, indexed, monkeypatch):
    real = qa.indexing.load_document

    def interrupted(root, rel, settings=None, data=None, progress=None):
        if rel == "extra001.md":
            raise KeyboardInterrupt
        return real(root, rel, settings, data=data)

    monkeypatch.setattr(qa.indexing, "load_document", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_update(settings, fake_embedder)
    _assert_opens_and_answers(settings, fake_embedder, indexed, "doc1s1")
    monkeypatch.setattr(qa.indexing, "load_document", real)
    run_update(settings, fake_embedder)
    _assert_opens_and_answers(settings, fake_embedder, state(settings), "extra1s1")


def test_exception_in_a_loader_fails_only_that_document(settings, fake_embedder, indexed, monkeypatch):
    real = qa.indexing.load_document

    def broken(root, rel, settings=None, data=None, progress=None):
        if rel == "extra001.md":
            raise ValueError("bad cross-reference table")
        return real(root, rel, settings, data=data)

    monkeypatch.setattr(qa.indexing, "load_document", broken)
    report = run_update(settings, fake_embedder)
    assert report.added == ["extra000.md"] and report.removed == ["doc001.md"] and report.exit_code == 1
    assert "ValueError: bad cross-reference table" in report.failed[0].error
    _assert_opens_and_answers(settings, fake_embedder, state(settings), "extra0s0")


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_writing_faiss_leaves_the_before_state(settings, fake_embedder, indexed, monkeypatch):
    real_save = vectors.save

    def partial_then_full(index, path):
        Path(str(path) + ".tmp").write_bytes(b"half a file")
        _enospc()

    monkeypatch.setattr(vectors, "save", partial_then_full)
    with pytest.raises(IndexWriteError, match="disk is full") as info:
        run_update(settings, fake_embedder)
    assert info.value.exit_code == 1
    _assert_opens_and_answers(settings, fake_embedder, indexed, "doc1s0")
    assert not leftovers(settings.index)  # the half-written file of the failed generation is gone
    monkeypatch.setattr(vectors, "save", real_save)
    report = run_update(settings, fake_embedder)
    assert report.added == ["extra000.md", "extra001.md"] and report.generation == indexed[0] + 1
    _assert_opens_and_answers(settings, fake_embedder, state(settings), "extra0s2")


def test_disk_full_writing_bm25_leaves_the_before_state(settings, fake_embedder, indexed, monkeypatch):
    from qa.lexical import LexicalIndex

    real = LexicalIndex.save

    def full(self, directory):
        real(self, directory)
        _enospc()

    monkeypatch.setattr(LexicalIndex, "save", full)
    with pytest.raises(IndexWriteError):
        run_update(settings, fake_embedder)
    _assert_opens_and_answers(settings, fake_embedder, indexed, "doc1s2")
    assert not leftovers(settings.index)


def test_disk_full_while_repairing_a_missing_file(settings, fake_embedder, indexed, monkeypatch):
    run_update(settings, fake_embedder)
    current = state(settings)
    (settings.index / f"vectors-{current[0]}.faiss").unlink()
    monkeypatch.setattr(vectors, "save", _enospc)
    with pytest.raises(IndexWriteError):
        run_update(settings, fake_embedder)
    assert check(settings, strict=False)["files"]["vectors"] == "missing"  # answers from memory meanwhile
    with Store.open(settings.index, settings) as store:
        assert search(store, fake_embedder, question("extra0s0"), k=1, mode="dense")[0].doc == "extra000.md"
    monkeypatch.undo()
    run_update(settings, fake_embedder)
    _assert_opens_and_answers(settings, fake_embedder, current, "extra0s0")


def test_leftovers_of_a_dead_update_are_cleaned_up(settings, fake_embedder, indexed):
    generation = indexed[0]
    junk = [f"vectors-{generation + 1}.faiss", f"vectors-{generation + 1}.faiss.tmp", "manifest.json.tmp"]
    junk += [f"vectors-{generation - 1}.faiss"] if generation > 1 else []
    for name in junk:
        (settings.index / name).write_bytes(b"junk")
    for name in (f"lexical-{generation + 1}", f"lexical-{generation + 1}.tmp", f"lexical-{generation}.old.tmp"):
        (settings.index / name).mkdir()
        (settings.index / name / "ids.npy").write_bytes(b"junk")
    assert state(settings) == indexed  # readers ignore them
    check(settings, strict=True)
    run_update(settings, fake_embedder)
    assert not leftovers(settings.index)
    check(settings, strict=True)


def test_write_errors_are_user_errors(settings, fake_embedder, indexed, monkeypatch, capsys):
    import qa.encoders
    from qa.cli import main

    monkeypatch.setattr(qa.encoders, "embedder_for", lambda s: fake_embedder)
    monkeypatch.setattr(vectors, "save", _enospc)
    code = main(["index", "--docs", str(settings.docs), "--index", str(settings.index)])
    err = capsys.readouterr().err
    assert code == 1 and "disk is full" in err and "Traceback" not in err
    assert issubclass(IndexWriteError, QAError)
