#!/usr/bin/env bash
# The OAuth messages against the official Airbyte protocol models: `spec` (its advanced_auth)
# and the CONTROL messages of a sync whose access tokens expire several times (and of `check`),
# parsed by `airbyte-protocol-models` (pinned, in a venv under target/oauth-protocol/), each
# CONTROL's config validated against the spec's connectionSpecification too.
#
#   bash integration_tests/oauth_protocol/check.sh
#
# Needs python3 (or OP_PYTHON), PyPI the first time, and the debug binary (built if missing).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK="$ROOT/target/oauth-protocol"
VENV="$WORK/venv"
PY="${OP_PYTHON:-python3}"
BIN="$ROOT/target/debug/source-pipedrive"
PROTOCOL_MODELS_VERSION=0.18.0 # the version integration_tests/real_clients pins
JSONSCHEMA_VERSION=4.23.0
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

mkdir -p "$WORK"
want="airbyte-protocol-models==$PROTOCOL_MODELS_VERSION jsonschema==$JSONSCHEMA_VERSION"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/pinned" 2>/dev/null)" != "$want" ]]; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q $want >"$WORK/install.log" 2>&1 || {
    tail -n 30 "$WORK/install.log" >&2
    exit 1
  }
  echo "$want" >"$VENV/pinned"
fi
[[ -x "$BIN" ]] || (cd "$ROOT" && cargo build --locked)

"$BIN" sandbox --port 0 --size 30 --oauth --oauth-token-requests 15 2>"$WORK/sandbox.stderr" &
SANDBOX=$!
trap 'kill $SANDBOX 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  grep -q '"credentials"' "$WORK/sandbox.stderr" 2>/dev/null && break
  sleep 0.1
done
grep '"credentials"' "$WORK/sandbox.stderr" >"$WORK/config.json"

"$BIN" spec >"$WORK/spec.jsonl"
"$BIN" read --config "$WORK/config.json" >"$WORK/read.jsonl"
"$BIN" check --config "$WORK/config.json" >"$WORK/check.jsonl"
"$VENV/bin/python" "$HERE/validate.py" "$WORK/spec.jsonl" "$WORK/read.jsonl" "$WORK/check.jsonl"
