#!/usr/bin/env bash
# On-demand check of source-pipedrive against real clients: PyAirbyte, the official Airbyte
# protocol models, and Meltano with a Singer JSONL target, all against the binary's sandbox.
#
#   bash integration_tests/real_clients/run.sh
#
# Needs: python3.11 (or RC_PYTHON), cargo, PyPI. Virtual environments, the Meltano project and
# the run's files go under target/real-clients/ (venvs are reused). Ends with `N passed, N failed`;
# exits non-zero if any check failed.
#
# Environment knobs: RC_SIZE (sandbox records per main resource, default 300), RC_PYTHON,
# RC_BUILD=1 (cargo build --release even if the binary exists).
set -euo pipefail

START=$(date +%s)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK="$ROOT/target/real-clients"
RUN="$WORK/run"
BIN="$ROOT/target/release/source-pipedrive"
SIZE="${RC_SIZE:-300}"
PY="${RC_PYTHON:-python3.11}"

PYAIRBYTE_VERSION=0.71.3
PROTOCOL_MODELS_VERSION=0.18.0   # pydantic v1: cannot share a venv with PyAirbyte (pydantic v2)
MELTANO_VERSION=4.4.1
TARGET_PIP_URL="target-jsonl==0.1.4"

export RC_RUN="$RUN" RC_BIN="$BIN" RC_WORK="$WORK" RC_TARGET_PIP_URL="$TARGET_PIP_URL"
export AIRBYTE_OFFLINE_MODE=1 DO_NOT_TRACK=1 NO_LIVE_PROGRESS=1   # PyAirbyte: no registry, no telemetry
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

say() { printf '\n=== %s\n' "$*" >&2; }

mkdir -p "$WORK"
rm -rf "$RUN"
mkdir -p "$RUN"

# --- virtual environments (reused when they already hold the pinned versions) -----------------
ensure_venv() { # name, dist to test, version, pip specs...
  local name=$1 dist=$2 want=$3
  shift 3
  local venv="$WORK/$name"
  if [[ -x "$venv/bin/python" ]] &&
    "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$dist') != '$want')" 2>/dev/null; then
    echo "venv $name: reused ($dist $want)" >&2
    return
  fi
  say "creating venv $name ($*)"
  rm -rf "$venv"
  "$PY" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >"$WORK/$name-install.log" 2>&1
  if ! "$venv/bin/pip" install "$@" >>"$WORK/$name-install.log" 2>&1; then
    tail -n 30 "$WORK/$name-install.log" >&2
    echo "pip install $* failed; see $WORK/$name-install.log" >&2
    exit 1
  fi
}
ensure_venv pyairbyte airbyte "$PYAIRBYTE_VERSION" "airbyte==$PYAIRBYTE_VERSION"
ensure_venv protocol airbyte-protocol-models "$PROTOCOL_MODELS_VERSION" "airbyte-protocol-models==$PROTOCOL_MODELS_VERSION"
ensure_venv meltano meltano "$MELTANO_VERSION" "meltano==$MELTANO_VERSION"

# --- the binary -----------------------------------------------------------------------------
if [[ ! -x "$BIN" || "${RC_BUILD:-0}" == 1 ]]; then
  say "cargo build --release"
  for attempt in 1 2 3; do
    if (cd "$ROOT" && cargo build --release) >&2; then break; fi
    [[ $attempt == 3 ]] && { echo "cargo build --release failed 3 times" >&2; exit 1; }
    echo "build failed (someone mid-edit?); retrying in 60 s" >&2
    sleep 60
  done
fi
"$BIN" --version >&2

# --- the sandbox ----------------------------------------------------------------------------
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
say "sandbox on 127.0.0.1:$PORT, size $SIZE"
"$BIN" sandbox --port "$PORT" --size "$SIZE" 2>"$RUN/sandbox.stderr" &
SANDBOX_PID=$!
cleanup() {
  kill "$SANDBOX_PID" 2>/dev/null || true
  wait "$SANDBOX_PID" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  grep -q '"base_url"' "$RUN/sandbox.stderr" 2>/dev/null && break
  kill -0 "$SANDBOX_PID" 2>/dev/null || { cat "$RUN/sandbox.stderr" >&2; echo "sandbox exited" >&2; exit 1; }
  sleep 0.1
done
grep '"base_url"' "$RUN/sandbox.stderr" | tail -n 1 >"$RUN/config.json"
cat "$RUN/config.json" >&2

# --- reference counts: one Airbyte read of the default catalog ---------------------------
say "reference: source-pipedrive read --config config.json"
ref_rc=0
"$BIN" read --config "$RUN/config.json" >"$RUN/reference.jsonl" 2>"$RUN/reference.stderr" || ref_rc=$?
(cd "$HERE" && "$PY" -c "import common, sys; common.check('reference', 'source-pipedrive read (default catalog) exits 0', sys.argv[1] == '0', 'exit ' + sys.argv[1] + '; see ' + sys.argv[2])" "$ref_rc" "$RUN/reference.stderr")

step() { # label, python, script: full output in $RUN/<label>.log, check lines on the terminal
  say "$1 (full output: $RUN/$1.log)"
  local rc=0
  (cd "$HERE" && "$2" "$3") >"$RUN/$1.log" 2>&1 || rc=$?
  grep -a '^\[' "$RUN/$1.log" >&2 || true
  if [[ $rc != 0 ]]; then
    tail -n 40 "$RUN/$1.log" >&2
    (cd "$HERE" && "$PY" -c "import common, sys; common.check(sys.argv[1], 'script ran to its end', False, 'crashed (exit ' + sys.argv[2] + '): see ' + sys.argv[3])" "$1" "$rc" "$RUN/$1.log")
  fi
}
step protocol "$WORK/protocol/bin/python" protocol_check.py
step pyairbyte "$WORK/pyairbyte/bin/python" pyairbyte_check.py
step meltano "$WORK/meltano/bin/python" meltano_check.py

export RC_ELAPSED=$(($(date +%s) - START))
cd "$HERE" && "$PY" summary.py
