"""Prints the report from $RC_RUN/results.jsonl and ends with `N passed, N failed`; exits 1 on
any failed check (standard library only)."""

from __future__ import annotations

import json
import os
import sys

from common import RUN, reference_counts


def main() -> int:
    checks, facts = [], {}
    path = RUN / "results.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            e = json.loads(line)
            if e["kind"] == "check":
                checks.append(e)
            else:
                facts[(e["section"], e["key"])] = e["value"]
    f = lambda s, k, d=None: facts.get((s, k), d)  # noqa: E731

    print("\n==================== real clients: summary ====================")
    print("versions: " + ", ".join(
        f"{k}={v}" for (s, k), v in facts.items()
        if k in ("airbyte (PyAirbyte)", "airbyte-protocol-models", "pydantic", "meltano", "target-jsonl")))
    try:
        ref = reference_counts()
    except OSError:
        ref = {}
    pa1 = f("pyairbyte", "cache counts after read 1", {}) or {}
    pa2 = f("pyairbyte", "cache counts after read 2", {}) or {}
    resumed = f("protocol", "read with state: records per stream", {}) or {}
    m = [f("meltano", f"run {n} records", None) for n in (1, 2, 3)]
    cols = ["reference", "pyairbyte read1", "pyairbyte cache after read2", "airbyte read --state",
            "meltano run1", "meltano run2", "meltano run3"]
    print("\nper-stream record counts (reference = `source-pipedrive read`, default catalog):")
    w = max([len(s) for s in ref] + [10])
    print(f"  {'stream':<{w}} " + " ".join(f"{c:>{len(c)}}" for c in cols))
    for s in sorted(ref):
        vals = [ref.get(s), pa1.get(s), pa2.get(s), resumed.get(s, 0)]
        vals += [("-" if r is None else r.get(s, 0)) if s in ("deals", "persons", "notes", "leads", "pipelines") else "-" for r in m]
        print(f"  {s:<{w}} " + " ".join(f"{'-' if v is None else v!s:>{len(c)}}" for v, c in zip(vals, cols)))
    print(f"  {'TOTAL':<{w}} {sum(ref.values()):>{len(cols[0])}}")

    print(f"\nAirbyte messages validated with airbyte-protocol-models: {f('protocol', 'messages validated', 0)} "
          f"{f('protocol', 'messages validated by type', {})}")
    for n in (1, 2):
        cmd = f("pyairbyte", f"read {n} command")
        if cmd:
            print(f"PyAirbyte read {n}: {cmd}")
    if f("pyairbyte", "read 1 --state file") is not None:
        print(f"PyAirbyte read 1 --state file: {f('pyairbyte', 'read 1 --state file')}")
    if f("pyairbyte", "exit codes"):
        print(f"PyAirbyte connector exit codes (-15 = SIGTERM): {f('pyairbyte', 'exit codes')}")
    for (sec, k), v in facts.items():
        if k.startswith("NOTE") and v:
            print(f"{k[5:]} [{sec}]: {v}")
    for n in (1, 2, 3):
        st = f("meltano", f"run {n} state")
        if st is not None or f("meltano", f"run {n} records") is not None:
            print(f"Meltano state after run {n}: {json.dumps(st)}")
    elapsed = os.environ.get("RC_ELAPSED")
    if elapsed:
        print(f"elapsed: {elapsed}s")

    failed = [c for c in checks if not c["ok"]]
    if failed:
        print("\nFAILED checks:")
        for c in failed:
            print(f"  [{c['section']}] {c['name']}: {c['detail']}")
    by_section: dict[str, list[int]] = {}
    for c in checks:
        by_section.setdefault(c["section"], [0, 0])[0 if c["ok"] else 1] += 1
    print("\nchecks by section: " + ", ".join(f"{s} {p} passed/{q} failed" for s, (p, q) in by_section.items()))
    passed = len(checks) - len(failed)
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed or not checks else 0


if __name__ == "__main__":
    sys.exit(main())
