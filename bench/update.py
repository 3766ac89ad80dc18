"""Figures for keeping the index current: a full rebuild against the incremental cases.

    .venv/bin/python bench/update.py [--generated 50] [--repeat 3]

The corpus is assembled in a temporary folder (the shared data is only read, never copied into the
repository): ``seeds/``, every document of ``/work/shared/corpora/un_human_rights_docs/`` (Markdown and
PDF; a file that does not load is listed under ``failed``) and ``--generated`` generated plain-text
documents. The real model is used (all-MiniLM-L6-v2, ``QA_DTYPE``/auto), loaded once before timing.

Measured (median of ``--repeat`` runs, except the builds): the first build, a full ``--rebuild``, a run
with no change, adding one new document, changing one paragraph of one long document, deleting one
document, renaming one, and ``python -m qa index`` with no change as a user runs it (a new process:
interpreter start and imports included; no model is loaded when nothing needs embedding).
Prints a table and writes ``bench/results/update.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qa.encoders import embedder_for  # noqa: E402
from qa.indexing import update_index  # noqa: E402
from qa.settings import load_settings  # noqa: E402
from qa.store import Store  # noqa: E402
from bench.corpus import UN_DOCS, copy_seeds, copy_un_docs  # noqa: E402
RESULTS = REPO / "bench" / "results" / "update.json"

VOCABULARY = (
    "the committee noted that the state party should ensure that everyone deprived of liberty has prompt "
    "access to a lawyer and to a doctor of their choice and that complaints of torture or ill treatment are "
    "investigated promptly impartially and effectively by an independent body while victims obtain redress "
    "including fair and adequate compensation and rehabilitation the right to freedom of peaceful assembly "
    "and association requires that restrictions be prescribed by law necessary in a democratic society and "
    "proportionate to a legitimate aim such as national security public safety public order the protection "
    "of public health or morals or the rights and freedoms of others"
).split()


def generated_text(rng: random.Random, paragraphs: int = 8) -> str:
    """A plain-text document of ``paragraphs`` paragraphs of 3–6 sentences (about 4 KB)."""
    out = []
    for _ in range(paragraphs):
        sentences = []
        for _ in range(rng.randint(3, 6)):
            words = [rng.choice(VOCABULARY) for _ in range(rng.randint(12, 24))]
            sentences.append(" ".join(words).capitalize() + ".")
        out.append(" ".join(sentences))
    return "\n\n".join(out) + "\n"


def assemble(docs: Path, generated: int, seed: int) -> dict:
    """Copy seeds and the UN documents, write the generated ones; returns what went in."""
    sources = {"seeds": copy_seeds(docs), "un_markdown": 0, "un_pdf": 0, "generated": generated}
    if UN_DOCS.is_dir():
        sources.update(copy_un_docs(docs / "un"))
    rng = random.Random(seed)
    (docs / "generated").mkdir()
    for i in range(generated):
        (docs / "generated" / f"gen-{i:03d}.txt").write_text(generated_text(rng), encoding="utf-8")
    return sources


def timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def median(values):
    return statistics.median(values) if values else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generated", type=int, default=50, help="generated text documents (default 50)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per incremental case (default 3)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="verbatim-bench-update-"))
    try:
        return run(root, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path, args) -> int:
    docs, index = root / "docs", root / "index"
    docs.mkdir()
    sources = assemble(docs, args.generated, args.seed)
    settings = load_settings().with_(docs=docs, index=index)
    rng = random.Random(args.seed + 1)

    load_s, embedder = timed(lambda: embedder_for(settings))
    embedder.encode(["warm-up sentence"])

    def update(**kwargs):
        return update_index(docs, index, settings, embedder=embedder, **kwargs)

    first_s, first = timed(update)
    rebuild_s, rebuilt = timed(lambda: update(rebuild=True))

    cases = {"no_change": [], "add_one": [], "change_paragraph": [], "delete_one": [], "rename_one": []}
    embedded = {"add_one": [], "change_paragraph": []}
    for _ in range(args.repeat):
        seconds, report = timed(update)
        assert not report.changed_anything
        cases["no_change"].append(seconds)

    for i in range(args.repeat):
        (docs / f"new-{i}.txt").write_text(generated_text(rng), encoding="utf-8")
        seconds, report = timed(update)
        assert report.added == [f"new-{i}.txt"], report
        cases["add_one"].append(seconds)
        embedded["add_one"].append(report.chunks_embedded)

    long_doc = max((p for p in docs.rglob("*.md")), key=lambda p: p.stat().st_size)
    for i in range(args.repeat):
        text = long_doc.read_text(encoding="utf-8")
        paragraphs = text.split("\n\n")
        candidates = [j for j, p in enumerate(paragraphs) if len(p) > 200 and not p.lstrip().startswith("#")]
        j = candidates[(i + 1) * len(candidates) // (args.repeat + 1)]
        paragraphs[j] = paragraphs[j].rstrip() + f" This sentence was added by the benchmark, edit number {i}."
        long_doc.write_text("\n\n".join(paragraphs), encoding="utf-8")
        seconds, report = timed(update)
        assert report.changed == [long_doc.relative_to(docs).as_posix()], report
        cases["change_paragraph"].append(seconds)
        embedded["change_paragraph"].append(report.chunks_embedded)

    for i in range(args.repeat):
        victim = docs / "generated" / f"gen-{i:03d}.txt"
        victim.unlink()
        seconds, report = timed(update)
        assert report.removed, report
        cases["delete_one"].append(seconds)
        source = docs / "generated" / f"gen-{i + 10:03d}.txt"
        os.replace(source, docs / "generated" / f"moved-{i}.txt")
        seconds, report = timed(update)
        assert report.renamed and report.chunks_embedded == 0, report
        cases["rename_one"].append(seconds)

    cli_runs = []
    env = dict(os.environ, QA_DOCS=str(docs), QA_INDEX=str(index))
    for _ in range(args.repeat):
        seconds, done = timed(
            lambda: subprocess.run([sys.executable, "-m", "qa", "index", "--json"], cwd=REPO, env=env,
                                   capture_output=True, text=True)
        )
        summary = json.loads(done.stdout)
        assert done.returncode in (0, 1) and not summary["added"] and not summary["changed"], done.stderr
        cli_runs.append(seconds)

    with Store.open(index, settings) as store:
        verified = store.verify(strict=True)

    timings = {name: median(values) for name, values in cases.items()}
    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "dtype": getattr(embedder, "dtype", None),
        },
        "corpus": {
            **sources,
            "documents": rebuilt.documents_total,
            "chunks": rebuilt.chunks_total,
            "failed": first.failed,
            "duplicates": first.duplicates,
        },
        "seconds": {
            "model_load": load_s,
            "first_build": first_s,
            "full_rebuild": rebuild_s,
            **timings,
            "cli_no_change": median(cli_runs),
        },
        "runs": {**cases, "cli_no_change": cli_runs},
        "chunks_embedded": {
            "full_rebuild": rebuilt.chunks_embedded,
            "add_one": embedded["add_one"],
            "change_paragraph": embedded["change_paragraph"],
        },
        "ratio_to_full_rebuild": {name: (value / rebuild_s if value is not None else None) for name, value in timings.items()},
        "changed_document": long_doc.relative_to(docs).as_posix(),
        "verify": verified,
        "repeat": args.repeat,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print_table(result)
    return 0


def print_table(result: dict) -> None:
    corpus, seconds, ratio = result["corpus"], result["seconds"], result["ratio_to_full_rebuild"]
    print(
        f"Corpus: {corpus['documents']} documents, {corpus['chunks']} chunks "
        f"(seeds {corpus['seeds']}, UN Markdown {corpus['un_markdown']}, UN PDF {corpus['un_pdf']}, "
        f"generated {corpus['generated']}); {len(corpus['failed'])} failed"
    )
    for item in corpus["failed"]:
        print(f"  failed: {item['doc']}: {item['error']}")
    print(f"Model: all-MiniLM-L6-v2 ({result['machine']['dtype']}), {result['machine']['cpus']} CPUs; "
          f"median of {result['repeat']} runs for the incremental cases\n")
    embedded = result["chunks_embedded"]
    rows = [
        ("model load (once per process)", seconds["model_load"], None, ""),
        ("first build", seconds["first_build"], None, ""),
        ("full rebuild (--rebuild)", seconds["full_rebuild"], 1.0, f"{embedded['full_rebuild']} embedded"),
        ("no change", seconds["no_change"], ratio["no_change"], "0 embedded"),
        ("add one document", seconds["add_one"], ratio["add_one"], f"{embedded['add_one']} embedded"),
        ("change one paragraph", seconds["change_paragraph"], ratio["change_paragraph"],
         f"{embedded['change_paragraph']} embedded ({result['changed_document']})"),
        ("delete one document", seconds["delete_one"], ratio["delete_one"], "0 embedded"),
        ("rename one document", seconds["rename_one"], ratio["rename_one"], "0 embedded"),
        ("python -m qa index, no change", seconds["cli_no_change"], None, "new process"),
    ]
    print(f"{'case':<32} {'seconds':>9} {'× rebuild':>10}  notes")
    for name, value, share, note in rows:
        share_text = f"{share:>10.3f}" if share is not None else " " * 10
        print(f"{name:<32} {value:>9.3f} {share_text}  {note}")
    print(f"\nwritten to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    sys.exit(main())
