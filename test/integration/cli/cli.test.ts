import { randomInt, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, messageCount, startTestWorker, systemActor, type TestWorker } from '../harness.js';
import { expctl } from './expctl-process.js';

// expctl as operators run it (expctl-process.ts), with the environment of an in-process test worker, against the
// real broker, Redis and Postgres.

const nextId = () => randomInt(1_000_000, 2_000_000_000);

describe('expctl', () => {
  let worker: TestWorker;

  beforeAll(async () => {
    worker = await startTestWorker({
      COMMAND_RETRY_ATTEMPTS: '2',
      COMMAND_RETRY_BACKOFF_MS: '100',
      COMMAND_LOCK_TIMEOUT_MS: '300',
      COMMAND_INPLACE_RETRY_MS: '1000',
    });
  });

  afterAll(async () => {
    await worker?.stop();
  });

  const dlqCount = () => messageCount(worker.config, worker.config.DLQ_TOPIC);

  it('--help of every command exits 0 with usage; an unknown command exits 2', async () => {
    const commands = [[], ['send'], ['jobs'], ['jobs', 'failed'], ['jobs', 'replay'], ['jobs', 'discard'], ['dlq'], ['dlq', 'list'], ['dlq', 'replay'], ['parked'], ['parked', 'list'], ['parked', 'retry'], ['parked', 'discard']];
    const runs = await Promise.all(commands.map((c) => expctl([...c, '--help'])));
    runs.forEach((run, i) => {
      expect(run.code, `${commands[i]!.join(' ')} --help: ${run.stderr}`).toBe(0);
      expect(run.stdout).toContain(`Usage: expctl ${commands[i]!.join(' ')}`.trimEnd());
    });
    expect(runs[0]!.stdout).toContain('Exit codes:');
    const [unknown, launcher] = await Promise.all([expctl(['frobnicate']), expctl(['--help'], {}, { launcher: true })]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    expect(launcher.code).toBe(0);
    expect(launcher.stdout).toContain('Usage: expctl');
  });

  it('send prints a 200 reply and exits 0; a 4xx reply exits 1', async () => {
    const id = nextId();
    const [ok, invalid, forbidden] = await Promise.all([
      expctl(['send', 'organisation.upsert', '--actor', 'system:ops', '--payload', JSON.stringify({ id, name: 'x', experimentationEnabled: true })], worker.env),
      expctl(['--json', 'send', 'organisation.upsert', '--actor', 'system:ops', '--payload', '{"id":"seven","name":"x","experimentationEnabled":true}'], worker.env),
      expctl(['send', 'organisation.upsert', '--actor', 'user:42', '--payload', JSON.stringify({ id, name: 'y', experimentationEnabled: true })], worker.env),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^200 OK {2}organisation\.upsert {2}command [0-9a-f-]{36}\n/);
    expect(ok.stdout).toContain(`"id": ${id}`);
    expect(invalid.code, invalid.stderr).toBe(1);
    expect(JSON.parse(invalid.stdout)).toMatchObject({ type: 'organisation.upsert', status: 400, body: { id: [expect.any(String)] } });
    expect(forbidden.code, forbidden.stderr).toBe(1);
    expect(forbidden.stdout).toMatch(/^403 Forbidden/);
    const rows = await worker.knex('organisations').where({ id });
    expect(rows).toHaveLength(1);
    expect(rows[0].name).toBe('x');
  });

  it('a command whose retries all failed is listed by `jobs failed` and succeeds after `jobs replay`', async () => {
    const client = worker.client;
    const commandId = randomUUID();
    const orgId = nextId();
    expect((await client.send({ type: 'organisation.upsert', actor: systemActor, payload: { id: orgId, name: 'before', experimentationEnabled: true } })).status).toBe(200);
    // Another transaction holds the organisation's row: every attempt meets the lock timeout, a transient
    // failure, while Postgres itself answers.
    const blocker = await worker.knex.transaction();
    try {
      await blocker('organisations').where({ id: orgId }).forUpdate();
      const failed = await client.send({ id: commandId, type: 'organisation.upsert', actor: systemActor, payload: { id: orgId, name: 'replayed', experimentationEnabled: true } }, { timeout: 40_000 });
      expect(failed.status).toBe(500);
      expect(failed.body).toEqual({ detail: 'The command failed after all retries.' });

      const listed = await expctl(['--json', 'jobs', 'failed'], worker.env);
      expect(listed.code, listed.stderr).toBe(0);
      const jobs = JSON.parse(listed.stdout);
      expect(jobs.queue).toBe('command-retries');
      const job = jobs.jobs.find((j: { commandId: string }) => j.commandId === commandId);
      expect(job).toMatchObject({ id: `cmd-${commandId}`, type: 'organisation.upsert', attemptsMade: 2, maxAttempts: 2 });
      expect(job.failedReason).toBeTruthy();
      const table = await expctl(['jobs', 'failed'], worker.env);
      expect(table.stdout).toContain(`cmd-${commandId}`);
      expect(table.stdout).toMatch(/JOB ID +COMMAND ID +TYPE +ATTEMPTS/);
      // A redelivery of the same message is not a retry: it gets the 500 again and applies nothing.
      const again = await client.send({ id: commandId, type: 'organisation.upsert', actor: systemActor, payload: { id: orgId, name: 'replayed', experimentationEnabled: true } });
      expect(again.status).toBe(500);
    } finally {
      await blocker.rollback();
    }
    expect(await worker.knex('organisations').where({ id: orgId }).first('name')).toEqual({ name: 'before' });

    const replayed = await expctl(['jobs', 'replay', `cmd-${commandId}`], worker.env);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toContain('replayed 1 job(s)');
    expect(replayed.stdout).toContain(commandId);
    const reply = await client.waitForReply(commandId, 30_000);
    expect(reply).toMatchObject({ status: 200, body: { id: orgId, name: 'replayed' } });
    expect(await worker.knex('organisations').where({ id: orgId }).count({ n: '*' })).toEqual([{ n: 1 }]);

    const [again, missing] = await Promise.all([expctl(['jobs', 'replay', `cmd-${commandId}`], worker.env), expctl(['jobs', 'discard', 'cmd-nope'], worker.env)]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/job cmd-.* is completed, not failed/);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('job cmd-nope not found in queue command-retries');
  });

  it('dlq list shows an unreadable message; dlq replay re-publishes it once, and skips it the second time', async () => {
    await worker.client.sendRaw(Buffer.from('not json at all'), { key: 'dlq-key' });
    await eventually('the message in the DLQ', async () => ((await dlqCount()) === 1 ? true : undefined));

    const list = await expctl(['dlq', 'list'], worker.env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(`DLQ topic ${worker.config.DLQ_TOPIC}: 1 message(s)`);
    expect(list.stdout).toMatch(/OFFSET +TIME +REASON +ORIGINAL/);
    expect(list.stdout).toContain('not json at all (15 B)');
    expect(list.stdout).toContain(`${worker.config.COMMANDS_TOPIC}[`);
    const listed = JSON.parse((await expctl(['--json', 'dlq', 'list'], worker.env)).stdout);
    expect(listed.messages).toHaveLength(1);
    expect(listed.messages[0]).toMatchObject({ partition: 0, offset: '0', key: 'dlq-key', originalTopic: worker.config.COMMANDS_TOPIC, preview: 'not json at all', replayedAt: null });
    expect(listed.messages[0].reason).toMatch(/^not JSON and no readable id/);

    const first = await expctl(['dlq', 'replay', '--all'], worker.env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`replayed 1 message(s) to ${worker.config.COMMANDS_TOPIC}`);
    // Still unreadable: the worker dead-letters the replayed copy again.
    await eventually('the replayed copy back in the DLQ', async () => ((await dlqCount()) === 2 ? true : undefined));

    const dry = await expctl(['--json', 'dlq', 'replay', '--all', '--dry-run'], worker.env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout).results.map((r: { offset: string; action: string }) => [r.offset, r.action])).toEqual([
      ['0', 'would skip (replayed before)'],
      ['1', 'would replay'],
    ]);
    const second = await expctl(['--json', 'dlq', 'replay', '--all'], worker.env);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout).results.map((r: { offset: string; action: string }) => [r.offset, r.action])).toEqual([
      ['0', 'skipped (replayed before)'],
      ['1', 'replayed'],
    ]);
    await eventually('the second replayed copy in the DLQ', async () => ((await dlqCount()) === 3 ? true : undefined));

    const [all, notThere] = await Promise.all([
      expctl(['--json', 'dlq', 'list', '--from-beginning'], worker.env),
      expctl(['dlq', 'replay', '--offset', '0:99'], worker.env),
    ]);
    const messages = JSON.parse(all.stdout).messages as Array<{ offset: string; key: string; preview: string; originalTopic: string; replayedAt: string | null }>;
    expect(messages.map((m) => [m.offset, m.key, m.preview, m.originalTopic, m.replayedAt !== null])).toEqual([
      ['0', 'dlq-key', 'not json at all', worker.config.COMMANDS_TOPIC, true],
      ['1', 'dlq-key', 'not json at all', worker.config.COMMANDS_TOPIC, true],
      ['2', 'dlq-key', 'not json at all', worker.config.COMMANDS_TOPIC, false],
    ]);
    expect(notThere.code).toBe(1);
    expect(notThere.stderr).toContain('DLQ message 0:99 not found');
  });
});
