"""Validates every Airbyte message the binary writes with the official `airbyte-protocol-models`
package (pydantic v1 models: `AirbyteMessage.parse_raw`; `model_validate_json` where offered).

Runs the binary itself: spec, check (good and rejected key), discover, read (default catalog),
read with the default catalog's final state, read of a PyAirbyte-like configured catalog (every
stream incremental where supported) with `--state` holding `[]`, then that read resumed.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from importlib.metadata import version

from airbyte_protocol import models

from common import BIN, CONFIG, RUN, check, fact, record_counts, reference_counts

SECTION = "protocol"
OUT = RUN / "protocol"
OUT.mkdir(parents=True, exist_ok=True)

parse = getattr(models.AirbyteMessage, "model_validate_json", None) or models.AirbyteMessage.parse_raw

# The field each message type must carry (the models leave them all optional).
TYPE_FIELD = {
    "RECORD": "record",
    "STATE": "state",
    "LOG": "log",
    "SPEC": "spec",
    "CONNECTION_STATUS": "connectionStatus",
    "CATALOG": "catalog",
    "TRACE": "trace",
    "CONTROL": "control",
}
validated_total = 0
by_type: collections.Counter = collections.Counter()


def validate_line(line: str) -> str | None:
    """None when the line is a valid AirbyteMessage; otherwise why not."""
    try:
        msg = parse(line)
    except Exception as e:  # pydantic.ValidationError, JSON errors
        return f"{type(e).__name__}: {e}"
    kind = msg.type.value
    if getattr(msg, TYPE_FIELD[kind]) is None:
        return f"{kind} message without its `{TYPE_FIELD[kind]}` field"
    if kind == "STATE":
        st = msg.state
        t = st.type.value if st.type else "LEGACY"
        need = {"STREAM": "stream", "GLOBAL": "global_", "LEGACY": "data"}[t]
        if getattr(st, need) is None:
            return f"STATE of type {t} without `{need}`"
    if kind == "TRACE":
        tr = msg.trace
        need = {"ERROR": "error", "ESTIMATE": "estimate", "STREAM_STATUS": "stream_status",
                "ANALYTICS": "analytics"}[tr.type.value]
        if getattr(tr, need) is None:
            return f"TRACE of type {tr.type.value} without `{need}`"
    by_type[kind] += 1
    return None


def run(name: str, args: list[str], expect_rc: int = 0) -> list[str]:
    """Runs the binary, validates each stdout line, records checks; returns the stdout lines."""
    global validated_total
    cmd = [str(BIN), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    (OUT / f"{name}.jsonl").write_text(p.stdout)
    (OUT / f"{name}.stderr").write_text(p.stderr)
    check(SECTION, f"{name}: exit code {expect_rc}", p.returncode == expect_rc,
          f"`{' '.join(cmd)}` exited {p.returncode}; stderr tail: {p.stderr[-400:]!r}" if p.returncode != expect_rc else "")
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    bad = []
    for i, line in enumerate(lines):
        why = validate_line(line)
        if why:
            bad.append(f"line {i + 1}: {why} :: {line[:300]}")
        else:
            validated_total += 1
    check(SECTION, f"{name}: {len(lines)} messages valid AirbyteMessage", not bad and bool(lines),
          "; ".join(bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "") if bad else "")
    return lines


def messages(lines: list[str]) -> list[dict]:
    return [json.loads(l) for l in lines]


def final_states(lines: list[str]) -> list[dict]:
    """The last STATE per stream, as the `state` objects Airbyte passes back with --state."""
    last: dict[str, dict] = {}
    for m in messages(lines):
        if m["type"] == "STATE":
            st = m["state"]
            key = st.get("stream", {}).get("stream_descriptor", {}).get("name", st.get("type"))
            last[key] = st
    return list(last.values())


def main() -> int:
    fact(SECTION, "airbyte-protocol-models", version("airbyte-protocol-models"))
    fact(SECTION, "pydantic", version("pydantic"))
    cfg = json.loads(CONFIG.read_text())

    spec = run("spec", ["spec"])
    kinds = [m["type"] for m in messages(spec)]
    check(SECTION, "spec: one SPEC message", kinds.count("SPEC") == 1, f"types {kinds}")
    if "SPEC" in kinds:
        s = models.ConnectorSpecification.parse_obj(next(m for m in messages(spec) if m["type"] == "SPEC")["spec"])
        req = s.connectionSpecification.get("required", [])
        check(SECTION, "spec: api_key and start_date required", {"api_key", "start_date"} <= set(req), f"required {req}")

    ok = run("check", ["check", "--config", str(CONFIG)])
    st = [m["connectionStatus"]["status"] for m in messages(ok) if m["type"] == "CONNECTION_STATUS"]
    check(SECTION, "check: SUCCEEDED", st == ["SUCCEEDED"], f"statuses {st}")

    bad_cfg = RUN / "config-bad-key.json"
    bad_cfg.write_text(json.dumps({**cfg, "api_key": "not-the-sandbox-key"}))
    bad = run("check-bad-key", ["check", "--config", str(bad_cfg)])
    st = [m["connectionStatus"]["status"] for m in messages(bad) if m["type"] == "CONNECTION_STATUS"]
    check(SECTION, "check with a rejected key: FAILED, exit 0", st == ["FAILED"], f"statuses {st}")

    disc = run("discover", ["discover", "--config", str(CONFIG)])
    cats = [m for m in messages(disc) if m["type"] == "CATALOG"]
    check(SECTION, "discover: one CATALOG", len(cats) == 1, f"{len(cats)} catalogs")
    catalog = models.AirbyteCatalog.parse_obj(cats[0]["catalog"])
    fact(SECTION, "discovered streams", len(catalog.streams))

    # read, default catalog (the reference run made by run.sh is the same command)
    ref = reference_counts()
    read = run("read-default", ["read", "--config", str(CONFIG)])
    got = record_counts(read)
    check(SECTION, "read (default catalog): counts equal the reference", got == ref,
          "" if got == ref else f"diff {[(s, got.get(s), ref.get(s)) for s in sorted(set(got) | set(ref)) if got.get(s) != ref.get(s)]}")
    state1 = final_states(read)
    (OUT / "state-default.json").write_text(json.dumps(state1))
    resumed = run("read-default-with-state", ["read", "--config", str(CONFIG), "--state", str(OUT / "state-default.json")])
    got2 = record_counts(resumed)
    more = {s: (n, ref.get(s)) for s, n in got2.items() if n > ref.get(s, 0)}
    check(SECTION, "read with state: no stream emits more than the first read", not more, f"{more}" if more else "")
    fact(SECTION, "read with state: records per stream", got2)

    # PyAirbyte's way: every stream, incremental where supported (README: the connector downgrades
    # the others), overwrite/append_dedup, and `--state` holding `[]` on the first run.
    configured = {"streams": []}
    for s in catalog.streams:
        incr = models.SyncMode.incremental in s.supported_sync_modes
        configured["streams"].append({
            "stream": json.loads(s.json(exclude_none=True)),
            "sync_mode": "incremental",
            "destination_sync_mode": "append_dedup" if s.source_defined_primary_key else "append",
            **({"cursor_field": s.default_cursor_field} if incr and s.default_cursor_field else {}),
            **({"primary_key": s.source_defined_primary_key} if s.source_defined_primary_key else {}),
        })
    models.ConfiguredAirbyteCatalog.parse_obj(configured)
    (OUT / "configured-catalog.json").write_text(json.dumps(configured))
    (OUT / "empty-state.json").write_text("[]")
    all1 = run("read-all-incremental", ["read", "--config", str(CONFIG), "--catalog", str(OUT / "configured-catalog.json"),
                                        "--state", str(OUT / "empty-state.json")])
    c1 = record_counts(all1)
    diff = {s: (c1.get(s), n) for s, n in ref.items() if c1.get(s) != n}
    check(SECTION, "read of all streams as incremental with state []: default streams match the reference", not diff,
          f"{diff}" if diff else "")
    fact(SECTION, "all-incremental read: streams", len(c1))
    (OUT / "state-all.json").write_text(json.dumps(final_states(all1)))
    all2 = run("read-all-incremental-with-state", ["read", "--config", str(CONFIG), "--catalog",
                                                   str(OUT / "configured-catalog.json"), "--state", str(OUT / "state-all.json")])
    c2 = record_counts(all2)
    more = {s: (n, c1.get(s)) for s, n in c2.items() if n > c1.get(s, 0)}
    check(SECTION, "all-incremental read resumed: no stream emits more than the first", not more, f"{more}" if more else "")

    fact(SECTION, "messages validated", validated_total)
    fact(SECTION, "messages validated by type", dict(by_type))
    print(f"validated {validated_total} messages: {dict(by_type)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
