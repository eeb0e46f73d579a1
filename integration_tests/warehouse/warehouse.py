"""The warehouse suite: the sandbox as a changing world, loaded by real loaders, checked with SQL.

Run by run.sh with the PyAirbyte venv's Python (it has PyAirbyte, psycopg and duckdb). Loaders:
  meltano-postgres  Meltano + MeltanoLabs target-postgres (hard_delete, add_record_metadata,
                    activate_version): live rows are those with `_sdc_deleted_at` NULL
  meltano-duckdb    Meltano + target-duckdb (hard_delete, add_metadata_columns): deletes are
                    applied; it ignores ACTIVATE_VERSION, so full-table rows deleted in Pipedrive
                    stay (checked as such)
  pyairbyte-duckdb  PyAirbyte, DuckDB cache      } incremental streams merged, full tables
  pyairbyte-postgres PyAirbyte, PostgreSQL cache } replaced; live rows: the README's view
After every sync: each stream's live rows equal the truth (a fresh read of the same world, its
deletes applied) by key and update time; keys unique; columns typed. Then, Singer loaders only,
a sync cut short by a token cap must leave every table as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
WORK = Path(os.environ["WH_WORK"])
RUN = WORK / "run"
BIN = Path(os.environ["WH_BIN"])
WORLD_BIN = Path(os.environ["WH_WORLD_BIN"])
SIZE = os.environ.get("WH_SIZE", "150")
PG = dict(host="127.0.0.1", port=int(os.environ["WH_PGPORT"]), user="postgres", dbname="warehouse")
VENVS = WORK / "venvs"

INCREMENTAL = ["deals", "archived_deals", "persons", "organizations", "activities", "products",
               "pipelines", "stages", "projects", "archived_projects", "notes"]
FULL = ["goals", "roles", "currencies", "deal_fields", "call_logs"]
STREAMS = INCREMENTAL + FULL
KEY = {"deal_fields": "field_code"}
LOADERS = ["meltano-postgres", "meltano-duckdb", "pyairbyte-duckdb", "pyairbyte-postgres"]
# WH_LOADERS=meltano-postgres,... runs some of them only (a quicker look while developing).
LOADERS = [x for x in os.environ.get("WH_LOADERS", ",".join(LOADERS)).split(",") if x in LOADERS]
SCHEMA = {"meltano-postgres": "meltano_pg", "meltano-duckdb": "meltano_duckdb",
          "pyairbyte-duckdb": "main", "pyairbyte-postgres": "pyairbyte"}

passed = failed = 0
facts: dict = {}


def check(name: str, ok: bool, detail: str = "") -> bool:
    global passed, failed
    passed += bool(ok)
    failed += not ok
    print(f"[{'PASS' if ok else 'FAIL'}] {name}" + (f": {detail}" if detail and not ok else ""), flush=True)
    return ok


# --- the world --------------------------------------------------------------------------------
class World:
    def __init__(self) -> None:
        self.p = subprocess.Popen([str(WORLD_BIN), SIZE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, stderr=open(RUN / "world.stderr", "w"))

    def ask(self, line: str) -> dict:
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def close(self) -> None:
        self.p.stdin.write("quit\n")
        self.p.stdin.flush()
        self.p.wait(timeout=30)


def ts(v) -> str | None:
    """A time as seconds-precision UTC text, whichever way a loader typed it."""
    if v is None:
        return None
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    if v.tzinfo is None:
        v = v.replace(tzinfo=dt.timezone.utc)
    return v.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def norm_key(v) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v)


def catalog_airbyte(streams: list[str]) -> dict:
    return {"streams": [{
        "stream": {"name": s, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
        "sync_mode": "full_refresh" if s in FULL else "incremental",
        "destination_sync_mode": "append_dedup",
        **({"cursor_field": ["update_time"]} if s in INCREMENTAL else {}),
        "primary_key": [[KEY.get(s, "id")]],
    } for s in streams]}


def truth(cfg_path: Path) -> dict[str, dict[str, str | None]]:
    """A fresh read of the world, deletes applied: per stream, key -> update time."""
    cat = RUN / "truth-catalog.json"
    cat.write_text(json.dumps(catalog_airbyte(STREAMS)))
    t0 = time.monotonic()
    p = subprocess.run([str(BIN), "read", "--config", str(cfg_path), "--catalog", str(cat)],
                       capture_output=True, text=True)
    facts.setdefault("our read seconds", []).append(round(time.monotonic() - t0, 2))
    if p.returncode != 0:
        raise SystemExit(f"truth read failed: {p.stderr[-2000:]}")
    rows: dict[str, dict] = {s: {} for s in STREAMS}
    for line in p.stdout.splitlines():
        m = json.loads(line)
        if m.get("type") != "RECORD":
            continue
        s, r = m["record"]["stream"], m["record"]["data"]
        rows[s][norm_key(r[KEY.get(s, "id")])] = r
    return {s: {k: ts(r.get("update_time")) for k, r in recs.items() if not r.get("_ab_cdc_deleted_at")}
            for s, recs in rows.items()}


# --- SQL ----------------------------------------------------------------------------------------
def pg(sql: str) -> list[tuple]:
    with psycopg.connect(**PG, autocommit=True) as c:
        return c.execute(sql).fetchall()


def duck(venv: str, path: Path, sql: str) -> list[list]:
    code = ("import duckdb, json, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print(json.dumps(c.execute(sys.argv[2]).fetchall(), default=str))")
    p = subprocess.run([str(VENVS / venv / "bin/python"), "-c", code, str(path), sql], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-1000:])
    return json.loads(p.stdout)


def duck_file(loader: str) -> Path:
    return WORK / "data" / ("meltano.duckdb" if loader == "meltano-duckdb" else "pyairbyte.duckdb")


def query(loader: str, sql: str) -> list:
    if loader.endswith("postgres"):
        return pg(sql)
    return duck("target-duckdb" if loader == "meltano-duckdb" else "pyairbyte", duck_file(loader), sql)


def columns(loader: str, stream: str) -> dict[str, str]:
    schema = SCHEMA[loader]
    rows = query(loader, f"SELECT column_name, data_type FROM information_schema.columns "
                         f"WHERE table_schema = '{schema}' AND table_name = '{stream}'")
    return {r[0]: str(r[1]).lower() for r in rows}


def first_sync_deletes_nothing(loader: str, world: World) -> None:
    """After a first sync, an archived stream's table holds archived records only, live or
    deleted: no live record written as the deletion of a row it never held."""
    for stream in ("archived_deals", "archived_projects"):
        archive = {norm_key(i) for i in world.ask(f"archive {stream}")["ids"]}
        rows = {norm_key(k) for (k,) in query(loader, f"SELECT id FROM {SCHEMA[loader]}.{stream}")}
        extra = rows - archive
        check(f"{loader} sync 0 {stream}: every row (deleted ones too) is an archived record ({len(rows)})",
              not extra, f"{len(extra)} rows that were never archived, e.g. {sorted(extra)[:5]}")


def compare(loader: str, sync: int, want: dict) -> None:
    for stream in STREAMS:
        key = KEY.get(stream, "id")
        cols = columns(loader, stream)
        if not check(f"{loader} sync {sync} {stream}: table exists", bool(cols)):
            continue
        live = f"SELECT {key}, {'update_time' if 'update_time' in cols else 'NULL'} FROM ({live_sql_for(loader, stream, cols)}) AS t"
        got = {norm_key(k): ts(u) for k, u in query(loader, live)}
        exp = want[stream]
        if loader == "meltano-duckdb" and stream in FULL:
            # target-duckdb ignores ACTIVATE_VERSION: rows deleted in Pipedrive stay.
            stale = set(got) - set(exp)
            check(f"{loader} sync {sync} {stream}: every live row there (target-duckdb keeps {len(stale)} deleted full-table row(s))",
                  set(exp) <= set(got), f"missing {sorted(set(exp) - set(got))[:10]}")
        else:
            diff = {k for k in set(got) | set(exp) if got.get(k, "absent") != exp.get(k, "absent")}
            check(f"{loader} sync {sync} {stream}: live rows = truth ({len(exp)})", not diff,
                  f"{len(diff)} differ, e.g. " + ", ".join(f"{k}: got {got.get(k, 'absent')} want {exp.get(k, 'absent')}"
                                                          for k in sorted(diff)[:5]))
        total, distinct = query(loader, f"SELECT count(*), count(DISTINCT {key}) FROM {SCHEMA[loader]}.{stream}")[0]
        check(f"{loader} sync {sync} {stream}: primary key unique", total == distinct, f"{total} rows, {distinct} keys")
        facts.setdefault(f"{loader} rows", {})[stream] = total


def live_sql_for(loader: str, stream: str, cols: dict) -> str:
    """The live rows of a stream's table by the loader's own delete convention: target-postgres
    marks deletes in `_sdc_deleted_at`; target-duckdb (hard_delete) removes them; PyAirbyte's
    caches keep `_ab_cdc_deleted_at` as a column, which the README's view filters on."""
    table = f"{SCHEMA[loader]}.{stream}"
    for deleted in ("_sdc_deleted_at", "_ab_cdc_deleted_at"):
        if loader in ("meltano-postgres", "pyairbyte-duckdb", "pyairbyte-postgres") and deleted in cols:
            return f"SELECT * FROM {table} WHERE {deleted} IS NULL"
    return f"SELECT * FROM {table}"


