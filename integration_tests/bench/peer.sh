#!/usr/bin/env bash
# CPU per record of source-pipedrive against its Airbyte peer (issue #7: at least 50x less).
#
#   bash integration_tests/bench/peer.sh [--size N] [--rounds R] [--timeout S] [--bin PATH]
#
# On one machine, in one run, against one sandbox Pipedrive (`source-pipedrive sandbox`, burst
# limit lifted), it reads the same streams, full refresh, with the PyPI package
# airbyte-source-pipedrive 2.3.7 (Airbyte's low-code connector, its own `source-pipedrive read`
# entry point, default settings) and then with our release binary. For each it reports records
# (RECORD lines on stdout, per stream, which must be equal on both sides), wall time, CPU user+sys
# of the connector process and its peak RSS (getrusage of the child, taken by GNU time, a small
# parent, so the RSS is the connector's own), and CPU µs per record; then the ratio peer/ours.
#
# The peer reads v1 endpoints that Pipedrive no longer supports (`/v1/recents`,
# `/v1/organizations`, `/v1/*Fields`); the sandbox serves them only to the `api_token` query
# parameter the peer sends, from the same generated records as the v2 endpoints ours reads
# (sandbox/src/server/legacy.rs). The peer's url_base is hard-coded to api.pipedrive.com: the
# script points the manifest installed in the venv at the sandbox for the run and restores it on
# exit. Our sources are never patched.
#
# Options: --size records per main resource (default 10000); --rounds reads per connector (default
# 1; medians are reported); --timeout seconds a peer read may take (default 300, twenty times
# what it usually takes at 10000: with its default 10 workers it sometimes hangs; if it runs out,
# the peer is run again with num_workers=1 and the report says so); --bin a prebuilt
# source-pipedrive (default: cargo build --release --locked, then target/release/source-pipedrive).
# Environment: PEER_PYTHON, a Python 3.10 (the package allows 3.10 and 3.11, but with the
# airbyte-cdk 6.x pip resolves it fails to start on 3.11). Needs GNU time (/usr/bin/time), PyPI
# the first time. Files: target/peer-bench/ (venv reused; run/ holds this run's files).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK="$ROOT/target/peer-bench"
RUN="$WORK/run"
VENV="$WORK/venv"
PEER_VERSION=2.3.7
SIZE=10000
ROUNDS=1
TIMEOUT=300
BIN=""
# Streams both connectors read from the same records. Left out: leads (the peer reads
# `additional_data.pagination.next_start`, which /v1/leads never had: it fails after one page),
# mail (the peer's mail threads likewise stop after one page; our mail_messages is not default),
# deal_products (the peer asks one deal at a time and only live deals; ours batches 100 deals a
# request and covers archived deals too, so the records differ).
STREAMS=deals,persons,organizations,activities,products,pipelines,stages,notes,files,filters,users
STREAMS+=,activity_types,currencies,lead_labels,goals,permission_sets,roles
STREAMS+=,deal_fields,person_fields,organization_fields,product_fields,activity_fields
TIME_FORMAT='%e %U %S %M %x'

die() { echo "peer.sh: $*" >&2; exit 1; }
say() { printf '=== %s\n' "$*" >&2; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --size) SIZE=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ $SIZE =~ ^[0-9]+$ && $ROUNDS =~ ^[1-9][0-9]*$ && $TIMEOUT =~ ^[1-9][0-9]*$ ]] ||
  die "--size, --rounds and --timeout take whole numbers"
[[ -x /usr/bin/time ]] || die "needs GNU time at /usr/bin/time (apt-get install time)"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

mkdir -p "$WORK"
rm -rf "$RUN"
mkdir -p "$RUN"

# --- our binary -------------------------------------------------------------------------------
if [[ -z $BIN ]]; then
  say "cargo build --release --locked"
  (cd "$ROOT" && cargo build --release --locked) >&2
  BIN="$ROOT/target/release/source-pipedrive"
fi
[[ -x $BIN ]] || die "no executable at $BIN"

# --- the peer's venv (reused when it holds the pinned version) ---------------------------------
find_python() {
  if [[ -n ${PEER_PYTHON:-} ]]; then echo "$PEER_PYTHON"; return; fi
  local candidate
  for candidate in python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10 python3; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  die "no Python 3.10 found; set PEER_PYTHON"
}
if [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('airbyte-source-pipedrive') != '$PEER_VERSION')" 2>/dev/null; then
  say "venv reused: $VENV"
else
  PY=$(find_python)
  say "creating $VENV with $PY: pip install airbyte-source-pipedrive==$PEER_VERSION"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  if ! "$VENV/bin/pip" install "airbyte-source-pipedrive==$PEER_VERSION" >"$WORK/pip.log" 2>&1; then
    tail -n 30 "$WORK/pip.log" >&2
    die "pip install failed; see $WORK/pip.log"
  fi
fi
PEER="$VENV/bin/source-pipedrive"
HELPER=("$VENV/bin/python" "$HERE/peer_helper.py")
CDK_VERSION=$("$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('airbyte-cdk'))")
PY_VERSION=$("$VENV/bin/python" -c 'import platform; print(platform.python_version())')
MANIFEST=$("$VENV/bin/python" -c 'import os, source_pipedrive as s; print(os.path.join(os.path.dirname(s.__file__), "manifest.yaml"))')
[[ -f $MANIFEST.orig ]] || cp "$MANIFEST" "$MANIFEST.orig"

# --- the sandbox -------------------------------------------------------------------------------
PORT=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
say "sandbox on 127.0.0.1:$PORT, $SIZE records per main resource, burst limit lifted"
SOURCE_PIPEDRIVE_SANDBOX_BURST_LIMIT=4294967295 "$BIN" sandbox --port "$PORT" --size "$SIZE" \
  2>"$RUN/sandbox.stderr" &
