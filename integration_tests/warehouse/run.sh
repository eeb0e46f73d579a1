#!/usr/bin/env bash
# The warehouse suite: the sandbox Pipedrive as a changing world, synced three times (then once
# cut short) into real tables by Meltano + target-postgres, Meltano + target-duckdb, and PyAirbyte
# with its DuckDB and PostgreSQL caches; after every sync, SQL compares each stream's live rows
# with the truth. See warehouse.py.
#
#   bash integration_tests/warehouse/run.sh
#
# Installs PostgreSQL from Debian if missing and starts its own server on loopback (data under
# target/warehouse/pg, a free port); virtual environments with pinned versions go under
# target/warehouse/venvs (reused). Ends with `N passed, N failed`; exits non-zero on a failure.
# Knobs: WH_SIZE (records per main resource, default 150), WH_PYTHON (default python3.11),
# WH_LOADERS (a comma list of meltano-postgres, meltano-duckdb, pyairbyte-duckdb,
# pyairbyte-postgres; default all).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK="$ROOT/target/warehouse"
PY="${WH_PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3

MELTANO_VERSION=4.4.1
TARGET_POSTGRES_VERSION=0.8.1   # meltanolabs-target-postgres
TARGET_DUCKDB_VERSION=0.8.0
TARGET_DUCKDB_DUCKDB_VERSION=1.1.3
PYAIRBYTE_VERSION=0.71.3

export AIRBYTE_OFFLINE_MODE=1 DO_NOT_TRACK=1 NO_LIVE_PROGRESS=1 MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

mkdir -p "$WORK/venvs"
rm -rf "$WORK/run" "$WORK/data" "$WORK/meltano-project"
mkdir -p "$WORK/run" "$WORK/data"

ensure_venv() { # name, pins (dist==version ...): reused while it holds every pin
  local name=$1 venv="$WORK/venvs/$1"
  shift
  if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "
import importlib.metadata as m, sys
sys.exit(any(m.version(d) != v for d, v in (p.split('==') for p in sys.argv[1:])))" "$@" 2>/dev/null; then
    return
  fi
  echo "creating venv $name ($*)" >&2
  rm -rf "$venv"
  "$PY" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >"$WORK/venvs/$name.log" 2>&1
  "$venv/bin/pip" install "$@" >>"$WORK/venvs/$name.log" 2>&1 || { tail -n 30 "$WORK/venvs/$name.log" >&2; exit 1; }
}
ensure_venv meltano "meltano==$MELTANO_VERSION"
ensure_venv target-postgres "meltanolabs-target-postgres==$TARGET_POSTGRES_VERSION"
# DuckDB 2's CSV sniffer takes the first row of target-duckdb's COPY for a header (one row lost
# per batch): target-duckdb 0.8.0 with the DuckDB of its time.
ensure_venv target-duckdb "target-duckdb==$TARGET_DUCKDB_VERSION" "duckdb==$TARGET_DUCKDB_DUCKDB_VERSION"
ensure_venv pyairbyte "airbyte==$PYAIRBYTE_VERSION"

# --- PostgreSQL: Debian's, our own cluster on loopback ---------------------------------------
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [[ -z "$PGBIN" || ! -x "$PGBIN/initdb" ]]; then
  echo "installing PostgreSQL from Debian" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
PGDIR="$WORK/pg"
AS=()
if [[ $(id -u) == 0 ]]; then AS=(runuser -u postgres --); fi   # the server refuses to run as root
rm -rf "$PGDIR"
mkdir -p "$PGDIR"
[[ ${#AS[@]} -gt 0 ]] && chown postgres "$PGDIR"
PGPORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"${AS[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust >"$WORK/run/initdb.log" 2>&1
"${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w \
  -o "-p $PGPORT -c listen_addresses=127.0.0.1 -k $PGDIR -c fsync=off" start >/dev/null
stop_pg() { "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null 2>&1 || true; }
trap stop_pg EXIT
"$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE DATABASE warehouse" >/dev/null

# --- the connector and the world --------------------------------------------------------------
(cd "$ROOT" && cargo build --release --locked --bin source-pipedrive &&
  cargo build --release --locked -p pipedrive-sandbox --example warehouse_world) >&2

export WH_WORK="$WORK" WH_BIN="$ROOT/target/release/source-pipedrive" WH_PGPORT="$PGPORT"
export WH_WORLD_BIN="$ROOT/target/release/examples/warehouse_world"
START=$(date +%s)
# The checks and the closing lines on the terminal; everything (PyAirbyte's own output too) in
# target/warehouse/run/warehouse.log.
status=0
"$WORK/venvs/pyairbyte/bin/python" "$HERE/warehouse.py" >"$WORK/run/warehouse.log" 2>&1 || status=$?
grep -aE '^(\[(PASS|FAIL)\]|--- step|facts:|syncs:|[0-9]+ passed, [0-9]+ failed)' "$WORK/run/warehouse.log" ||
  tail -n 40 "$WORK/run/warehouse.log"
echo "warehouse suite: $(($(date +%s) - START)) s" >&2
exit "$status"