TYPES = {  # column -> accepted type names (substrings)
    ("deals", "update_time"): ("timestamp",),
    ("deals", "value"): ("numeric", "double", "decimal", "real", "float", "bigint", "integer"),
    ("deals", "is_deleted"): ("bool",),
    ("persons", "emails"): ("json", "array"),  # target-postgres: an ARRAY of JSONB
    ("deals", "add_time"): ("timestamp",),
}


def typed(loader: str) -> None:
    for (stream, col), accepted in TYPES.items():
        t = columns(loader, stream).get(col)
        check(f"{loader} {stream}.{col} typed ({t})", t is not None and any(a in t for a in accepted), f"type {t}")


# --- the loaders ------------------------------------------------------------------------------
MELTANO_PROJECT = WORK / "meltano-project"


def meltano_project(cfg: dict) -> None:
    MELTANO_PROJECT.mkdir(parents=True, exist_ok=True)
    (WORK / "data").mkdir(exist_ok=True)
    doc = {
        "version": 1,
        "default_environment": "dev",
        "environments": [{"name": "dev"}],
        "project_id": "source-pipedrive-warehouse-suite",
        "plugins": {
            "extractors": [{
                "name": "tap-pipedrive-rs", "namespace": "tap_pipedrive_rs", "executable": str(BIN),
                "capabilities": ["catalog", "discover", "state", "about", "activate-version"],
                "settings": [{"name": n} for n in ("api_key", "start_date", "base_url", "custom_field_names")],
                "config": {k: cfg[k] for k in ("start_date", "base_url", "custom_field_names")},
                "select": [f"{s}.*" for s in STREAMS],
            }],
            "loaders": [{
                "name": "target-postgres", "namespace": "target_postgres",
                "executable": str(VENVS / "target-postgres/bin/target-postgres"),
                "settings": [{"name": n} for n in ("host", "port", "user", "password", "database", "default_target_schema",
                                                  "hard_delete", "add_record_metadata", "activate_version")],
                "config": {"host": PG["host"], "port": PG["port"], "user": "postgres", "password": "unused", "database": "warehouse",
                           "default_target_schema": SCHEMA["meltano-postgres"], "hard_delete": True,
                           "add_record_metadata": True, "activate_version": True},
            }, {
                "name": "target-duckdb", "namespace": "target_duckdb",
                "executable": str(VENVS / "target-duckdb/bin/target-duckdb"),
                "settings": [{"name": n} for n in ("filepath", "default_target_schema", "hard_delete", "add_metadata_columns")],
                "config": {"filepath": str(duck_file("meltano-duckdb")), "default_target_schema": SCHEMA["meltano-duckdb"],
                           "hard_delete": True, "add_metadata_columns": True},
            }],
        },
    }
    (MELTANO_PROJECT / "meltano.yml").write_text(json.dumps(doc, indent=1))


