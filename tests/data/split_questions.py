"""Assign a dev/test split to the natural question sets, in place and deterministically.

Standalone, standard library only. Run from anywhere:

    python tests/data/split_questions.py

For each file, lines are stratified by kind: ``answerable`` / ``off_topic`` / ``near_topic`` for
``natural_seeds.jsonl`` and ``natural_un.jsonl``; follow-up / independent for ``conversations.jsonl``.
Within each (file, kind) stratum the distinct ``group`` values are sorted, shuffled with a fresh
``random.Random(2026)``, and the first half (rounded up) goes to ``dev``, the rest to ``test``.
A question and its rewordings share a ``group`` and therefore a split. Conversations use
``group`` = their own id. Running the script again gives the same files.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = ("natural_seeds.jsonl", "natural_un.jsonl", "conversations.jsonl")
SEED = 2026


def stratum(row: dict) -> str:
    if "follow_up" in row:
        return "follow_up" if row["follow_up"] else "independent"
    return row["kind"]


def group_of(row: dict) -> str:
    return row.get("group") or row["id"]


def split_rows(rows: list[dict]) -> list[dict]:
    assignment: dict[tuple[str, str], str] = {}
    for kind in sorted({stratum(r) for r in rows}):
        groups = sorted({group_of(r) for r in rows if stratum(r) == kind})
        random.Random(SEED).shuffle(groups)
        n_dev = (len(groups) + 1) // 2
        for i, g in enumerate(groups):
            assignment[(kind, g)] = "dev" if i < n_dev else "test"
    out = []
    for r in rows:
        r = {k: v for k, v in r.items() if k != "split"}
        r["split"] = assignment[(stratum(r), group_of(r))]
        out.append(r)
    return out


def main() -> None:
    for name in FILES:
        path = HERE / name
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows = split_rows(rows)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        counts: dict[tuple[str, str], int] = {}
        for r in rows:
            counts[(stratum(r), r["split"])] = counts.get((stratum(r), r["split"]), 0) + 1
        print(name, " ".join(f"{k}/{s}={n}" for (k, s), n in sorted(counts.items())))


if __name__ == "__main__":
    main()
