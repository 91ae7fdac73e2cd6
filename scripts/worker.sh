#!/usr/bin/env bash
# The worker process as every start path runs it (`npm run worker`, `npm start`, the pipeline bench; the Dockerfile's
# CMD repeats the flags): node with tsx as a loader, in this process (exec: the pid is the worker's).
#
# WORKER_NODE_FLAGS (default below) are node/V8 flags of the worker only. --max-semi-space-size=4 (MiB): with V8's
# default young generation (32 MiB semi-spaces here) the heap grew to ~200 MB committed in the bench's
# 20,000-command burst while the live heap stayed ~45 MB after each full GC (--trace-gc): peak RSS 320-415 MB.
# Measured peak RSS in that burst (single runs on a shared 2-core VM): 8 MiB 258-316 MB, 4 MiB 257-276 MB;
# throughput of either within the run-to-run noise (1,640-1,850 commands/s). WORKER_EXTRA_NODE_FLAGS are added
# after them (the bench's BENCH_NODE_ARGS, e.g. --cpu-prof).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/node_modules/.bin:$PATH"
cd "$ROOT"
source scripts/source-condition.sh
# shellcheck disable=SC2086 # the flags are words
exec node ${WORKER_NODE_FLAGS---max-semi-space-size=4} ${WORKER_EXTRA_NODE_FLAGS:-} --import tsx src/main.ts "$@"