def meltano(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "NO_COLOR": "1", **(env or {})}
    return subprocess.run([str(VENVS / "meltano/bin/meltano"), *args], cwd=MELTANO_PROJECT, env=e,
                          capture_output=True, text=True, timeout=900)


def load_meltano(loader: str, sync: int, cfg: dict) -> bool:
    target = "target-postgres" if loader == "meltano-postgres" else "target-duckdb"
    t0 = time.monotonic()
    p = meltano("run", "tap-pipedrive-rs", target, env={"TAP_PIPEDRIVE_RS_API_KEY": cfg["api_key"]})
    facts.setdefault(f"{loader} load seconds", []).append(round(time.monotonic() - t0, 2))
    (RUN / f"{loader}-sync{sync}.log").write_text(p.stdout + p.stderr)
    return check(f"{loader} sync {sync}: meltano run exits 0", p.returncode == 0, (p.stderr or p.stdout)[-1500:])


def load_pyairbyte(loader: str, sync: int, cfg: dict) -> bool:
    import airbyte as ab
    from airbyte.caches import DuckDBCache, PostgresCache

    if loader == "pyairbyte-duckdb":
        cache = DuckDBCache(db_path=str(duck_file(loader)), schema_name=SCHEMA[loader])
    else:
        cache = PostgresCache(host=PG["host"], port=PG["port"], username="postgres", password="unused",
                              database="warehouse", schema_name=SCHEMA[loader])
    t0 = time.monotonic()
    try:
        source = ab.get_source("source-pipedrive", config=cfg, local_executable=str(BIN), streams=STREAMS)
        # Incremental streams merged by primary key; full tables replaced whole (README).
        source.read(cache=cache, streams=INCREMENTAL)
        source.read(cache=cache, streams=FULL, write_strategy="replace")
        ok = True
        detail = ""
    except Exception as e:  # noqa: BLE001 - reported as a failed check
        ok, detail = False, f"{type(e).__name__}: {e}"[-1500:]
    facts.setdefault(f"{loader} load seconds", []).append(round(time.monotonic() - t0, 2))
    if hasattr(cache, "close"):
        cache.close()
    try:
        cache.get_sql_engine().dispose()
    except Exception:  # noqa: BLE001
        pass
    return check(f"{loader} sync {sync}: PyAirbyte read", ok, detail)


