#!/usr/bin/env bash
# The local stack the worker needs: a Kafka broker (started here, see scripts/kafka.sh), Postgres and Redis
# (expected to be running; checked here), the database created and migrated.
#   scripts/stack.sh up | down | status
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/node_modules/.bin:$PATH"
cd "$ROOT"
source scripts/source-condition.sh

up() {
  bash scripts/kafka.sh start
  tsx src/cli/check-redis.ts
  DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/experimentation}" tsx src/cli/migrate.ts \
    || { echo "[stack] error: could not migrate the database at \${DATABASE_URL} (is Postgres running?)" >&2; exit 1; }
}

case "${1:-}" in
  up) up ;;
  down) bash scripts/kafka.sh stop ;;
  status) bash scripts/kafka.sh status || true; tsx src/cli/check-redis.ts || true ;;
  -h|--help|help|"") echo "usage: scripts/stack.sh up|down|status  (broker + Redis check + database migrations)" ;;
  *) echo "unknown command '$1' (up|down|status)" >&2; exit 2 ;;
esac
