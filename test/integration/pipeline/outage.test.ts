import { randomInt, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestWorker, type TestWorker } from '../harness.js';
import { testDatabaseUrl } from '../env.js';
import { TcpProxy, viaProxy } from '../tcp-proxy.js';
import { createKnex } from '../../../src/db.js';
import type { Reply } from '../../../src/contracts/envelope.js';

// The worker reaches Postgres through a proxy the test can cut, as a dead server or network would.
const proxy = new TcpProxy('127.0.0.1', 5432);
let worker: TestWorker;
const direct = createKnex(testDatabaseUrl, 4);
// The worker's connections carry a name of their own, so that terminating them touches no one else's
// (in pg, an application_name in the connection URL wins over the one createKnex sets).
const workerApplicationName = `experimentation-worker:outage-test-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  const port = await proxy.start();
  const databaseUrl = new URL(viaProxy(testDatabaseUrl, port));
  databaseUrl.searchParams.set('application_name', workerApplicationName);
  worker = await startTestWorker({ DATABASE_URL: databaseUrl.toString(), COMMAND_RETRY_ATTEMPTS: '10', COMMAND_RETRY_BACKOFF_MS: '300' });
});
afterAll(async () => {
  await worker?.stop();
  await proxy.stop();
  await direct.destroy();
});

const upsert = (id: number) => ({ id: randomUUID(), type: 'organisation.upsert', payload: { id, name: `Org ${id}`, experimentationEnabled: true } });

async function appliedOnce(commandIds: string[]): Promise<void> {
  const processed = await direct('processed_commands').whereIn('command_id', commandIds).select('command_id', 'status');
  expect(processed).toHaveLength(commandIds.length);
  const audits = await direct('audit_log').whereIn('command_id', commandIds).groupBy('command_id').select('command_id').count({ n: '*' });
  expect(audits).toHaveLength(commandIds.length);
  expect(audits.every((a) => Number(a.n) === 1)).toBe(true);
}

describe('Postgres unavailable mid-stream', () => {
  it('retries the affected commands in place and applies each once after recovery', async () => {
    const before = await worker.client.send(upsert(randomInt(1e6, 2e9)));
    expect(before.status).toBe(200);

    const retries = async () => (await worker.app.metrics.commandRetries.get()).values[0]?.value ?? 0;
    const retriedBefore = await retries();
    proxy.cut();
    const cutAt = Date.now();
    const commands = Array.from({ length: 12 }, () => upsert(randomInt(1e6, 2e9)));
    const replies = commands.map((c) => worker.client.send(c, { timeout: 90_000 }));
    // The worker has met the outage: a command was retried while Postgres was away.
    await eventually('a command retried during the outage', async () => (await retries()) > retriedBefore, 30_000);
    // Then holds the outage open for 5 s in all: its length is the point.
    await new Promise((r) => setTimeout(r, Math.max(0, 5000 - (Date.now() - cutAt))));
    const retriedDuringOutage = (await retries()) - retriedBefore;
    proxy.restore();

    const answered: Reply[] = await Promise.all(replies);
    expect(answered.map((r) => r.status)).toEqual(commands.map(() => 200));
    expect(retriedDuringOutage).toBeGreaterThan(0);
    await appliedOnce(commands.map((c) => c.id));
    const orgs = await direct('organisations').whereIn('id', commands.map((c) => c.payload.id));
    expect(orgs).toHaveLength(commands.length);
  });

  it('survives its connections being terminated while commands stream through', async () => {
    const commands = Array.from({ length: 60 }, () => upsert(randomInt(1e6, 2e9)));
    let answeredSoFar = 0;
    const replies = commands.map((c) => worker.client.send(c, { timeout: 90_000 }).finally(() => answeredSoFar++));
    const terminateWorkerConnections = async (): Promise<number> => {
      const { rows } = await direct.raw(`select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = ?`, [workerApplicationName]);
      return rows[0].n;
    };
    // Kill the worker's server processes three times while the stream is flowing: after 10, 20 and 30 replies,
    // each time as soon as it has connections again (replies can arrive while it has none).
    for (let i = 1; i <= 3; i++) {
      await expect.poll(() => answeredSoFar, { timeout: 60_000, interval: 20 }).toBeGreaterThanOrEqual(10 * i);
      await expect.poll(terminateWorkerConnections, { timeout: 30_000, interval: 20 }).toBeGreaterThan(0);
    }
    const answered = await Promise.all(replies);
    expect(answered.map((r) => r.status)).toEqual(commands.map(() => 200));
    await appliedOnce(commands.map((c) => c.id));
  });
});
