import type { ChaosRun } from './chaos-run.js';
import type { PrivateBroker } from './private-broker.js';
import { relayLeader } from './relay-leader.js';
import type { FaultRecord } from './verifier.js';
import type { FleetMember } from './worker-fleet.js';
import { delay, waitFor } from './wait.js';

// The faults of a chaos run. Each one waits for its own effect to be in place (a new relay leader, Redis
// answering again) before returning, so the next one starts from a known state. A killed worker's
// replacement is spawned at once and gets ready in the background, as an orchestrator's restart would.

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The current relay leader; while there is none (between leaders) keeps looking, up to `timeoutMs`. */
async function awaitRelayLeader(run: ChaosRun, timeoutMs: number, not?: FleetMember): Promise<FleetMember> {
  let leader: FleetMember | undefined;
  await waitFor(
    async () => {
      // A just-killed leader can still show in pg_locks for a moment, with no live process behind it.
      leader = await relayLeader(run.db.knex, run.fleet).catch(() => undefined);
      return leader !== undefined && leader.pid !== not?.pid;
    },
    not ? `a relay leader other than ${not.name}` : 'a relay leader',
    timeoutMs,
    200,
  );
  return leader!;
}

/** SIGKILLs a ready worker that is not the relay leader (that is its own fault) and spawns a replacement. */
export function killWorker(run: ChaosRun): Promise<FaultRecord> {
  return run.inject('kill-worker', async () => {
    const leader = await relayLeader(run.db.knex, run.fleet).catch(() => undefined);
    const ready = run.fleet.members.filter((m) => m.isReady);
    const victim = ready.find((m) => m.pid !== leader?.pid) ?? ready[0];
    if (!victim) throw new Error('no ready worker to kill');
    await run.fleet.kill(victim);
    const replacement = await run.fleet.spawnOne();
    return `SIGKILLed ${victim.name} (pid ${victim.pid}); spawned ${replacement.name}`;
  });
}

/** SIGKILLs the process whose relay holds the advisory lock; waits for another to take over; replaces it. */
export function killRelayLeader(run: ChaosRun): Promise<FaultRecord> {
  return run.inject('kill-relay-leader', async () => {
    const leader = await awaitRelayLeader(run, 30_000);
    await run.fleet.kill(leader);
    const killedAt = Date.now();
    const next = await awaitRelayLeader(run, 60_000, leader);
    const takeover = Date.now() - killedAt;
    const replacement = await run.fleet.spawnOne();
    return `SIGKILLed relay leader ${leader.name} (pid ${leader.pid}); ${next.name} took the lock after ${seconds(takeover)}; spawned ${replacement.name}`;
  });
}

/**
 * pg_terminate_backend on every worker connection to the run database (`refuseForMs` > 0: also refuses new
 * ones that long); waits until a relay holds the lock again.
 */
export function cutDatabaseConnections(run: ChaosRun, refuseForMs = 0): Promise<FaultRecord> {
  return run.inject(refuseForMs ? 'database-outage' : 'cut-database-connections', async () => {
    const cut = refuseForMs ? await run.db.unreachableFor(refuseForMs) : await run.db.terminateWorkerConnections();
    const restoredAt = Date.now();
    const leader = await awaitRelayLeader(run, 60_000);
    const outage = refuseForMs ? `, refused connections for ${seconds(refuseForMs)}` : '';
    return `terminated ${cut} worker connections${outage}; ${leader.name} holds the relay lock again after ${seconds(Date.now() - restoredAt)}`;
  });
}

/** SIGKILLs the private Redis and starts it empty on the same port. */
export function restartRedisEmpty(run: ChaosRun): Promise<FaultRecord> {
  return run.inject('restart-redis-empty', async () => {
    await run.redis.restartEmpty();
    return `Redis on :${run.redis.port} SIGKILLed and started again without its data`;
  });
}

/**
 * Redis restarts empty 2 s into a 5 s database outage: what the workers handed to Redis for the commands
 * failing in the outage (retries, replies) is gone unless it is also in Postgres (CONTRACT.md "Order and
 * durability"). The timings are the fault's shape, not a wait for something to happen.
 */
export function redisRestartDuringDatabaseOutage(run: ChaosRun): Promise<FaultRecord> {
  return run.inject('redis-restart-during-database-outage', async () => {
    const outage = run.db.unreachableFor(5000);
    await delay(2000);
    await run.redis.restartEmpty();
    const cut = await outage;
    const leader = await awaitRelayLeader(run, 60_000);
    return `terminated ${cut} worker connections, refused connections for 5 s, Redis restarted empty at 2 s; ${leader.name} holds the relay lock`;
  });
}

/** Drops every Redis connection and refuses new ones for `ms`. */
export function redisUnreachable(run: ChaosRun, ms: number): Promise<FaultRecord> {
  return run.inject('redis-unreachable', async () => {
    await run.redis.unreachableFor(ms);
    return `Redis unreachable for ${seconds(ms)}`;
  });
}

/** Stops the (private) broker and starts it again. */
export function restartBroker(run: ChaosRun, broker: PrivateBroker): Promise<FaultRecord> {
  return run.inject('restart-broker', async () => {
    await broker.stop();
    const stoppedAt = Date.now();
    await broker.start();
    return `broker ${broker.address} stopped, and answering again after ${seconds(Date.now() - stoppedAt)}`;
  });
}

export const FAULTS = [
  'kill-worker',
  'kill-relay-leader',
  'cut-database-connections',
  'database-outage',
  'restart-redis-empty',
  'redis-unreachable',
  'redis-restart-during-database-outage',
  'restart-broker',
] as const;
export type FaultName = (typeof FAULTS)[number];

/** Runs a fault by name (the soak's --faults list). */
export function injectByName(run: ChaosRun, fault: FaultName, broker?: PrivateBroker): Promise<FaultRecord> {
  switch (fault) {
    case 'kill-worker':
      return killWorker(run);
    case 'kill-relay-leader':
      return killRelayLeader(run);
    case 'cut-database-connections':
      return cutDatabaseConnections(run);
    case 'database-outage':
      return cutDatabaseConnections(run, 5000);
    case 'restart-redis-empty':
      return restartRedisEmpty(run);
    case 'redis-unreachable':
      return redisUnreachable(run, 10_000);
    case 'redis-restart-during-database-outage':
      return redisRestartDuringDatabaseOutage(run);
    case 'restart-broker':
      if (!broker) throw new Error('restart-broker needs the private broker');
      return restartBroker(run, broker);
  }
}

/**
 * The load and fault schedule: the plan is sent in bursts of `segment` commands, so each fault hits a
 * backlog (work queued and in flight) whatever the machine's speed; fault i goes in once half of burst i
 * has been answered or published. Bursts after the last fault carry no fault.
 */
export async function runWithFaults(run: ChaosRun, faults: Array<() => Promise<FaultRecord>>, segment: number): Promise<void> {
  const total = run.plan.commands.length;
  for (let i = 0; run.sent < total; i++) {
    const start = run.sent;
    const end = Math.min(total, start + segment);
    await run.sendUpTo(end);
    const fault = faults[i];
    if (!fault) continue;
    await run.whenProgressReaches(start + Math.ceil((end - start) / 2));
    await fault();
  }
}