def cut_sync(loader: str, cfg: dict) -> None:
    """A Singer sync of the goals cut by a token cap after two of its requests, piped into the
    target as Singer users run it: no table may lose a row."""
    target = "target-postgres" if loader == "meltano-postgres" else "target-duckdb"
    before = {k for (k,) in query(loader, f"SELECT id FROM ({live_sql_for(loader, 'goals', columns(loader, 'goals'))}) t")}
    state = meltano("state", "get", f"dev:tap-pipedrive-rs-to-{target}").stdout.strip().splitlines()
    singer_state = json.loads(state[-1]).get("singer_state", {}) if state else {}
    (RUN / "cut-state.json").write_text(json.dumps(singer_state))
    plain = RUN / "config.json"
    disc = subprocess.run([str(BIN), "--config", str(plain), "--discover"], capture_output=True, text=True, check=True)
    catalog = json.loads(disc.stdout)
    for entry in catalog["streams"]:
        for m in entry["metadata"]:
            m["metadata"]["selected"] = entry["tap_stream_id"] == "goals"
    (RUN / "cut-catalog.json").write_text(json.dumps(catalog))
    capped = RUN / "capped.json"
    capped.write_text(json.dumps({**cfg, "max_tokens_per_sync": 42, "max_concurrent_streams": 1}))
    tconf = RUN / f"{target}.json"
    tconf.write_text(json.dumps(
        {"host": PG["host"], "port": PG["port"], "user": "postgres", "password": "unused",
         "database": "warehouse", "default_target_schema": SCHEMA[loader], "hard_delete": True, "add_record_metadata": True,
         "activate_version": True} if target == "target-postgres" else
        {"filepath": str(duck_file(loader)), "default_target_schema": SCHEMA[loader], "hard_delete": True,
         "add_metadata_columns": True}))
    tap = subprocess.Popen([str(BIN), "--config", str(capped), "--catalog", str(RUN / "cut-catalog.json"),
                            "--state", str(RUN / "cut-state.json")], stdout=subprocess.PIPE,
                           stderr=open(RUN / f"{loader}-cut-tap.stderr", "w"))
    tgt = subprocess.run([str(VENVS / target / "bin" / target), "--config", str(tconf)], stdin=tap.stdout,
                         capture_output=True, text=True)
    tap.wait()
    check(f"{loader} cut sync: the tap stops at the token cap", tap.returncode == 3, f"exit {tap.returncode}")
    after = {k for (k,) in query(loader, f"SELECT id FROM ({live_sql_for(loader, 'goals', columns(loader, 'goals'))}) t")}
    check(f"{loader} cut sync: goals lost no row ({len(before)} before, {len(after)} after)", before <= after,
          f"lost {sorted(map(str, before - after))[:10]}; target exit {tgt.returncode}")


def main() -> int:
    RUN.mkdir(parents=True, exist_ok=True)
    world = World()
    try:
        cfg = world.ask("config")
        cfg_path = RUN / "config.json"
        cfg_path.write_text(json.dumps(cfg))
        meltano_project(cfg)
        for sync in range(3):
            if sync:
                changes = world.ask(f"step {sync}")["changes"]
                facts.setdefault("changes", []).append(len(changes))
                print(f"--- step {sync}: {len(changes)} changes: " + "; ".join(changes), flush=True)
            want = truth(cfg_path)
            facts.setdefault("truth rows", []).append(sum(len(v) for v in want.values()))
            for loader in LOADERS:
                loaded = (load_meltano if loader.startswith("meltano") else load_pyairbyte)(loader, sync, cfg)
                if loaded:
                    compare(loader, sync, want)
                if sync == 0 and loaded:
                    typed(loader)
                    first_sync_deletes_nothing(loader, world)
        for loader in ("meltano-postgres", "meltano-duckdb"):
            if loader in LOADERS:
                cut_sync(loader, cfg)
    finally:
        world.close()
    print("\nfacts: " + json.dumps(facts, default=str), flush=True)
    print(f"syncs: 3 per loader ({len(LOADERS)} loaders) + 1 cut sync per Singer loader; "
          f"streams compared: {len(STREAMS)} per sync; changes per step: {facts.get('changes')}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
