#!/usr/bin/env bash
# `npm start`: the whole local stack, then the worker in the foreground (Ctrl-C stops the worker; the broker
# keeps running for the next start: `npm run stack down` stops it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/node_modules/.bin:$PATH"
cd "$ROOT"
source scripts/source-condition.sh
bash scripts/stack.sh up
if [ -z "${COMMAND_KEYS:-}" ]; then
  # Local-only signing keys so the quick start and the README walkthrough work out of the box.
  export COMMAND_KEYS="local-system:local-system-secret:system,local-user:local-user-secret:user"
  echo "[start] COMMAND_KEYS not set: using the local development keys local-system and local-user"
fi
exec bash scripts/worker.sh
