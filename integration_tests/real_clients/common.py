"""Shared helpers for the real-client checks (standard library only: every venv imports this).

Each check script appends one JSON line per check / fact to $RC_RUN/results.jsonl; summary.py
reads them back and prints the report and the closing `N passed, N failed` line.
"""

from __future__ import annotations

import collections
import json
import os
import sys
from pathlib import Path

# Defaults: the checkout this file lies in (run.sh sets both).
ROOT = Path(__file__).resolve().parents[2]
RUN = Path(os.environ.get("RC_RUN", ROOT / "target/real-clients/run"))
BIN = Path(os.environ.get("RC_BIN", ROOT / "target/release/source-pipedrive"))
CONFIG = RUN / "config.json"
REFERENCE = RUN / "reference.jsonl"


def _append(entry: dict) -> None:
    with open(RUN / "results.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, default=str) + "\n")


def check(section: str, name: str, ok: bool, detail: str = "") -> bool:
    """Record one check; prints it at once so a run can be followed live."""
    mark = "PASS" if ok else "FAIL"
    print(f"[{section}] {mark} {name}" + (f": {detail}" if detail else ""), file=sys.stderr, flush=True)
    _append({"kind": "check", "section": section, "name": name, "ok": bool(ok), "detail": detail})
    return bool(ok)


def fact(section: str, key: str, value) -> None:
    """Record a fact for the summary (counts, states, versions)."""
    _append({"kind": "fact", "section": section, "key": key, "value": value})


def config() -> dict:
    return json.loads(CONFIG.read_text())


def record_counts(lines) -> dict[str, int]:
    """RECORD messages per stream in Airbyte messages (one JSON object per line)."""
    counts: collections.Counter = collections.Counter()
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        m = json.loads(line)
        if m.get("type") == "RECORD":
            counts[m["record"]["stream"]] += 1
    return dict(counts)


def reference_counts() -> dict[str, int]:
    with open(REFERENCE, encoding="utf-8") as f:
        return record_counts(f)


def compare_counts(section: str, label: str, got: dict[str, int], want: dict[str, int]) -> None:
    """One check per stream of `want`, plus one for streams that should not be there."""
    for stream in sorted(want):
        g = got.get(stream)
        check(section, f"{label} {stream} count", g == want[stream], f"got {g}, reference {want[stream]}")
    extra = sorted(set(got) - set(want))
    check(section, f"{label} no stream beyond the reference", not extra, f"extra: {extra}" if extra else "")
