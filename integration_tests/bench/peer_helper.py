"""Helper of peer.sh (stdlib only): configured catalogs, record counts and the report.

    peer_helper.py catalog DISCOVER_OUTPUT STREAMS_CSV > configured_catalog.json
    peer_helper.py count MESSAGES.jsonl > counts.json
    peer_helper.py report RUN_DIR SIZE STREAMS_CSV

`count` reads the connector's stdout: one Airbyte message per line. Records are the lines whose
`type` is RECORD (counted per stream); error TRACE messages are collected too.
"""

import json
import statistics
import sys
from collections import Counter
from pathlib import Path


def messages(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                yield json.loads(line)
            except ValueError:
                continue


def catalog(discover_output, streams_csv):
    wanted = streams_csv.split(",")
    found = None
    for m in messages(discover_output):
        if m.get("type") == "CATALOG":
            found = {s["name"]: s for s in m["catalog"]["streams"]}
    if found is None:
        sys.exit(f"no CATALOG message in {discover_output}")
    missing = [s for s in wanted if s not in found]
    if missing:
        sys.exit(f"{discover_output}: streams not in the catalog: {', '.join(missing)}")
    configured = {
        "streams": [
            {
                "stream": found[name],
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
            for name in wanted
        ]
    }
    json.dump(configured, sys.stdout)


def count(path):
    records = Counter()
    errors = []
    for m in messages(path):
        kind = m.get("type")
        if kind == "RECORD":
            records[m["record"]["stream"]] += 1
        elif kind == "TRACE" and m["trace"].get("type") == "ERROR":
            error = m["trace"].get("error", {})
            errors.append(error.get("internal_message") or error.get("message") or "?")
    json.dump({"records": records, "errors": errors}, sys.stdout)


def load(path):
    return json.loads(Path(path).read_text())


def time_of(path):
    """`/usr/bin/time -f '%e %U %S %M %x'`: wall s, user s, sys s, max RSS KiB, exit code."""
    wall, user, sys_, rss, code = Path(path).read_text().split()[-5:]
    return {
        "wall": float(wall),
        "user": float(user),
        "sys": float(sys_),
        "rss_kib": int(rss),
        "exit": int(code),
    }


def report(run_dir, size, streams_csv):
    run = Path(run_dir)
    streams = streams_csv.split(",")
    sides = [("peer", "airbyte-source-pipedrive 2.3.7"), ("ours", "source-pipedrive")]
    rounds = sorted(
        int(p.stem.split(".")[1])
        for p in run.glob("ours.*.time")
        if p.stem.split(".")[1].isdigit()
    )
    failed = False

    # Records per stream: the last round of each side (every round reads the same data).
    last = rounds[-1]
    counts = {side: load(run / f"{side}.{last}.counts.json") for side, _ in sides}
    print(f"\nrecords per stream (round {last}):")
    print(f"  {'stream':<22}{'peer':>9}{'ours':>9}")
    mismatched = []
    for s in streams:
        p = counts["peer"]["records"].get(s, 0)
        o = counts["ours"]["records"].get(s, 0)
        mark = "" if p == o else f"   <-- differs by {p - o:+d}"
        if p != o:
            mismatched.append(s)
        print(f"  {s:<22}{p:>9}{o:>9}{mark}")
    extra = {
        side: sorted(set(counts[side]["records"]) - set(streams)) for side, _ in sides
    }
    for side, names in extra.items():
        if names:
            print(f"  ({side} also emitted records of unrequested streams: {', '.join(names)})")
            failed = True
    for side, label in sides:
        for e in counts[side]["errors"]:
            print(f"  {label}: error TRACE: {e[:300]}")
            failed = True
    if mismatched:
        failed = True
        print(
            "  COUNTS DIFFER for: " + ", ".join(mismatched) + ". The two connectors did not read the "
            "same records there (a pagination or filter difference, or a failed stream: see the "
            "error TRACEs above and the stderr files in " + str(run) + "); CPU per record below is "
            "each side's CPU over its own record count."
        )

    # CPU per record, per round and as medians.
    print(f"\nCPU of the connector process (getrusage of the child, via /usr/bin/time):")
    header = (
        f"  {'connector':<32}{'round':>6}{'records':>10}{'wall s':>9}{'user s':>9}"
        f"{'sys s':>8}{'CPU s':>9}{'µs CPU/rec':>12}{'peak RSS MiB':>14}{'stdout MB':>11}"
    )
    print(header)
    per_record = {side: [] for side, _ in sides}
    summary = {}
    for side, label in sides:
        rows = []
        for k in rounds:
            t = time_of(run / f"{side}.{k}.time")
            c = load(run / f"{side}.{k}.counts.json")
            n = sum(c["records"].get(s, 0) for s in streams)
            cpu = t["user"] + t["sys"]
            out_mb = (run / f"{side}.{k}.jsonl").stat().st_size / 1e6
            us = cpu / n * 1e6 if n else float("nan")
            per_record[side].append(us)
            rows.append((t, n, cpu, us, out_mb))
            print(
                f"  {label:<32}{k:>6}{n:>10}{t['wall']:>9.2f}{t['user']:>9.2f}{t['sys']:>8.2f}"
                f"{cpu:>9.2f}{us:>12.1f}{t['rss_kib'] / 1024:>14.1f}{out_mb:>11.1f}"
            )
            if t["exit"] != 0:
                print(f"  {label}: exit code {t['exit']} in round {k}")
                failed = True
        summary[side] = rows
    spec = {side: time_of(run / f"{side}.spec.time") for side, _ in sides}
    med = {side: statistics.median(v) for side, v in per_record.items()}
    ratio = med["peer"] / med["ours"] if med["ours"] else float("inf")
    print(
        f"\n  start-up alone (`spec`, CPU user+sys): peer {spec['peer']['user'] + spec['peer']['sys']:.2f} s, "
        f"ours {spec['ours']['user'] + spec['ours']['sys']:.2f} s (included in the figures above)"
    )
    print(f"  median µs CPU per record: peer {med['peer']:.1f}, ours {med['ours']:.2f}")
    # The peer's v1 records are larger than ours (v1 carried more fields): CPU per MB written
    # shows the difference is not just record size.
    per_mb = {
        side: statistics.median(cpu / mb for _, _, cpu, _, mb in rows if mb)
        for side, rows in summary.items()
    }
    print(
        f"  median CPU s per MB written to stdout: peer {per_mb['peer']:.3f}, "
        f"ours {per_mb['ours']:.4f} (ratio {per_mb['peer'] / per_mb['ours']:.1f}x)"
    )
    verdict = "meets" if ratio >= 50 else "DOES NOT meet"
    print(f"  ratio peer/ours (CPU per record): {ratio:.1f}x ({verdict} the 50x goal of issue #7)")
    print(f"  size {size} records per main resource; files in {run}")
    return 1 if failed else 0


def main():
    cmd, *args = sys.argv[1:]
    if cmd == "catalog":
        catalog(*args)
    elif cmd == "count":
        count(*args)
    elif cmd == "report":
        sys.exit(report(*args))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
