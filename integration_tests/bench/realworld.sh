#!/usr/bin/env bash
# The README's real-world table (issue #22), before and after, measured in one run.
#
#   bash integration_tests/bench/realworld.sh [BASELINE_COMMIT]
#
# Builds the connector of BASELINE_COMMIT (default e86ba29) in release mode, then runs the
# real-world benchmark (`cargo bench --bench sync`, integration_tests/bench/world.rs) with that
# binary as "before" and this checkout as "after": both companies (--size 5200,22000: about 60k
# and 250k records), latency 50, 150 and 300 ms, burst limits 20, 40, 160 and 480 per 2 s,
# max_concurrent_streams 3, one round. The two builds take turns in each configuration. stdout
# gets the benchmark's tables (one row per sync, then the compact before/after table for the
# README); stderr gets the estimate of the run time, the builds' output and progress.
#
# Only what is needed is built: the baseline binary once per commit, by its own `cargo bench
# --no-run --bench sync` so that it gets the same features as this checkout's (see the build
# below); it is kept as target/realworld/source-pipedrive-<commit>, its sources checked out in a
# git worktree under target/realworld/ for the build and removed after, and it shares
# target/release with this checkout, so dependencies already compiled are not compiled again.
# Then this checkout's benchmark.
#
# Environment, for a smaller grid (e.g. a smoke run): REALWORLD_SIZES (default 5200,22000),
# REALWORLD_LATENCY_MS (50,150,300), REALWORLD_LIMITS (20,40,160,480), REALWORLD_CONCURRENCY (3),
# REALWORLD_ROUNDS (1).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK="$ROOT/target/realworld"
COMMIT=${1:-e86ba29}
SIZES=${REALWORLD_SIZES:-5200,22000}
LATENCIES=${REALWORLD_LATENCY_MS:-50,150,300}
LIMITS=${REALWORLD_LIMITS:-20,40,160,480}
CONCURRENCY=${REALWORLD_CONCURRENCY:-3}
ROUNDS=${REALWORLD_ROUNDS:-1}

die() { echo "realworld.sh: $*" >&2; exit 1; }
say() { printf '=== %s\n' "$*" >&2; }

case ${1:-} in
  -h|--help) sed -n '2,23p' "${BASH_SOURCE[0]}"; exit 0 ;;
esac
[[ $# -le 1 ]] || die "one argument at most: the baseline commit"

SHA=$(git -C "$ROOT" rev-parse --verify --quiet "$COMMIT^{commit}") ||
  die "no commit $COMMIT in $ROOT"
SHORT=${SHA:0:12}
BASE_BIN="$WORK/source-pipedrive-$SHORT"

# The estimate: each sync takes about the longer of its burst window's share of its requests
# (requests x 2 s / limit, plus 15%) and the chain of requests one stream reads one after another
# (about 55% of them, each a latency long), plus the 2.1 s the window is left to empty before
# it. Requests per company: 331 at --size 5200 and 1,153 at 22000 (README), so about
# 77 + 0.049 x size. A faster pacing than the baseline's only makes it shorter.
estimate=$(awk -v sizes="$SIZES" -v lat="$LATENCIES" -v lim="$LIMITS" -v conc="$CONCURRENCY" \
  -v rounds="$ROUNDS" 'BEGIN {
    ns = split(sizes, s, ","); nl = split(lat, l, ","); nm = split(lim, m, ",")
    nc = split(conc, c, ",")
    for (i = 1; i <= ns; i++) {
      req = 77 + 0.049 * s[i]
      for (j = 1; j <= nl; j++) for (k = 1; k <= nm; k++) {
        window = req * 2 / m[k] * 1.15; chain = 0.55 * req * l[j] / 1000
        total += (window > chain ? window : chain) + 2.1
      }
    }
    printf "%d", total * 2 * nc * rounds
  }')
cached=no
[[ -x $BASE_BIN ]] && cached=yes
say "grid: sizes $SIZES, latency $LATENCIES ms, limits $LIMITS / 2 s, streams $CONCURRENCY, $ROUNDS round(s); before: $COMMIT ($SHORT), after: this checkout"
say "estimated run time: about $((estimate / 60)) min of syncs ($((estimate)) s), plus the builds$([[ $cached == yes ]] && echo " of this checkout (the baseline binary is cached)" || echo " (the baseline's release build: a few minutes on two cores)")"

if [[ $cached == no ]]; then
  mkdir -p "$WORK"
  SRC="$WORK/src-$SHORT"
  cleanup() { git -C "$ROOT" worktree remove --force "$SRC" 2>/dev/null || true; }
  trap cleanup EXIT
  cleanup
  say "building the baseline $SHORT in $SRC"
  git -C "$ROOT" worktree add --detach "$SRC" "$SHA" >&2
  # Built as the benchmark builds this checkout's binary: `cargo bench` builds it with the
  # features the dev-dependencies turn on (jsonschema turns on serde_json's float_roundtrip),
  # which `cargo build --release --bin` leaves off; without them a float can come out one ulp
  # away from the API's, and the records' digests of the two builds differ.
  (cd "$SRC" && cargo bench --locked --no-run --bench sync --target-dir "$ROOT/target" >&2)
  # Copied out of target/release, where the benchmark's own build puts this checkout's binary
  # back next.
  cp "$ROOT/target/release/source-pipedrive" "$BASE_BIN.tmp"
  mv "$BASE_BIN.tmp" "$BASE_BIN"
  cleanup
  trap - EXIT
fi

say "running the benchmark"
cd "$ROOT"
cargo bench --locked --bench sync -- --size "$SIZES" --latency-ms "$LATENCIES" \
  --burst-limit "$LIMITS" --concurrency "$CONCURRENCY" --rounds "$ROUNDS" \
  --baseline-bin "$BASE_BIN"
