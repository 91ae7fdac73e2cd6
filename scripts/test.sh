#!/usr/bin/env bash
# `npm test`: starts what the tests need (broker; checks Redis and Postgres), then runs every test.
# Extra arguments go to vitest (e.g. `npm test -- --project unit`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/node_modules/.bin:$PATH"
cd "$ROOT"
bash scripts/kafka.sh start
tsx src/cli/check-redis.ts
exec vitest run "$@"
