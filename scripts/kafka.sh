#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft), without Docker.
#   scripts/kafka.sh start | stop | status | resolve
# The broker's jars come from Maven Central (scripts/kafka/pom.xml) into .cache/kafka/libs, once.
# State lives in .run/kafka (config, data, log, pid), or in KAFKA_RUN_DIR when set. `start` reuses a broker
# already answering on the address; `stop` stops only a broker this script started (from the same run dir).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP="${KAFKA_HEAP:-512m}"
KAFKA_READY_TIMEOUT_S="${KAFKA_READY_TIMEOUT_S:-120}"
CACHE="$ROOT/.cache/kafka"
LIBS="$CACHE/libs"
RUN="${KAFKA_RUN_DIR:-$ROOT/.run/kafka}"
PIDFILE="$RUN/kafka.pid"
LOG="$RUN/kafka.log"
CONF="$RUN/server.properties"
ADDRESS="$KAFKA_HOST:$KAFKA_PORT"

say() { echo "[kafka] $*"; }
die() { echo "[kafka] error: $*" >&2; exit 1; }

answering() { # $1 = seconds to keep trying
  node "$ROOT/scripts/kafka-ready.mjs" "$ADDRESS" "${1:-1}"
}

our_pid() { # prints the pid of the broker this script started, if it is still running
  [ -f "$PIDFILE" ] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $CONF"; then
    echo "$pid"; return 0
  fi
  return 1
}

resolve() {
  local stamp; stamp="$(sha256sum "$ROOT/scripts/kafka/pom.xml" | cut -c1-16)"
  if [ -f "$LIBS/.resolved-$stamp" ]; then return 0; fi
  command -v mvn >/dev/null || die "Maven (mvn) is required to fetch the Kafka broker jars"
  command -v java >/dev/null || die "Java 17+ is required to run the Kafka broker"
  say "resolving the broker jars from Maven Central into $LIBS (once) ..."
  rm -rf "$LIBS"; mkdir -p "$LIBS"
  mvn -q -B -f "$ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$LIBS" -DincludeScope=runtime \
    || die "mvn could not resolve org.apache.kafka:kafka_2.13 (see the output above)"
  touch "$LIBS/.resolved-$stamp"
  say "resolved $(ls "$LIBS"/*.jar | wc -l) jars"
}

write_config() {
  mkdir -p "$RUN/data"
  cat > "$CONF" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$RUN/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
PROPS
}

start() {
  if answering 1; then say "a broker already answers on $ADDRESS; reusing it"; return 0; fi
  if pid="$(our_pid)"; then
    say "broker (pid $pid) is starting; waiting for it"
  else
    resolve
    write_config
    if [ ! -f "$RUN/data/meta.properties" ]; then
      local cluster_id; cluster_id="$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid)"
      java -cp "$LIBS/*" -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.properties" \
        kafka.tools.StorageTool format -t "$cluster_id" -c "$CONF" > "$RUN/format.log" 2>&1 \
        || { cat "$RUN/format.log" >&2; die "formatting the KRaft storage failed"; }
    fi
    local started_at; started_at=$(date +%s.%N)
    echo "$started_at" > "$RUN/started_at"
    # setsid: the broker outlives this script and is not hit by the terminal's Ctrl-C.
    setsid java -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.properties" \
      -cp "$LIBS/*" kafka.Kafka "$CONF" > "$LOG" 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
    say "started broker pid $(cat "$PIDFILE"), log $LOG"
  fi
  if answering "$KAFKA_READY_TIMEOUT_S"; then
    local t0; t0="$(cat "$RUN/started_at" 2>/dev/null || echo 0)"
    say "broker ready on $ADDRESS in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s"
  else
    tail -n 40 "$LOG" >&2 || true
    die "the broker did not answer on $ADDRESS within ${KAFKA_READY_TIMEOUT_S}s"
  fi
}

stop() {
  local pid
  if ! pid="$(our_pid)"; then say "no broker started by this script is running"; rm -f "$PIDFILE"; return 0; fi
  say "stopping broker pid $pid"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; say "stopped"; return 0; }; sleep 0.5; done
  say "broker did not stop in 30s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
}

status() {
  if pid="$(our_pid)"; then say "broker started by this script: pid $pid"; fi
  if answering 1; then say "a broker answers on $ADDRESS"; else say "no broker answers on $ADDRESS"; return 3; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  resolve) resolve ;;
  -h|--help|help|"") sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; echo "Environment: KAFKA_HOST, KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP (512m), KAFKA_READY_TIMEOUT_S (120), KAFKA_RUN_DIR (.run/kafka)";;
  *) die "unknown command '$1' (start|stop|status|resolve)" ;;
esac
