import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ChaosRun } from '../test/integration/chaos/chaos-run.js';
import { FAULTS, injectByName, runWithFaults, type FaultName } from '../test/integration/chaos/chaos-faults.js';
import { PrivateBroker } from '../test/integration/chaos/private-broker.js';
import { buildReport, printReport } from '../test/integration/chaos/report.js';

// `npm run soak`: many commands through several worker processes while faults keep coming, then the
// verifier's four counts (lost, applied twice, unanswered, out of order), which must all be 0.
// Not a test: it takes minutes and stops and starts a broker of its own.

const DEFAULT_FAULTS: FaultName[] = ['kill-worker', 'cut-database-connections', 'restart-redis-empty', 'restart-broker', 'kill-relay-leader'];

const { values: args } = parseArgs({
  options: {
    commands: { type: 'string', default: '100000' },
    keys: { type: 'string', default: '30' },
    workers: { type: 'string', default: '3' },
    segment: { type: 'string', default: '2000' },
    faults: { type: 'string', default: DEFAULT_FAULTS.join(',') },
    'broker-port': { type: 'string', default: '29192' },
    brokers: { type: 'string' },
    'keep-broker': { type: 'boolean', default: false },
    'stall-s': { type: 'string', default: '60' },
    'log-level': { type: 'string', default: 'warn' },
    env: { type: 'string', multiple: true, default: [] },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(`Usage: npm run soak [-- --commands N --keys K --workers W --segment S --faults LIST]

Sends N metric.create commands (default 100000) over K keys (30) to W worker processes (3) in one consumer
group, in bursts of S commands (2000); while half of each burst is still to do, the next fault of LIST goes in
(cycling; the last burst gets none). Then it waits until every command is answered and published (giving up
after --stall-s seconds, default 60, without any new reply or event) and checks, from Postgres and from the
replies and events topics: lost, applied twice, unanswered, out of order (per key, events deduplicated by id).

Faults (default ${DEFAULT_FAULTS.join(',')}):
  kill-worker               SIGKILL a worker (not the relay leader), spawn a replacement
  kill-relay-leader         SIGKILL the worker whose outbox relay holds the advisory lock, spawn a replacement
  cut-database-connections  pg_terminate_backend on every worker connection to the run's database
  database-outage           the same, and refuse new connections for 5 s
  restart-redis-empty       SIGKILL the run's private Redis, start it again without data
  redis-unreachable         drop every Redis connection and refuse new ones for 10 s
  redis-restart-during-database-outage
                            a 5 s database outage with Redis restarted empty 2 s into it
  restart-broker            stop the private broker and start it again

Everything is the run's own: a fresh database (dropped at the end), a private redis-server, topics and groups
named soak.<run>.* (deleted at the end), and a private broker started with scripts/kafka.sh on
--broker-port (29192; controller port +1; state in .run/kafka-soak), stopped at the end unless --keep-broker.
--brokers host:port uses an existing broker instead (then restart-broker is not allowed).
--env KEY=VALUE (repeatable) adds to the workers' environment, e.g. --env COMMAND_RETRY_ATTEMPTS=8 (the run
uses COMMAND_RETRY_ATTEMPTS=6, COMMAND_RETRY_BACKOFF_MS=200, KAFKA_SESSION_TIMEOUT_MS=7000, RECONCILE_INTERVAL_S=5).
Needs Postgres (CHAOS_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres) and redis-server.
Run it niced on a shared machine: nice -n 10 npm run soak -- --commands 5000.
Prints the counts and writes bench/results/soak-<timestamp>.json (worker logs in bench/results/soak-<timestamp>-logs/).
Exit code 0 when all four counts are 0, 1 otherwise, 2 on a usage error.`);
  process.exit(0);
}

const log = (message: string) => console.log(`[soak] ${new Date().toISOString().slice(11, 19)} ${message}`);
const usage = (message: string): never => {
  console.error(`[soak] ${message} (see --help)`);
  process.exit(2);
};
const positive = (name: string, value: string | undefined) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) usage(`--${name} must be a positive integer`);
  return n;
};
const commands = positive('commands', args.commands);
const keys = positive('keys', args.keys);
const workers = positive('workers', args.workers);
const segment = positive('segment', args.segment);
const stallS = positive('stall-s', args['stall-s']);
const faults = (args.faults ?? '').split(',').filter(Boolean) as FaultName[];
for (const f of faults) if (!FAULTS.includes(f)) usage(`unknown fault ${f}; one of ${FAULTS.join(', ')}`);
const workerEnv: Record<string, string> = { LOG_LEVEL: args['log-level'] ?? 'warn' };
for (const pair of args.env ?? []) {
  const [key, ...value] = pair.split('=');
  if (!key || !value.length) usage(`--env takes KEY=VALUE, not ${pair}`);
  workerEnv[key!] = value.join('=');
}
if (args.brokers && faults.includes('restart-broker')) usage('restart-broker needs the private broker: leave out --brokers or the fault');

async function main(): Promise<number> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const broker = args.brokers ? undefined : new PrivateBroker(positive('broker-port', args['broker-port']), Number(args['broker-port']) + 1);
  if (broker) {
    log(`starting the private broker on ${broker.address}`);
    await broker.start();
  }
  const brokers = args.brokers ? args.brokers.split(',') : [broker!.address];
  const logDir = `bench/results/soak-${stamp}-logs`;
  let run: ChaosRun | undefined;
  let ticker: NodeJS.Timeout | undefined;
  try {
    run = await ChaosRun.create({ prefix: 'soak', brokers, commands, keys, workers, workerEnv, logDir, log });
    const chaos = run;
    ticker = setInterval(() => log(chaos.status()), 10_000);
    const segments = Math.ceil(commands / segment);
    const schedule = Array.from({ length: Math.max(0, segments - 1) }, (_, i) => faults[i % faults.length]).filter((f): f is FaultName => f !== undefined);
    log(`${commands} commands over ${keys} keys in ${segments} bursts of ${segment}; faults: ${schedule.join(', ') || 'none'}`);
    await runWithFaults(chaos, schedule.map((f) => () => injectByName(chaos, f, broker)), segment);
    const settled = await chaos.settle(stallS * 1000, Math.max(600_000, commands * 10));
    clearInterval(ticker);
    const { verdict, byFault } = await chaos.verify();
    const report = buildReport(chaos, settled, verdict, byFault);
    printReport(report, log);
    const pass = Object.values(report.counts).every((n) => n === 0);
    mkdirSync('bench/results', { recursive: true });
    const file = `bench/results/soak-${stamp}.json`;
    writeFileSync(file, JSON.stringify({ ...report, options: { commands, keys, workers, segment, faults, brokers, stallS, workerEnv }, pass, logDir }, null, 2));
    log(`${pass ? 'PASS' : 'FAIL'}: wrote ${file}`);
    return pass ? 0 : 1;
  } finally {
    clearInterval(ticker);
    await run?.teardown();
    if (broker && !args['keep-broker']) await broker.stop().catch((error) => log(`stopping the private broker: ${(error as Error).message}`));
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
