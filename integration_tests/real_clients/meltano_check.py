"""Meltano against the binary as a custom Singer extractor, with target-jsonl as the loader.

A fresh Meltano project each run; `meltano run tap target` twice (the second must resume from the
state Meltano saved after the first), then a third run from a state set by hand halfway through
the deals, which must emit exactly the deals updated since that cursor.
"""

from __future__ import annotations

import collections
import datetime as dt
import glob
import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import yaml

from common import BIN, RUN, check, config, fact, reference_counts

SECTION = "meltano"
WORK = Path(os.environ.get("RC_WORK", Path(__file__).resolve().parents[2] / "target/real-clients"))
PROJECT = WORK / "meltano-project"
MELTANO = Path(sys.executable).parent / "meltano"
TAP = "tap-pipedrive-rs"
TARGET = "target-jsonl"
STATE_ID = f"dev:{TAP}-to-{TARGET}"
STREAMS = ["deals", "persons", "notes", "leads", "pipelines"]
DESELECTED = "deals.title"  # one property left out with Meltano's `!stream.property`
TARGET_PIP_URL = os.environ.get("RC_TARGET_PIP_URL", "target-jsonl==0.1.4")

ENV = {
    **os.environ,
    "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    "MELTANO_DISABLE_TRACKING": "true",
    "NO_COLOR": "1",
}


def meltano(*args: str, env: dict | None = None, log: str | None = None, cwd: Path = PROJECT) -> subprocess.CompletedProcess:
    cmd = [str(MELTANO), *args]
    p = subprocess.run(cmd, cwd=cwd, env={**ENV, **(env or {})}, capture_output=True, text=True, timeout=900)
    if log:
        (RUN / "meltano").mkdir(exist_ok=True)
        (RUN / "meltano" / log).write_text(f"$ {' '.join(cmd)}\n--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}")
    return p


def tail(p: subprocess.CompletedProcess, n: int = 800) -> str:
    return f"exit {p.returncode}; {(p.stderr or p.stdout)[-n:]!r}"


