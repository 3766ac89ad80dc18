"""``ask`` latency on the bundled seeds/ index, optionally against another revision in the same run.

    .venv/bin/python bench/ask.py                    # this working tree
    .venv/bin/python bench/ask.py --compare 5f412ea  # this tree and a git revision, alternating

Each side runs in its own process (the code of a revision is checked out into a temporary git worktree),
builds its own index of seeds/, asks the natural questions about seeds/ (tests/data/natural_seeds.jsonl)
``--rounds`` times, and reports p50/p95 of the whole ``ask`` call. Sides alternate round by round so
that a busy machine slows both alike; the ratio is what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.corpus import save_result  # noqa: E402

QUESTIONS = REPO / "tests" / "data" / "natural_seeds.jsonl"

WORKER = r"""
import json, os, shutil, sys, time, tempfile
from pathlib import Path
sys.path.insert(0, os.getcwd())
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from qa.answer import ask
try:
    from qa.encoders import embedder_for
except ImportError:  # a revision from before qa/encoders.py
    from qa.embedding import embedder_for
from qa.indexing import update_index
from qa.settings import load_settings
from qa.store import Store
questions = json.loads(sys.argv[1])
root = Path(tempfile.mkdtemp(prefix="bench-ask-"))
shutil.copytree(Path(os.getcwd()) / "seeds", root / "docs")
settings = load_settings({}).with_(docs=root / "docs", index=root / "index")
embedder = embedder_for(settings)
update_index(settings.docs, settings.index, settings, embedder=embedder)
store = Store.open(settings.index, settings)
for q in questions[:5]:
    ask(store, embedder, q)
print("ready", flush=True)
for line in sys.stdin:
    times = []
    for q in questions:
        t = time.perf_counter()
        ask(store, embedder, q)
        times.append((time.perf_counter() - t) * 1000)
    print(json.dumps(times), flush=True)
store.close()
shutil.rmtree(root, ignore_errors=True)
"""


def start(cwd: Path, questions: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(cwd))
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps(questions)], cwd=cwd, env=env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    assert worker.stdout.readline().strip() == "ready", f"the worker in {cwd} did not start"
    return worker


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", help="a git revision to measure in the same run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--questions", type=int, default=40)
    args = parser.parse_args(argv)
    questions = [json.loads(line)["q"] for line in QUESTIONS.read_text().splitlines() if line.strip()][: args.questions]
    sides = {"working tree": REPO}
    worktree = None
    if args.compare:
        worktree = Path(tempfile.mkdtemp(prefix="bench-ask-rev-")) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), args.compare],
                       check=True, capture_output=True)
        sides[args.compare] = worktree
    try:
        workers = {name: start(path, questions) for name, path in sides.items()}
        times = {name: [] for name in sides}
        for _ in range(args.rounds):
            for name, worker in workers.items():
                worker.stdin.write("go\n")
                worker.stdin.flush()
                times[name] += json.loads(worker.stdout.readline())
        for worker in workers.values():
            worker.stdin.close()
            worker.wait(60)
    finally:
        if worktree is not None:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)], capture_output=True)
            shutil.rmtree(worktree.parent, ignore_errors=True)
    result = {name: {"p50_ms": round(percentile(t, 0.5), 1), "p95_ms": round(percentile(t, 0.95), 1), "asks": len(t)}
              for name, t in times.items()}
    if args.compare:
        result["ratio_p50"] = round(result["working tree"]["p50_ms"] / result[args.compare]["p50_ms"], 3)
    print(json.dumps(result, indent=2))
    save_result("ask", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
