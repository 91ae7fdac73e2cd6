#!/usr/bin/env bash
# tsx with the workspace package @experimentation-worker/client resolved to its TypeScript source (the
# "experimentation-worker-source" condition of packages/client/package.json), so no build of it is needed and none
# goes stale. NODE_OPTIONS rather than a flag: processes started from here (bench workers, tests' workers) get it.
# Usage: bash scripts/tsx.sh <file.ts> [args…]   (npm run worker / cli / migrate / bench use it)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/node_modules/.bin:$PATH"
source "$ROOT/scripts/source-condition.sh"
exec "$ROOT/node_modules/.bin/tsx" "$@"