def create_project(cfg: dict) -> bool:
    shutil.rmtree(PROJECT, ignore_errors=True)
    p = meltano("init", PROJECT.name, "--no_usage_stats", cwd=WORK, log="init.log")
    if not check(SECTION, "meltano init", p.returncode == 0, "" if p.returncode == 0 else tail(p)):
        return False
    doc = yaml.safe_load((PROJECT / "meltano.yml").read_text())
    doc["plugins"] = {
        "extractors": [{
            "name": TAP,
            "namespace": "tap_pipedrive_rs",
            "executable": str(BIN.resolve()),
            "capabilities": ["catalog", "discover", "state", "about"],
            "settings": [
                {"name": "api_key", "kind": "password", "sensitive": True},
                {"name": "start_date", "kind": "date_iso8601"},
                {"name": "base_url", "kind": "string"},
            ],
            "config": {"start_date": cfg["start_date"], "base_url": cfg["base_url"]},
            "select": [f"{s}.*" for s in STREAMS] + [f"!{DESELECTED}"],
        }],
        "loaders": [{
            "name": TARGET,
            "namespace": "target_jsonl",
            "pip_url": TARGET_PIP_URL,
            "executable": "target-jsonl",
            "settings": [
                {"name": "destination_path"},
                {"name": "do_timestamp_file", "kind": "boolean"},
            ],
            "config": {"destination_path": "output"},
        }],
    }
    (PROJECT / "meltano.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    # The secret goes where Meltano puts sensitive settings (.env), not into meltano.yml.
    p = meltano("config", "set", TAP, "api_key", cfg["api_key"], log="config-set.log")
    env_file = (PROJECT / ".env").read_text() if (PROJECT / ".env").exists() else ""
    check(SECTION, "api_key set as a secret (.env)", p.returncode == 0 and "API_KEY" in env_file, "" if p.returncode == 0 else tail(p))
    p = meltano("install", log="install.log")
    if not check(SECTION, f"meltano install ({TARGET_PIP_URL})", p.returncode == 0, "" if p.returncode == 0 else tail(p, 2000)):
        return False
    dists = glob.glob(str(PROJECT / ".meltano/loaders/target-jsonl/venv/lib/python*/site-packages/target_jsonl-*.dist-info"))
    fact(SECTION, "target-jsonl", Path(dists[0]).name.split("-")[1].removesuffix(".dist") if dists else "?")
    return True


def about_and_select() -> None:
    p = meltano("invoke", TAP, "--about", "--format", "json", log="about.log")
    try:
        about = json.loads(p.stdout[p.stdout.index("{"):])
        ok = about.get("name") == "source-pipedrive" and set(about.get("capabilities", [])) >= {"catalog", "discover", "state"}
        check(SECTION, "invoke --about --format json", ok, f"capabilities {about.get('capabilities')}")
    except Exception as e:
        check(SECTION, "invoke --about --format json", False, f"{e}; {tail(p)}")
    p = meltano("select", TAP, "--list", log="select-list.log")
    listed = set(re.findall(r"\[(?:selected|automatic)\s*\]\s+(\w+)\.", p.stdout))
    check(SECTION, "discover + select --list shows the selected streams", p.returncode == 0 and listed == set(STREAMS),
          f"selected streams {sorted(listed)}; {tail(p) if p.returncode else ''}")


def output_counts(dest: Path) -> dict[str, int]:
    counts: collections.Counter = collections.Counter()
    for f in dest.glob("*.jsonl"):
        stream = f.name.rsplit("-", 1)[0] if re.search(r"-\d{8}T\d{6}\.jsonl$", f.name) else f.stem
        with open(f, encoding="utf-8") as fh:
            counts[stream] += sum(1 for line in fh if line.strip())
    return dict(counts)


def state_get() -> dict | None:
    p = meltano("state", "get", STATE_ID)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except Exception:
        return None


def run(n: int) -> tuple[dict, dict | None, str]:
    dest = RUN / "meltano" / f"output-run{n}"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    p = meltano("--log-level=debug", "run", TAP, TARGET, env={"TARGET_JSONL_DESTINATION_PATH": str(dest)}, log=f"run{n}.log")
    check(SECTION, f"run {n}: meltano run {TAP} {TARGET}", p.returncode == 0, "" if p.returncode == 0 else tail(p, 2000))
    invocations = [l for l in (p.stdout + p.stderr).splitlines() if "Invoking:" in l and str(BIN.resolve()) in l and "--catalog" in l]
    cmdline = invocations[-1].split("Invoking:", 1)[1].strip() if invocations else "?"
    counts = output_counts(dest)
    listed = meltano("state", "list")
    check(SECTION, f"run {n}: `meltano state list` lists {STATE_ID}", STATE_ID in listed.stdout, tail(listed) if STATE_ID not in listed.stdout else "")
    state = state_get()
    fact(SECTION, f"run {n} records", counts)
    fact(SECTION, f"run {n} state", state)
    fact(SECTION, f"run {n} tap command", cmdline)
    print(f"[{SECTION}] run {n}: tap command {cmdline}\n[{SECTION}] run {n}: records {counts}\n"
          f"[{SECTION}] run {n}: state {json.dumps(state)}", file=sys.stderr)
    return counts, state, cmdline


def ts(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def bookmarks(state: dict | None) -> dict:
    return ((state or {}).get("singer_state") or {}).get("bookmarks") or {}


def main() -> int:
    fact(SECTION, "meltano", version("meltano"))
    cfg = config()
    ref = reference_counts()
    if not create_project(cfg):
        return 0
    about_and_select()

    # Run 1: no state yet: every record of the selected streams.
    c1, s1, _ = run(1)
    for s in STREAMS:
        check(SECTION, f"run 1 {s} count", c1.get(s) == ref.get(s), f"got {c1.get(s)}, reference {ref.get(s)}")
    dest1 = RUN / "meltano" / "output-run1"
    stream, prop = DESELECTED.split(".")
    rows = [json.loads(l) for f in dest1.glob(f"{stream}*.jsonl") for l in open(f, encoding="utf-8") if l.strip()]
    having = sum(1 for r in rows if prop in r)
    check(SECTION, f"run 1: deselected property {DESELECTED} absent", bool(rows) and having == 0,
          f"{having} of {len(rows)} {stream} records carry {prop}")
    b1 = bookmarks(s1)
    missing = [s for s in STREAMS if s not in b1]
    check(SECTION, "state saved after run 1, a bookmark per selected stream", s1 is not None and not missing,
          f"missing {missing}" if missing else "")

    # Run 2: resumes from the saved state. No data changed, so at most boundary records.
    c2, s2, cmd2 = run(2)
    check(SECTION, "run 2: the tap was given --state", "--state" in cmd2, cmd2)
    for s in STREAMS:
        check(SECTION, f"run 2 {s}: no more records than run 1", c2.get(s, 0) <= c1.get(s, 0),
              f"run 2 {c2.get(s, 0)}, run 1 {c1.get(s, 0)}")
    check(SECTION, "run 2 resumed: emits far fewer records than run 1", sum(c2.values()) <= sum(c1.values()) // 10,
          f"run 2 {sum(c2.values())}, run 1 {sum(c1.values())}")
    b2 = bookmarks(s2)
    behind = {s: (b2.get(s), b1.get(s)) for s in b1 if not b2.get(s) or
              ts(next(iter(b2[s].values()))) < ts(next(iter(b1[s].values())))}
    check(SECTION, "state saved after run 2, no bookmark moved back", s2 is not None and not behind, f"{behind}" if behind else "")

    # Run 3: state set by hand to the median deal update time: exactly the deals updated since.
    deals = [json.loads(l) for f in dest1.glob("deals*.jsonl") for l in open(f, encoding="utf-8") if l.strip()]
    times = sorted(ts(d["update_time"]) for d in deals if d.get("update_time"))
    if times:
        cursor = times[len(times) // 2]
        want = sum(1 for t in times if t >= cursor)
        forced = {"singer_state": {"bookmarks": {**b2, "deals": {"update_time": cursor.strftime("%Y-%m-%dT%H:%M:%SZ")}}}}
        p = meltano("state", "set", "--force", STATE_ID, json.dumps(forced), log="state-set.log")
        check(SECTION, "meltano state set (deals cursor at the median update time)", p.returncode == 0, "" if p.returncode == 0 else tail(p))
        c3, s3, _ = run(3)
        check(SECTION, "run 3 deals: exactly those updated since the cursor", c3.get("deals", 0) == want,
              f"got {c3.get('deals', 0)}, want {want} (cursor {cursor.isoformat()})")
        others = {s: n for s, n in c3.items() if s != "deals" and n}
        check(SECTION, "run 3 other streams: nothing new", not others, f"{others}" if others else "")
        b3 = bookmarks(s3)
        check(SECTION, "state after run 3 moved the deals bookmark past the cursor",
              bool(b3.get("deals")) and ts(b3["deals"]["update_time"]) >= cursor, f"{b3.get('deals')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
