#!/usr/bin/env bash
# On demand (not part of `cargo test`): refreshes integration_tests/contract/pipedrive-contract.json
# from the official Pipedrive Node client on npm, the published form of Pipedrive's v1 and v2
# OpenAPI documents. The default test `contract` (integration_tests/contract.rs) checks the
# stream table, schemas/ and the README against that committed JSON, without network.
#
#   bash integration_tests/contract/distill.sh            # newest `pipedrive` on npm
#   PIPEDRIVE_VERSION=33.7.0 bash integration_tests/contract/distill.sh
#
# Needs node (18+) and npm with access to the npm registry. Everything it downloads goes to a
# scratch directory that is removed at the end. Then: `cargo test --locked --test integration
# contract`, and fix the schemas (or the stream table) where it says.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$HERE/pipedrive-contract.json"
PIPEDRIVE_VERSION="${PIPEDRIVE_VERSION:-latest}"
TYPESCRIPT_VERSION=5.9.3 # the compiler API that reads the client's type declarations

for tool in node npm tar; do
  command -v "$tool" >/dev/null || { echo "distill: $tool is required" >&2; exit 1; }
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "distill: fetching pipedrive@$PIPEDRIVE_VERSION and typescript@$TYPESCRIPT_VERSION" >&2
(cd "$WORK" && npm pack --silent "pipedrive@$PIPEDRIVE_VERSION" >/dev/null)
tar -xzf "$WORK"/pipedrive-*.tgz -C "$WORK"
mkdir -p "$WORK/tools"
npm install --silent --no-save --no-audit --no-fund --ignore-scripts --prefix "$WORK/tools" \
  "typescript@$TYPESCRIPT_VERSION" >/dev/null

NODE_PATH="$WORK/tools/node_modules" node "$HERE/distill.js" "$WORK/package" "$ROOT/src" >"$WORK/contract.json"
mv "$WORK/contract.json" "$OUT"

version=$(node -e 'console.log(require(process.argv[1]).client.version)' "$OUT")
echo "distill: wrote ${OUT#"$ROOT"/} from pipedrive@$version" >&2
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$ROOT" diff --stat -- "${OUT#"$ROOT"/}" >&2 || true
fi