SANDBOX_PID=$!
cleanup() {
  kill "$SANDBOX_PID" 2>/dev/null || true
  wait "$SANDBOX_PID" 2>/dev/null || true
  cp "$MANIFEST.orig" "$MANIFEST" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  grep -q '"base_url"' "$RUN/sandbox.stderr" 2>/dev/null && break
  kill -0 "$SANDBOX_PID" 2>/dev/null || { cat "$RUN/sandbox.stderr" >&2; die "the sandbox exited"; }
  sleep 0.1
done
grep '"base_url"' "$RUN/sandbox.stderr" | tail -n 1 >"$RUN/ours.config.json" || die "the sandbox printed no config"

# The peer's copy of its manifest points at the sandbox for this run (restored on exit).
sed "s#url_base: \"https://api.pipedrive.com/v1\"#url_base: \"http://127.0.0.1:$PORT/v1\"#" \
  "$MANIFEST.orig" >"$MANIFEST"
grep -q "url_base: \"http://127.0.0.1:$PORT/v1\"" "$MANIFEST" || die "could not patch url_base in $MANIFEST"
peer_config() { # num_workers or "" for the default
  "$VENV/bin/python" - "$RUN/ours.config.json" "$1" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))
config = {"api_token": ours["api_key"], "replication_start_date": ours["start_date"]}
if sys.argv[2]:
    config["num_workers"] = int(sys.argv[2])
print(json.dumps(config))
PY
}
peer_config "" >"$RUN/peer.config.json"

# --- catalogs: the same streams, full refresh, on both sides ----------------------------------
say "discover (both) and configured catalogs for: $STREAMS"
"$BIN" discover --config "$RUN/ours.config.json" >"$RUN/ours.discover.jsonl" 2>"$RUN/ours.discover.stderr" ||
  die "ours discover failed: see $RUN/ours.discover.stderr"
"$PEER" discover --config "$RUN/peer.config.json" >"$RUN/peer.discover.jsonl" 2>"$RUN/peer.discover.stderr" ||
  die "peer discover failed: see $RUN/peer.discover.stderr"
"${HELPER[@]}" catalog "$RUN/ours.discover.jsonl" "$STREAMS" >"$RUN/ours.catalog.json"
"${HELPER[@]}" catalog "$RUN/peer.discover.jsonl" "$STREAMS" >"$RUN/peer.catalog.json"

# --- measurements ------------------------------------------------------------------------------
# GNU time is the parent: getrusage of its one child (and that child's reaped children) gives
# the connector's CPU; its own small RSS keeps the child's ru_maxrss the connector's.
measure() { # label, command...: stdout to $RUN/<label>.jsonl; returns the command's exit code
  local label=$1
  shift
  local rc=0
  /usr/bin/time -f "$TIME_FORMAT" -o "$RUN/$label.time" "$@" \
    >"$RUN/$label.jsonl" 2>"$RUN/$label.stderr" || rc=$?
  return $rc
}
measure peer.spec "$PEER" spec || die "peer spec failed: $RUN/peer.spec.stderr"
measure ours.spec "$BIN" spec || die "our spec failed: $RUN/ours.spec.stderr"

WORKERS_NOTE=""
for k in $(seq 1 "$ROUNDS"); do
  say "round $k/$ROUNDS: peer read (timeout ${TIMEOUT}s)"
  rc=0
  measure "peer.$k" timeout -k 30 "$TIMEOUT" "$PEER" read --config "$RUN/peer.config.json" \
    --catalog "$RUN/peer.catalog.json" || rc=$?
  if [[ $rc == 124 || $rc == 137 ]]; then
    WORKERS_NOTE="the peer's read with its default num_workers (10) ran out of ${TIMEOUT}s; it was run with num_workers=1"
    say "$WORKERS_NOTE"
    peer_config 1 >"$RUN/peer.config.json"
    rc=0
    measure "peer.$k" timeout -k 30 "$TIMEOUT" "$PEER" read --config "$RUN/peer.config.json" \
      --catalog "$RUN/peer.catalog.json" || rc=$?
  fi
  [[ $rc == 0 ]] || say "peer read exited $rc (see $RUN/peer.$k.stderr and the error TRACEs in the report)"
  "${HELPER[@]}" count "$RUN/peer.$k.jsonl" >"$RUN/peer.$k.counts.json"

  say "round $k/$ROUNDS: source-pipedrive read"
  rc=0
  measure "ours.$k" "$BIN" read --config "$RUN/ours.config.json" --catalog "$RUN/ours.catalog.json" || rc=$?
  [[ $rc == 0 ]] || say "our read exited $rc (see $RUN/ours.$k.stderr)"
  "${HELPER[@]}" count "$RUN/ours.$k.jsonl" >"$RUN/ours.$k.counts.json"
done

# --- report ------------------------------------------------------------------------------------
echo
echo "peer.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores; sandbox size $SIZE; $ROUNDS round(s)"
echo "  peer: airbyte-source-pipedrive $PEER_VERSION (airbyte-cdk $CDK_VERSION, Python $PY_VERSION), $(
  if [[ -n $WORKERS_NOTE ]]; then echo "num_workers=1: $WORKERS_NOTE"; else echo "default settings"; fi)"
echo "  ours: $("$BIN" --version 2>/dev/null || echo source-pipedrive) ($BIN)"
echo "  streams ($(tr ',' '\n' <<<"$STREAMS" | wc -l)): $STREAMS"
"${HELPER[@]}" report "$RUN" "$SIZE" "$STREAMS"
