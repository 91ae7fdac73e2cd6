import { describe, expect, it } from 'vitest';
import { formatTable, parsePayload, preview, truncate } from '../../../src/cli/commands/context.js';
import { parseActor, pickKey } from '../../../src/cli/commands/send.js';
import { describeDlqMessage, parseDlqOffset, replayHeaders, replayRefusal } from '../../../src/cli/commands/dlq-messages.js';
import { describeJob } from '../../../src/cli/commands/jobs.js';

describe('expctl helpers', () => {
  it('parses payloads: default {}, inline JSON, invalid JSON with the parser message', async () => {
    const io = { cwd: '/nonexistent' };
    expect(await parsePayload(undefined, io)).toEqual({});
    expect(await parsePayload('[1,2]', io)).toEqual([1, 2]);
    await expect(parsePayload('{"a":', io)).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/^invalid --payload: not valid JSON/) });
    await expect(parsePayload('@', io)).rejects.toMatchObject({ exitCode: 2 });
  });

  it('parses actors and picks signing keys by scope', () => {
    expect(parseActor('user:42')).toEqual({ type: 'user', id: '42' });
    expect(parseActor('system:ops:eu')).toEqual({ type: 'system', id: 'ops:eu' });
    expect(() => parseActor('robot:1')).toThrow(/invalid --actor/);
    expect(() => parseActor('user:')).toThrow(/invalid --actor/);
    const keys = [
      { keyId: 'u', secret: 's', scope: 'user' as const },
      { keyId: 's', secret: 's', scope: 'system' as const },
    ];
    expect(pickKey(keys, { type: 'system', id: 'x' }).keyId).toBe('s');
    expect(pickKey(keys, { type: 'user', id: 'x' }).keyId).toBe('u');
    expect(pickKey(keys, { type: 'user', id: 'x' }, 's').keyId).toBe('s');
  });

  it('parses DLQ positions', () => {
    expect(parseDlqOffset('2:42')).toEqual({ partition: 2, offset: 42n });
    expect(parseDlqOffset('7')).toEqual({ partition: 0, offset: 7n });
    expect(() => parseDlqOffset('a:b')).toThrow(/invalid --offset/);
  });

  it('strips the DLQ headers for a replay and keeps the original ones', () => {
    const headers = { 'x-key-id': Buffer.from('k'), 'x-signature': 'sha256=ab', 'x-dlq-reason': 'r', 'x-original-topic': 't', 'x-original-offset': '1' };
    expect(Object.keys(replayHeaders(headers))).toEqual(['x-key-id', 'x-signature']);
  });

  it('replays a DLQ message only to the topic its single x-original-topic names', () => {
    const from = (headers: Record<string, Buffer | string | Buffer[]>) => replayRefusal({ headers }, 'cmds');
    expect(from({ 'x-original-topic': Buffer.from('cmds') })).toBeNull();
    expect(from({ 'x-original-topic': 'tracking' })).toBe('its x-original-topic is "tracking", not cmds');
    expect(from({})).toBe('it has no x-original-topic header');
    expect(from({ 'x-original-topic': [Buffer.from('cmds'), Buffer.from('other')] })).toBe('it has more than one x-original-topic header');
  });

  it('describes DLQ messages and jobs', () => {
    const view = describeDlqMessage({
      partition: 0,
      offset: '3',
      timestamp: '1700000000000',
      key: null,
      value: Buffer.from('not json\n'),
      headers: { 'x-dlq-reason': Buffer.from('not JSON'), 'x-original-topic': Buffer.from('cmds'), 'x-original-partition': Buffer.from('2'), 'x-original-offset': Buffer.from('9') },
    });
    expect(view).toMatchObject({ reason: 'not JSON', originalTopic: 'cmds', originalPartition: 2, originalOffset: '9', preview: 'not json\\x0a', size: 9, timestamp: '2023-11-14T22:13:20.000Z' });
    const job = describeJob('command-retries', {
      id: 'cmd-1',
      name: 'command',
      data: { envelope: { id: 'c1', type: 'metric.create' } },
      attemptsMade: 2,
      opts: { attempts: 2 },
      failedReason: 'boom',
      finishedOn: 1700000000000,
      timestamp: 1700000000000,
    });
    expect(job).toMatchObject({ id: 'cmd-1', commandId: 'c1', type: 'metric.create', attemptsMade: 2, maxAttempts: 2, failedReason: 'boom' });
    expect(describeJob('replies', { id: 'r', name: 'replies', data: { replies: [{ topic: 't', reply: { commandId: 'c2', type: 'x' } }] }, attemptsMade: 1, opts: {}, failedReason: '', finishedOn: undefined, timestamp: 0 })).toMatchObject({ commandId: 'c2', type: 'x', failedReason: null, failedAt: null });
    expect(
      describeJob('replies', {
        id: 'r2',
        name: 'replies',
        data: { replies: [{ topic: 't', reply: { commandId: 'c3', type: 'y' } }, { topic: 't', reply: { commandId: 'c4', type: 'y' } }] },
        attemptsMade: 1,
        opts: {},
        failedReason: '',
        finishedOn: undefined,
        timestamp: 0,
      }),
    ).toMatchObject({ commandId: 'c3 (+1 more replies)', type: 'y' });
  });

  it('formats tables and previews', () => {
    expect(formatTable(['A', 'LONGER'], [['x', 'y'], ['wide cell', '']])).toBe('A          LONGER\nx          y\nwide cell');
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(preview(Buffer.from('\u0001abc'), 3)).toBe('\\x…');
    expect(preview(null)).toBe('(null)');
  });
});

describe('describeJob for results jobs', () => {
  it('names the experiment', () => {
    expect(describeJob('results', { id: 'results-7', name: 'compute', data: { experimentId: 7 }, attemptsMade: 3, opts: { attempts: 5 }, failedReason: 'x', finishedOn: 1, timestamp: 1 })).toMatchObject({ commandId: null, type: 'compute (experiment 7)' });
  });
});
