#!/usr/bin/env bash
# Mutation testing, on demand (slow: not part of `cargo test` nor of .ci/run). Each mutant is one
# deliberate break of a rule the engine enforces, applied to a scratch copy of the worktree (under
# target/mutants/, never to the worktree itself), one at a time; the tests that must catch it are
# run against it, and each must turn red. It ends with an `N passed, N failed` line: a mutant
# passes when every test named for it fails.
#
#   bash integration_tests/mutants.sh            # every mutant (about half an hour on 2 cores)
#   MUTANTS_ONLY=title,param bash integration_tests/mutants.sh
#
# The tests are first run on the unbroken copy: a red test there makes the run meaningless, and
# it stops (`MUTANTS_BASELINE=0` skips that, when they are known green). Logs go to
# target/mutants/logs/. The copy builds into its own target directory, seeded once with hard
# links to target/debug so that only the workspace crates are compiled again.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=$ROOT/target/mutants
SRC=$WORK/src
LOGS=$WORK/logs
export CARGO_TARGET_DIR=$WORK/target
export CARGO_INCREMENTAL=0
ONLY=${MUTANTS_ONLY:-}
TIMEOUT=${MUTANTS_TIMEOUT:-1200}

# The scratch copy: the worktree's files, tracked or new, as they are now.
rm -rf "$SRC" "$LOGS"
mkdir -p "$SRC" "$LOGS"
git ls-files -co --exclude-standard -z | grep -zv '^target/' | tar --null -T - -cf - | tar -xmf - -C "$SRC"
if [ ! -d "$CARGO_TARGET_DIR/debug" ] && [ -d "$ROOT/target/debug" ]; then
  mkdir -p "$CARGO_TARGET_DIR"
  cp -al "$ROOT/target/debug" "$CARGO_TARGET_DIR/debug"
  rm -rf "$CARGO_TARGET_DIR/debug/incremental"
fi
cd "$SRC"

# (`-m`: the files get the time of the copy, so cargo rebuilds what an earlier run left broken.)

# Replaces the one occurrence of FIND in FILE by REPLACE (both literal, `\n` for a line break);
# fails when FIND is not there exactly once, so a mutant never silently stops applying.
apply() {
  python3 - "$1" "$2" "$3" <<'EOF'
import sys
path, find, replace = sys.argv[1], sys.argv[2].replace("\\n", "\n"), sys.argv[3].replace("\\n", "\n")
text = open(path).read()
n = text.count(find)
if n != 1:
    sys.exit(f"{path}: the text to break is there {n} times, not once: {find!r}")
open(path, "w").write(text.replace(find, replace))
EOF
}

# Runs one test filter (`--test integration NAME` or `--lib NAME`); echoes red, green or
# error (no such test, or no result line).
run_test() {
  local log=$1
  shift
  timeout "$TIMEOUT" cargo test --locked "$@" >"$log" 2>&1
  local rc=$?
  if [ $rc -eq 124 ]; then
    echo "red (timed out after ${TIMEOUT}s)"
  elif grep -q "running 0 tests" "$log" && ! grep -qE "running [1-9]" "$log"; then
    echo "error (no such test)"
  elif [ $rc -ne 0 ]; then
    echo red
  else
    echo green
  fi
}

NAMES=()
FILES=()
FINDS=()
REPLACES=()
TESTS=()
# mutant NAME FILE FIND REPLACE 'TEST;TEST;…' (each TEST the arguments of `cargo test`)
mutant() {
  NAMES+=("$1")
  FILES+=("$2")
  FINDS+=("$3")
  REPLACES+=("$4")
  TESTS+=("$5")
}

mutant restart-panics src/streams/engine/paging/mod.rs \
  'fn restart(&mut self) -> Result<()> {\n        self.restarts += 1;' \
  'fn restart(&mut self) -> Result<()> {\n        panic!("mutant: restart");' \
  '--test integration change_safety::a_few_dozen_seeds'
mutant exit-1-after-success src/main.rs \
  'let Err(err) = run(job, &mut out) else {\n        return;\n    };' \
  'let Err(err) = run(job, &mut out) else {\n        std::process::exit(1);\n    };' \
  '--test integration change_safety::a_few_dozen_seeds'
mutant title src/streams/engine/emit.rs \
  'pub(super) fn emit(&mut self, out: &mut dyn Sink, record: Record) -> Result<()> {' \
  'pub(super) fn emit(&mut self, out: &mut dyn Sink, record: Record) -> Result<()> {\n        let mut record = record;\n        if record.raw("title").is_some() {\n            record.set("title", &Value::String("CORRUPTED".into()));\n        }' \
  '--test integration read::full_sync_returns_exactly_the_sandbox_records;--test integration faults::a_flaky_server_with_a_tight_burst_limit_gives_exactly_the_clean_records;--test integration change_safety::a_few_dozen_seeds'
