"""Validates the Airbyte messages the image wrote (one `.jsonl` file per container run, kept by
integration_tests/image.rs) with the official `airbyte-protocol-models` (pydantic v1 models).

    python validate.py DIR     # prints one `ok`/`FAILED` line per file; exits 1 if any failed
"""

from __future__ import annotations

import pathlib
import sys

from airbyte_protocol import models

parse = getattr(models.AirbyteMessage, "model_validate_json", None) or models.AirbyteMessage.parse_raw

# The field each message type must carry (the models leave them all optional).
BODY = {"RECORD": "record", "STATE": "state", "LOG": "log", "SPEC": "spec",
        "CONNECTION_STATUS": "connectionStatus", "CATALOG": "catalog", "TRACE": "trace",
        "CONTROL": "control"}
TRACE_BODY = {"ERROR": "error", "ESTIMATE": "estimate", "STREAM_STATUS": "stream_status",
              "ANALYTICS": "analytics"}


def problem(line: str) -> str | None:
    try:
        msg = parse(line)
    except Exception as e:  # pydantic.ValidationError, JSON errors
        return f"{type(e).__name__}: {e}"
    kind = msg.type.value
    if getattr(msg, BODY[kind]) is None:
        return f"{kind} without `{BODY[kind]}`"
    if kind == "STATE":
        st = msg.state
        if st.type is None or st.type.value != "STREAM" or st.stream is None:
            return "STATE that is not a per-stream state with `stream`"
    if kind == "TRACE" and getattr(msg.trace, TRACE_BODY[msg.trace.type.value]) is None:
        return f"TRACE {msg.trace.type.value} without `{TRACE_BODY[msg.trace.type.value]}`"
    return None


def main() -> int:
    files = sorted(pathlib.Path(sys.argv[1]).glob("*.jsonl"))
    if not files:
        print(f"FAILED no container output in {sys.argv[1]}")
        return 1
    failed = 0
    for f in files:
        lines = [l for l in f.read_text().splitlines() if l.strip()]
        bad = [(i, why) for i, l in enumerate(lines) if (why := problem(l))]
        if not lines:
            bad = [(0, "no message at all")]
        if bad:
            failed += 1
            i, why = bad[0]
            print(f"FAILED protocol-valid {f.name}: {len(bad)} of {len(lines)} lines invalid; line {i + 1}: {why[:300]}")
        else:
            print(f"ok     protocol-valid {f.name}: {len(lines)} messages")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
