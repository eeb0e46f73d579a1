#!/usr/bin/env bash
# The image test: builds the project's Dockerfile from a clean clone of this checkout's HEAD and
# runs the image as Airbyte's launcher does (integration_tests/image.rs), validates every message
# the containers wrote with `airbyte-protocol-models`, and measures the image.
#
#   bash integration_tests/image/run.sh
#
# Needs a Docker engine, git, cargo, python3.11 (or IMAGE_PYTHON) and PyPI. Without a registry
# (this project's machines) the bases are local stand-ins made by stand-ins.sh from Debian's
# packages; IMAGE_PINNED_BASES=1 builds on the Dockerfile's pinned bases instead. Work files go
# under target/image-test/ (the protocol venv is reused). Ends with `N passed, N failed`; exits
# non-zero if any check failed. IMAGE_FIGURE_SIZE (default 2000) sets the sandbox size of the
# timed reads, IMAGE_FIGURE_ROUNDS (default 3) their rounds.
set -euo pipefail

START=$(date +%s)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK="$ROOT/target/image-test"
OUT="$WORK/out"
PY="${IMAGE_PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
PROTOCOL_MODELS_VERSION=0.18.0 # as integration_tests/real_clients
FIGURE_SIZE="${IMAGE_FIGURE_SIZE:-2000}"
ROUNDS="${IMAGE_FIGURE_ROUNDS:-3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

say() { printf '\n=== %s\n' "$*" >&2; }
PASSED=0
FAILED=0
check() { # ok|FAILED, what
  if [[ $1 == ok ]]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
  printf '%-6s %s\n' "$1" "$2"
}
finish() {
  echo
  echo "image test: $PASSED passed, $FAILED failed ($(($(date +%s) - START)) s)"
  if [[ $FAILED == 0 ]]; then exit 0; fi
  exit 1
}
now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

if ! docker info >/dev/null 2>&1; then
  echo "no Docker engine answers (docker info failed): cannot build or run the image" >&2
  exit 1
fi
mkdir -p "$WORK"
rm -rf "$OUT"
mkdir -p "$OUT"

# --- the bases ------------------------------------------------------------------------------
BUILD_ARGS=()
if [[ "${IMAGE_PINNED_BASES:-0}" == 1 ]]; then
  say "bases: the Dockerfile's pinned defaults"
else
  say "bases: local stand-ins (integration_tests/image/stand-ins.sh)"
  mapfile -t bases < <(bash "$HERE/stand-ins.sh")
  BUILD_ARGS=(--build-arg "BASE_IMAGE=${bases[0]}" --build-arg "BUILD_IMAGE=${bases[1]}")
  echo "BASE_IMAGE=${bases[0]} BUILD_IMAGE=${bases[1]}" >&2
fi

# --- a clean clone, built -------------------------------------------------------------------
REPO=$(awk '$1 == "dockerRepository:" {print $2}' "$ROOT/metadata.yaml")
TAG=$(awk '$1 == "dockerImageTag:" {print $2}' "$ROOT/metadata.yaml")
IMAGE="$REPO:$TAG"
HEAD=$(git -C "$ROOT" rev-parse HEAD)
if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ]]; then
  echo "note: uncommitted changes are not in the image (it is built from HEAD $HEAD)" >&2
fi
rm -rf "$WORK/clone"
git clone -q "$ROOT" "$WORK/clone"
git -C "$WORK/clone" checkout -q "$HEAD"
say "docker build -t $IMAGE (clean clone of $HEAD; log: $WORK/build.log)"
# The build stage gets a name of its own, so that the previous run's (1.2 GB) can be removed
# once this one is built; its dependency layer stays cached while Cargo.lock is unchanged.
STAGE="source-pipedrive-image-test/build-stage:latest"
OLD_IDS=$(docker image inspect -f '{{.Id}}' "$IMAGE" "$STAGE" 2>/dev/null || true)
t0=$(now_ms)
if docker build --force-rm "${BUILD_ARGS[@]}" --target build -t "$STAGE" "$WORK/clone" >"$WORK/build.log" 2>&1 &&
  docker build --force-rm "${BUILD_ARGS[@]}" -t "$IMAGE" "$WORK/clone" >>"$WORK/build.log" 2>&1; then
  BUILD_S=$((($(now_ms) - t0) / 1000))
  check ok "docker build of a clean clone ($BUILD_S s)"
else
  tail -n 40 "$WORK/build.log" >&2
  check FAILED "docker build of a clean clone (see $WORK/build.log)"
  finish
fi
NEW_IDS=$(docker image inspect -f '{{.Id}}' "$IMAGE" "$STAGE")
for id in $OLD_IDS; do # the previous run's images, if now untagged
  grep -q "$id" <<<"$NEW_IDS" || docker rmi "$id" >/dev/null 2>&1 || true
done

# --- the image as Airbyte runs it -----------------------------------------------------------
say "cargo test --test integration image:: -- --ignored (log: $WORK/tests.log)"
rc=0
IMAGE_UNDER_TEST="$IMAGE" IMAGE_TEST_OUT="$OUT" \
  cargo test --locked --test integration image:: -- --ignored --test-threads=1 >"$WORK/tests.log" 2>&1 || rc=$?
