#!/usr/bin/env bash
# `npm test`: starts what the tests need (broker; checks Redis and Postgres), then runs every test.
# Extra arguments go to vitest (e.g. `npm test -- --project unit`).
# The broker address: KAFKA_BROKERS, or KAFKA_HOST/KAFKA_PORT (scripts/kafka.sh); given one, the other follows.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/node_modules/.bin:$PATH"
cd "$ROOT"
source scripts/source-condition.sh
if [ -n "${KAFKA_BROKERS:-}" ] && [ -z "${KAFKA_PORT:-}" ]; then
  first="${KAFKA_BROKERS%%,*}"
  export KAFKA_HOST="${first%:*}" KAFKA_PORT="${first##*:}"
fi
export KAFKA_BROKERS="${KAFKA_BROKERS:-${KAFKA_HOST:-127.0.0.1}:${KAFKA_PORT:-9092}}"
bash scripts/kafka.sh start
tsx src/cli/check-redis.ts
# Each run has its own database, Redis keys and topics (test/integration/test-run.ts), removed at its end; a
# vitest killed before its teardown leaves them, so once vitest has exited, leftovers of dead runs are removed.
trap 'tsx test/integration/remove-dead-runs.ts' EXIT
vitest run "$@"
