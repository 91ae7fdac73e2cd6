import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadConfig } from '../../../src/config.js';
import { handlers } from '../../../src/handlers/registry.js';
import { commandReadPolicy, readCommand, type ReadOutcome } from '../../../src/pipeline/read-command.js';
import { sign } from '../../../src/pipeline/signature.js';

// Properties of readCommand over arbitrary input: it never throws, always gives exactly one outcome, never
// accepts a message whose signature does not match its bytes, and never addresses a reply to a topic the policy
// refuses.

const config = loadConfig({ COMMAND_KEYS: 'sys:sys-secret:system,usr:usr-secret:user', COMMAND_MAX_BYTES: '4096' });
const policy = commandReadPolicy(config, handlers);
const KINDS = new Set(['command', 'reject', 'dlq']);

function checkShape(outcome: ReadOutcome): void {
  expect(KINDS.has(outcome.kind)).toBe(true);
  if (outcome.kind === 'reject') {
    expect([400, 401]).toContain(outcome.status);
    if (outcome.address.replyTo !== undefined) expect(policy.isAllowedReplyTopic(outcome.address.replyTo)).toBe(true);
  }
  if (outcome.kind === 'dlq') expect(outcome.reason.length).toBeGreaterThan(0);
}

const headerValue = fc.option(fc.oneof(fc.string(), fc.constantFrom('sys', 'usr', 'sha256=00', `sha256=${'a'.repeat(64)}`)), { nil: undefined });
const headers = fc.record({ 'x-key-id': headerValue, 'x-signature': headerValue });

const envelope = fc.record(
  {
    id: fc.uuid(),
    type: fc.oneof(fc.constantFrom(...handlers.keys()), fc.string()),
    environment: fc.string({ maxLength: 20 }),
    actor: fc.record({ type: fc.constantFrom('user', 'system', 'robot'), id: fc.string({ maxLength: 10 }) }),
    payload: fc.jsonValue({ maxDepth: 3 }),
    replyTo: fc.oneof(fc.constantFrom('svc.replies', '__consumer_offsets', config.EVENTS_TOPIC, 'bad topic'), fc.string({ maxLength: 30 })),
    correlationId: fc.string({ maxLength: 20 }),
  },
  { requiredKeys: ['id'] },
);

describe('readCommand properties', () => {
  it('arbitrary bytes and headers never throw and give exactly one well-formed outcome', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 6000 }), headers, (bytes, h) => {
        checkShape(readCommand({ value: Buffer.from(bytes), headers: h }, policy));
      }),
      { numRuns: 500 },
    );
  });

  it('JSON-ish envelopes, signed or not, never throw and give one well-formed outcome', () => {
    fc.assert(
      fc.property(envelope, fc.boolean(), (e, signIt) => {
        const value = Buffer.from(JSON.stringify(e));
        const h = signIt ? { 'x-key-id': 'sys', 'x-signature': sign(value, 'sys-secret') } : {};
        checkShape(readCommand({ value, headers: h }, policy));
      }),
      { numRuns: 500 },
    );
  });

  it('never accepts a message whose signature does not match its bytes', () => {
    fc.assert(
      fc.property(envelope, fc.constantFrom('sys', 'usr'), fc.string(), fc.nat(), (e, keyId, wrongSecret, flip) => {
        const value = Buffer.from(JSON.stringify(e));
        const realSecret = keyId === 'sys' ? 'sys-secret' : 'usr-secret';
        // Signed with the wrong secret, or the right one over other bytes.
        const forged = readCommand({ value, headers: { 'x-key-id': keyId, 'x-signature': sign(value, wrongSecret === realSecret ? `${wrongSecret}x` : wrongSecret) } }, policy);
        const tampered = Buffer.from(value);
        const at = flip % tampered.length;
        tampered[at] = tampered[at]! ^ 0x01;
        const altered = readCommand({ value: tampered, headers: { 'x-key-id': keyId, 'x-signature': sign(value, realSecret) } }, policy);
        expect(forged.kind).not.toBe('command');
        expect(altered.kind).not.toBe('command');
      }),
      { numRuns: 500 },
    );
  });

  it('accepts a correctly signed, valid envelope of a known type', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.constantFrom(...handlers.keys()), fc.jsonValue({ maxDepth: 2 }), (id, type, payload) => {
        const value = Buffer.from(JSON.stringify({ id, type, actor: { type: 'system', id: 'ops' }, payload, replyTo: 'svc.replies' }));
        const outcome = readCommand({ value, headers: { 'x-key-id': 'sys', 'x-signature': sign(value, 'sys-secret') } }, policy);
        if (value.length <= config.COMMAND_MAX_BYTES) expect(outcome.kind).toBe('command');
      }),
      { numRuns: 300 },
    );
  });
});
