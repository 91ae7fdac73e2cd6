#!/usr/bin/env bash
# The README walkthrough, runnable against the quick-start stack (`npm start` in another terminal).
# Each step prints the worker's reply; the script stops at the first unexpected status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export COMMAND_KEYS="${COMMAND_KEYS:-local-system:local-system-secret:system,local-user:local-user-secret:user}"
N=$((RANDOM * 1000 + RANDOM))   # fresh ids, so the walkthrough can run again
ENV="walkthrough-$N"

step() { # step <expected status> <expctl send args...>
  local expected=$1; shift
  echo "\$ expctl send $*"
  local out; out=$(npm run -s cli -- --json send "$@") || true
  echo "$out"
  local status; status=$(node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(0,"utf8")).status))' <<< "$out")
  [ "$status" = "$expected" ] || { echo "expected status $expected, got $status" >&2; exit 1; }
  LAST="$out"
}
field() { node -e "process.stdout.write(String(JSON.parse(require('fs').readFileSync(0,'utf8')).body.$1))" <<< "$LAST"; }

# 1. Platform: organisation (experimentation on), project, environment, a multivariate feature, an admin.
step 200 organisation.upsert --actor system:ops --payload "{\"id\":$N,\"name\":\"Acme\",\"experimentationEnabled\":true}"
step 200 project.upsert --actor system:ops --payload "{\"id\":$N,\"organisationId\":$N,\"name\":\"Web\"}"
step 200 environment.upsert --actor system:ops --payload "{\"key\":\"$ENV\",\"projectId\":$N,\"name\":\"Production\"}"
step 200 feature.upsert --actor system:ops --payload "{\"id\":$N,\"projectId\":$N,\"name\":\"checkout_button\",\"type\":\"MULTIVARIATE\",\"variants\":[{\"key\":\"variant_a\",\"percentageAllocation\":50}]}"
step 200 access.grant --actor system:ops --payload "{\"userId\":\"42\",\"scope\":\"environment\",\"scopeId\":\"$ENV\",\"role\":\"admin\"}"

# 2. As user 42 (admin of the environment): a metric, then an experiment that uses it.
step 201 metric.create --env "$ENV" --actor user:42 --payload '{"name":"Checkout conversion","aggregation":"occurrence","definition":{"version":1,"event":"checkout"}}'
METRIC=$(field id)
step 201 experiment.create --env "$ENV" --actor user:42 --payload "{\"featureId\":$N,\"name\":\"Green button\",\"hypothesis\":\"Green converts better\",\"metrics\":[{\"metricId\":$METRIC,\"expectedDirection\":\"increase\"}]}"
EXPERIMENT=$(field id)

# 3. Start it; the metric cannot be deleted while the experiment is active.
step 200 experiment.start --env "$ENV" --actor user:42 --payload "{\"id\":$EXPERIMENT}"
step 409 metric.delete --env "$ENV" --actor user:42 --payload "{\"id\":$METRIC}"

# 4. Complete the experiment; now the metric can be deleted.
step 200 experiment.complete --env "$ENV" --actor user:42 --payload "{\"id\":$EXPERIMENT}"
step 204 metric.delete --env "$ENV" --actor user:42 --payload "{\"id\":$METRIC}"
echo "walkthrough finished: every reply had the expected status"
