import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../../src/config.js';
import { handlers } from '../../../src/handlers/registry.js';
import { commandFingerprint, commandReadPolicy, readCommand, type ReadOutcome } from '../../../src/pipeline/read-command.js';
import { sign } from '../../../src/pipeline/signature.js';

const config = loadConfig({ COMMAND_KEYS: 'sys:sys-secret:system,usr:usr-secret:user', COMMAND_MAX_BYTES: '2048' });
const policy = commandReadPolicy(config, handlers);

function signed(envelope: unknown, keyId = 'sys', secret = 'sys-secret') {
  const value = Buffer.from(typeof envelope === 'string' ? envelope : JSON.stringify(envelope));
  return { value, headers: { 'x-key-id': keyId, 'x-signature': sign(value, secret) } };
}
const envelope = (fields: Record<string, unknown> = {}) => ({
  id: randomUUID(),
  type: 'organisation.upsert',
  actor: { type: 'system', id: 'ops' },
  payload: { id: 1, name: 'x', experimentationEnabled: true },
  ...fields,
});
const rejection = (outcome: ReadOutcome) => (outcome.kind === 'reject' ? { status: outcome.status, body: outcome.body, replyTo: outcome.address.replyTo } : outcome);

describe('readCommand limits', () => {
  it('answers an oversized message with a readable id 400, without parsing it, and sends one without to the DLQ', () => {
    const big = envelope({ payload: { id: 1, name: 'x'.repeat(4000), experimentationEnabled: true }, replyTo: 'svc.replies' });
    expect(rejection(readCommand(signed(big), policy))).toEqual({ status: 400, body: { detail: 'Command message is too large.' }, replyTo: 'svc.replies' });
    const noId = readCommand(signed(`{"junk": "${'y'.repeat(5000)}"}`), policy);
    expect(noId).toMatchObject({ kind: 'dlq', reason: expect.stringMatching(/^too large \(\d+ bytes\) and no readable id$/) });
  });

  it('refuses reply topics outside the pattern, internal ones and the worker\'s own, answering on the default topic', () => {
    for (const replyTo of ['__consumer_offsets', config.EVENTS_TOPIC, config.COMMANDS_TOPIC, config.TRACKING_TOPIC, config.DLQ_TOPIC, config.TRACKING_DLQ_TOPIC, 'bad topic!', 'x'.repeat(250), 42]) {
      expect(rejection(readCommand(signed(envelope({ replyTo })), policy)), String(replyTo)).toEqual({ status: 400, body: { replyTo: ['Not an allowed reply topic.'] }, replyTo: undefined });
    }
    expect(readCommand(signed(envelope({ replyTo: 'svc.replies' })), policy).kind).toBe('command');
    // Unsigned: no reply is ever sent to the topic it names when that topic is not allowed.
    const forged = { ...signed(envelope({ replyTo: config.EVENTS_TOPIC })), headers: {} };
    expect(rejection(readCommand(forged, policy))).toMatchObject({ status: 401, replyTo: undefined });
  });

  it('honours a configured REPLY_TOPIC_PATTERN', () => {
    const strict = commandReadPolicy(loadConfig({ COMMAND_KEYS: 'sys:sys-secret:system', REPLY_TOPIC_PATTERN: '^team-a\\.' }), handlers);
    expect(readCommand(signed(envelope({ replyTo: 'team-a.replies' })), strict).kind).toBe('command');
    expect(rejection(readCommand(signed(envelope({ replyTo: 'team-b.replies' })), strict))).toMatchObject({ status: 400 });
  });
});

describe('command fingerprint', () => {
  const base = envelope({ environment: 'env-1' });
  const fingerprintOf = (fields: Record<string, unknown>, keyId = 'sys', secret = 'sys-secret') => {
    const outcome = readCommand(signed({ ...base, ...fields }, keyId, secret), policy);
    if (outcome.kind !== 'command') throw new Error(JSON.stringify(outcome));
    return outcome.fingerprint;
  };

  it('leaves out sentAt, correlationId and replyTo, and the order of payload keys', () => {
    const first = fingerprintOf({});
    expect(fingerprintOf({ sentAt: new Date().toISOString(), correlationId: 'again', replyTo: 'other.replies' })).toBe(first);
    expect(fingerprintOf({ payload: { experimentationEnabled: true, name: 'x', id: 1 } })).toBe(first);
    expect(first).toBe(commandFingerprint('sys', base as Parameters<typeof commandFingerprint>[1]));
  });

  it('changes with the signing key, type, environment, actor or payload', () => {
    const first = fingerprintOf({});
    const others = [
      fingerprintOf({ actor: { type: 'user', id: 'ops' } }, 'usr', 'usr-secret'),
      fingerprintOf({ type: 'project.upsert' }),
      fingerprintOf({ environment: 'env-2' }),
      fingerprintOf({ actor: { type: 'system', id: 'someone-else' } }),
      fingerprintOf({ payload: { id: 1, name: 'y', experimentationEnabled: true } }),
    ];
    expect(new Set([first, ...others]).size).toBe(others.length + 1);
  });
});

describe('readCommand trace context', () => {
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const withTrace = (message: ReturnType<typeof signed>, headers: Record<string, string>) => ({ ...message, headers: { ...message.headers, ...headers } });

  it('carries the traceparent and tracestate of a command and of an early rejection, not of a dead letter', () => {
    const command = readCommand(withTrace(signed(envelope()), { traceparent, tracestate: 'v=1' }), policy);
    expect(command).toMatchObject({ kind: 'command', trace: { traceparent, tracestate: 'v=1' } });
    const forged = readCommand(withTrace(signed(envelope(), 'sys', 'wrong'), { traceparent }), policy);
    expect(forged).toMatchObject({ kind: 'reject', status: 401, trace: { traceparent } });
    expect(readCommand(withTrace(signed('not json at all'), { traceparent }), policy)).toEqual({ kind: 'dlq', reason: expect.any(String) });
  });

  it('carries none when the header is missing or invalid', () => {
    expect(readCommand(signed(envelope()), policy)).not.toHaveProperty('trace');
    expect(readCommand(withTrace(signed(envelope()), { traceparent: '00-xyz' }), policy)).not.toHaveProperty('trace');
  });
});