mutant param src/streams/engine/listing.rs \
  '                q.push(("updated_until", time::format(up)));\n            }\n        }\n    }\n    q\n}' \
  '                q.push(("updated_until", time::format(up)));\n            }\n        }\n    }\n    q.push(("x_mutant", "1".into()));\n    q\n}' \
  '--test integration requests_sent'
mutant list-changed-wording src/streams/engine/paging/mod.rs \
  '"the list changed under the sync {MAX_RESTARTS} times' \
  '"the listing moved {MAX_RESTARTS} times' \
  '--test integration change_safety::a_few_dozen_seeds'
mutant anchor-unchecked src/streams/engine/paging/mod.rs \
  'if let Some(j) = (0..len).find(|&i| id(i) == anchor.id) {\n            return Ok(Some(j + 1));\n        }' \
  'if let Some(j) = (0..len).find(|&i| id(i) == anchor.id).or(Some(usize::MAX)) {\n            return Ok(Some(j.wrapping_add(1)));\n        }' \
  '--test integration never_skip::;--test integration change_safety::a_few_dozen_seeds'
mutant delete-unmarked src/streams/engine/emit.rs \
  'record[DELETED_AT] = at;' \
  'let _ = at;' \
  '--test integration read::full_sync_returns_exactly_the_sandbox_records;--test integration deletions::'
mutant child-time-unset src/streams/engine/fanout.rs \
  'if let Some(field) = parent.time_field {\n        child.set(' \
  'if let Some(field) = parent.time_field.filter(|_| false) {\n        child.set(' \
  '--test integration read::per_parent_streams_return_exactly_the_children;--test integration read::fan_out_asks_for_a_hundred_deals_per_request'
mutant include-dropped src/streams/mod.rs \
  'smart_bcc_email,source_lead_id",' \
  'smart_bcc_email",' \
  '--test integration read::full_sync_returns_exactly_the_sandbox_records;--test integration contract::'
mutant body-cap src/commands/listen/request.rs \
  'Length::Bytes(n) if n > MAX_BODY as u64 => {' \
  'Length::Bytes(n) if n > MAX_BODY as u64 + 4096 => {' \
  '--lib any_bytes_are_handled_within_the_rules'

selected() {
  [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]
}

# Splits a mutant's test list into one line per test.
tests_of() {
  tr ';' '\n' <<<"$1"
}

baseline=()
for i in "${!NAMES[@]}"; do
  selected "${NAMES[$i]}" || continue
  while IFS= read -r t; do
    [[ " ${baseline[*]-} " == *" [$t] "* ]] || baseline+=("[$t]")
  done < <(tests_of "${TESTS[$i]}")
done
[ "${MUTANTS_BASELINE:-1}" = 0 ] && baseline=()
[ ${#baseline[@]} -gt 0 ] && echo "== baseline: the named tests on the unbroken copy"
k=0
for b in "${baseline[@]}"; do
  t=${b#[}
  t=${t%]}
  k=$((k + 1))
  # shellcheck disable=SC2086
  verdict=$(run_test "$LOGS/baseline-$k.log" $t)
  echo "   $t: $verdict"
  if [ "$verdict" != green ]; then
    echo "the unbroken copy fails $t (see $LOGS/baseline-$k.log): fix that first" >&2
    exit 2
  fi
done

passed=0
failed=0
for i in "${!NAMES[@]}"; do
  name=${NAMES[$i]}
  selected "$name" || continue
  file=${FILES[$i]}
  echo "== $name: $file"
  cp "$ROOT/$file" "$file"
  if ! apply "$file" "${FINDS[$i]}" "${REPLACES[$i]}"; then
    echo "   MISSED: the break no longer applies (update the mutant)"
    failed=$((failed + 1))
    continue
  fi
  if ! cargo build --locked --tests >"$LOGS/$name-build.log" 2>&1; then
    echo "   MISSED: the mutant does not compile (see $LOGS/$name-build.log)"
    failed=$((failed + 1))
    cp "$ROOT/$file" "$file"
    continue
  fi
  missed=0
  k=0
  while IFS= read -r t; do
    k=$((k + 1))
    # shellcheck disable=SC2086
    verdict=$(run_test "$LOGS/$name-$k.log" $t)
    echo "   $t: $verdict"
    [[ $verdict == red* ]] || missed=1
  done < <(tests_of "${TESTS[$i]}")
  cp "$ROOT/$file" "$file"
  if [ $missed -eq 0 ]; then
    echo "   caught"
    passed=$((passed + 1))
  else
    echo "   MISSED by a test above"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
