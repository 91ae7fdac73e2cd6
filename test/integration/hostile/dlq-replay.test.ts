import { randomUUID } from 'node:crypto';
import type { IHeaders, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, messageCount, setupTenant, startTestWorker, systemActor, type Tenant, type TestWorker } from '../harness.js';
import { expctl } from '../cli/expctl-process.js';
import { trackingProducer, waitForStored } from '../results/helpers.js';

// CONTRACT.md: the commands DLQ holds only messages of the commands topic, tracking rejects have their own DLQ,
// and a DLQ replay (`expctl dlq replay [--topic commands|tracking]`) re-publishes a message only to the topic it
// came from. A DLQ topic takes anyone's messages, so a forged x-original-topic must be refused, not followed.

describe('DLQ replay of both DLQ topics', () => {
  let worker: TestWorker;
  let tenant: Tenant;
  let producer: Producer;

  beforeAll(async () => {
    worker = await startTestWorker();
    tenant = await setupTenant(worker.client);
    producer = await trackingProducer(worker.config);
  });

  afterAll(async () => {
    await producer?.disconnect();
    await worker?.stop();
  });

  /** Messages in each of the four topics a replay could write to or come from. */
  const counts = async () => {
    const { COMMANDS_TOPIC, TRACKING_TOPIC, DLQ_TOPIC, TRACKING_DLQ_TOPIC } = worker.config;
    const count = (topic: string) => messageCount(worker.config, topic);
    const [commands, tracking, commandsDlq, trackingDlq] = await Promise.all([count(COMMANDS_TOPIC), count(TRACKING_TOPIC), count(DLQ_TOPIC), count(TRACKING_DLQ_TOPIC)]);
    return { commands, tracking, commandsDlq, trackingDlq };
  };
  const trackingEvent = (environment: string, identifier: string) =>
    JSON.stringify({ environment, event: 'purchase', identifier, value: 2, timestamp: new Date().toISOString() });
  /** Writes a message straight into a DLQ topic, as anyone with access to it can; answers its offset. */
  const forge = async (topic: string, value: string, headers: IHeaders) => {
    const [sent] = await producer.send({ topic, acks: -1, messages: [{ key: 'forged', value, headers }] });
    return sent!.baseOffset!;
  };

  it('replays a commands DLQ message to the commands topic only', async () => {
    await worker.client.sendRaw(Buffer.from('not a command'), { key: 'replay-key' });
    await eventually('the message in the commands DLQ', async () => ((await counts()).commandsDlq === 1 ? true : undefined));
    const before = await counts();
    expect(before.trackingDlq).toBe(0);

    const run = await expctl(['dlq', 'replay', '--offset', '0:0'], worker.env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`replayed 1 message(s) to ${worker.config.COMMANDS_TOPIC}`);
    // Still unreadable: the worker dead-letters the replayed copy again, from the commands topic.
    await eventually('the replayed copy in the commands DLQ', async () => ((await counts()).commandsDlq === 2 ? true : undefined));
    expect(await counts()).toEqual({ ...before, commands: before.commands + 1, commandsDlq: 2 });
    const listed = JSON.parse((await expctl(['--json', 'dlq', 'list', '--from-beginning'], worker.env)).stdout);
    expect(listed.messages.map((m: { originalTopic: string; preview: string }) => [m.originalTopic, m.preview])).toEqual([
      [worker.config.COMMANDS_TOPIC, 'not a command'],
      [worker.config.COMMANDS_TOPIC, 'not a command'],
    ]);
    // The next command works.
    const reply = await worker.client.send({ type: 'organisation.upsert', actor: systemActor, payload: { id: tenant.organisationId, name: 'still here', experimentationEnabled: true } });
    expect(reply.status).toBe(200);
  });

  it('replays a tracking DLQ message to the tracking topic only, where it is stored once its environment exists', async () => {
    const environment = `env-late-${randomUUID().slice(0, 8)}`;
    await producer.send({
      topic: worker.config.TRACKING_TOPIC,
      acks: -1,
      messages: [trackingEvent(environment, 'early'), trackingEvent(tenant.environment, 'on-time')].map((value) => ({ key: 'k', value })),
    });
    await eventually('the reject in the tracking DLQ', async () => ((await counts()).trackingDlq === 1 ? true : undefined));
    const rejectedAt = Date.now();
    await waitForStored(worker.knex, tenant.environment, 1);
    const upsert = await worker.client.send({ type: 'environment.upsert', actor: systemActor, payload: { key: environment, projectId: tenant.projectId, name: 'Late' }, key: String(tenant.organisationId) });
    expect(upsert.status).toBe(200);
    const list = await expctl(['--json', 'dlq', 'list', '--topic', 'tracking'], worker.env);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject({
      topic: worker.config.TRACKING_DLQ_TOPIC,
      source: 'tracking',
      messages: [{ offset: '0', reason: `unknown environment "${environment}"`, originalTopic: worker.config.TRACKING_TOPIC, replayedAt: null }],
    });
    // The consumer remembers an unknown environment for 5 s.
    while (Date.now() < rejectedAt + 5500) await new Promise((resolve) => setTimeout(resolve, 100));
    const before = await counts();

    const run = await expctl(['dlq', 'replay', '--topic', 'tracking', '--all'], worker.env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`replayed 1 message(s) to ${worker.config.TRACKING_TOPIC}`);
    await waitForStored(worker.knex, environment, 1);
    expect(await counts()).toEqual({ ...before, tracking: before.tracking + 1 });
  });

  it('refuses a forged x-original-topic, re-publishes nothing for it, and still replays the others', async () => {
    const { COMMANDS_TOPIC, TRACKING_TOPIC, DLQ_TOPIC, TRACKING_DLQ_TOPIC } = worker.config;
    // A tracking event posing as a commands reject, one naming a topic of nobody's, and a commands-side one in the tracking DLQ.
    const toTracking = await forge(DLQ_TOPIC, trackingEvent(tenant.environment, 'forged'), { 'x-original-topic': TRACKING_TOPIC, 'x-dlq-reason': 'forged' });
    const toElsewhere = await forge(DLQ_TOPIC, 'anything', { 'x-original-topic': 'some.other.topic' });
    const toCommands = await forge(TRACKING_DLQ_TOPIC, 'not a command', { 'x-original-topic': COMMANDS_TOPIC });
    const before = await counts();
    const storedBefore = await worker.knex('tracking_events').where('identifier', 'forged').count({ n: '*' }).first();

    const one = await expctl(['dlq', 'replay', '--offset', `0:${toTracking}`], worker.env);
    expect(one.code).toBe(1);
    expect(one.stderr).toContain(
      `refused to replay 1 DLQ message(s) of ${DLQ_TOPIC}, which may go only to ${COMMANDS_TOPIC}: 0:${toTracking} (its x-original-topic is "${TRACKING_TOPIC}", not ${COMMANDS_TOPIC})`,
    );
    expect(one.stdout).toContain(`refused: its x-original-topic is "${TRACKING_TOPIC}"`);
    const tracking = await expctl(['dlq', 'replay', '--topic', 'tracking', '--offset', `0:${toCommands}`], worker.env);
    expect(tracking.code).toBe(1);
    expect(tracking.stderr).toContain(`0:${toCommands} (its x-original-topic is "${COMMANDS_TOPIC}", not ${TRACKING_TOPIC})`);
    const dry = JSON.parse((await expctl(['--json', 'dlq', 'replay', '--all', '--dry-run'], worker.env)).stdout);
    expect(dry.results.map((r: { offset: string; action: string }) => [r.offset, r.action])).toEqual([
      ['0', 'would skip (replayed before)'],
      ['1', 'would replay'],
      [toTracking, `would refuse: its x-original-topic is "${TRACKING_TOPIC}", not ${COMMANDS_TOPIC}`],
      [toElsewhere, `would refuse: its x-original-topic is "some.other.topic", not ${COMMANDS_TOPIC}`],
    ]);
    expect(await counts()).toEqual(before);

    // Replaying everything sends the legitimate copy and refuses the forged ones, which stay unmarked.
    const all = await expctl(['dlq', 'replay', '--all'], worker.env);
    expect(all.code).toBe(1);
    expect(all.stdout).toContain(`replayed 1 message(s) to ${COMMANDS_TOPIC}; skipped 1 replayed before (use --force to replay again); refused 2 not from ${COMMANDS_TOPIC}`);
    expect(all.stderr).toContain(`refused to replay 2 DLQ message(s) of ${DLQ_TOPIC}`);
    await eventually('the replayed copy back in the commands DLQ', async () => ((await counts()).commandsDlq === before.commandsDlq + 1 ? true : undefined));
    expect(await counts()).toEqual({ ...before, commands: before.commands + 1, commandsDlq: before.commandsDlq + 1 });
    const listed = JSON.parse((await expctl(['--json', 'dlq', 'list', '--from-beginning'], worker.env)).stdout);
    const replayedAt = (offset: string) => listed.messages.find((m: { offset: string }) => m.offset === offset).replayedAt;
    expect([replayedAt(toTracking), replayedAt(toElsewhere)]).toEqual([null, null]);
    expect(await worker.knex('tracking_events').where('identifier', 'forged').count({ n: '*' }).first()).toEqual(storedBefore);
  });
});