tests=$(grep -E '^test image::[a-z_:]+ \.\.\. ' "$WORK/tests.log" || true)
# Every test cargo counted must have been read above (a pattern that misses one would drop it).
counted=$(sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p' "$WORK/tests.log" | awk '{print $1 + $2}')
if [[ -z "$tests" || "$(grep -c . <<<"$tests")" != "${counted:-none}" ]]; then
  tail -n 40 "$WORK/tests.log" >&2
  check FAILED "the image tests ran and were all read (cargo test exited $rc; $counted counted)"
else
  while read -r _ name _ verdict; do
    check "$([[ $verdict == ok ]] && echo ok || echo FAILED)" "${name#image::}"
  done <<<"$tests"
  if [[ $rc != 0 ]]; then
    sed -n '/^failures:$/,/^test result/p' "$WORK/tests.log" | head -n 80 >&2
  fi
fi

# --- protocol validity of every container output -------------------------------------------
venv="$WORK/protocol"
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('airbyte-protocol-models') != '$PROTOCOL_MODELS_VERSION')" 2>/dev/null; then
  say "creating venv $venv (airbyte-protocol-models==$PROTOCOL_MODELS_VERSION)"
  rm -rf "$venv"
  "$PY" -m venv "$venv"
  "$venv/bin/pip" install -q "airbyte-protocol-models==$PROTOCOL_MODELS_VERSION" >"$WORK/pip.log" 2>&1 ||
    { tail -n 20 "$WORK/pip.log" >&2; check FAILED "pip install airbyte-protocol-models"; finish; }
fi
while read -r verdict rest; do
  check "$verdict" "$rest"
done < <("$venv/bin/python" "$HERE/validate.py" "$OUT" || true)

# --- figures ----------------------------------------------------------------------------------
say "figures"
BIN="$WORK/source-pipedrive" # the image's own binary, to time the same read outside a container
box="sp-image-test-cp-$$"
docker create --name "$box" "$IMAGE" >/dev/null
docker cp "$box:/usr/local/bin/source-pipedrive" "$BIN" >/dev/null
docker rm "$box" >/dev/null
SIZE_MB=$(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.1f", $1 / 1e6}')
BASE_MB=$(docker image inspect -f '{{.Size}}' "${bases[0]:-debian:bookworm-slim}" 2>/dev/null | awk '{printf "%.1f", $1 / 1e6}' || echo "?")
BIN_MB=$(stat -c %s "$BIN" | awk '{printf "%.1f", $1 / 1e6}')

# docker run to the spec answer, against a container that runs nothing (/bin/true): the engine's
# own cost on this machine, measured in the same rounds.
spec_in=() spec_out=() noop=()
for _ in 1 2 3 4 5; do
  t=$(now_ms); docker run --rm -i "$IMAGE" spec </dev/null >/dev/null; spec_in+=($(($(now_ms) - t)))
  t=$(now_ms); docker run --rm -i --entrypoint /bin/true "$IMAGE" </dev/null; noop+=($(($(now_ms) - t)))
  t=$(now_ms); "$BIN" spec >/dev/null; spec_out+=($(($(now_ms) - t)))
done
SPEC_IN=$(printf '%s\n' "${spec_in[@]}" | median)
NOOP=$(printf '%s\n' "${noop[@]}" | median)
SPEC_OUT=$(printf '%s\n' "${spec_out[@]}" | median)

fig="$WORK/figures"
rm -rf "$fig"
mkdir -p "$fig"
chmod 755 "$fig"
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"$BIN" sandbox --port "$PORT" --size "$FIGURE_SIZE" 2>"$fig/sandbox.stderr" &
SANDBOX_PID=$!
trap 'kill "$SANDBOX_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q '"base_url"' "$fig/sandbox.stderr" 2>/dev/null && break
  sleep 0.1
done
grep '"base_url"' "$fig/sandbox.stderr" | tail -n 1 >"$fig/config.json"
chmod 644 "$fig/config.json"
read_in=() read_out=()
counts_agree=ok
for round in $(seq 1 "$ROUNDS"); do
  t=$(now_ms)
  docker run --rm -i --network host -v "$fig:/config:ro" "$IMAGE" read --config /config/config.json </dev/null >"$WORK/read-in.jsonl" 2>/dev/null || counts_agree=FAILED
  read_in+=($(($(now_ms) - t)))
  t=$(now_ms)
  "$BIN" read --config "$fig/config.json" >"$WORK/read-out.jsonl" 2>/dev/null || counts_agree=FAILED
  read_out+=($(($(now_ms) - t)))
  n_in=$(grep -c '"type":"RECORD"' "$WORK/read-in.jsonl" || true)
  n_out=$(grep -c '"type":"RECORD"' "$WORK/read-out.jsonl" || true)
  [[ $n_in == "$n_out" && $n_in -gt 0 ]] || counts_agree=FAILED
  echo "round $round: container ${read_in[-1]} ms, outside ${read_out[-1]} ms ($n_in / $n_out records)" >&2
done
kill "$SANDBOX_PID" 2>/dev/null || true
check "$counts_agree" "timed reads: the container and the same binary outside read the same records ($n_in, size $FIGURE_SIZE)"
READ_IN=$(printf '%s\n' "${read_in[@]}" | median)
READ_OUT=$(printf '%s\n' "${read_out[@]}" | median)
RATIO=$(awk -v a="$READ_IN" -v b="$READ_OUT" 'BEGIN {printf "%.2f", a / b}')

cat <<FIGURES

figures ($(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)):
  image $IMAGE: $SIZE_MB MB (base $BASE_MB MB, binary $BIN_MB MB)
  docker build of the clean clone: ${BUILD_S} s
  docker run to the spec answer: median $SPEC_IN ms of 5 (a container running /bin/true: $NOOP ms; the binary alone: $SPEC_OUT ms)
  full read of the default catalog, sandbox size $FIGURE_SIZE ($n_in records), median of $ROUNDS rounds:
    in the container $READ_IN ms, outside $READ_OUT ms: ratio $RATIO
FIGURES
finish
