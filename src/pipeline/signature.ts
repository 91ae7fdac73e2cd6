import { timingSafeEqual } from 'node:crypto';
import { sign } from '@experimentation-worker/client/contracts';
import type { CommandKey } from '../config.js';

// CONTRACT.md: `x-key-id` names a key of COMMAND_KEYS, `x-signature: sha256=<hex>` is HMAC-SHA256 over the
// exact value bytes. A `user` key may only sign user commands; a `system` key may sign both.

// Signing is the client package's: the worker checks exactly what clients compute.
export { sign };

export type SignatureCheck = { ok: true; key: CommandKey } | { ok: false; reason: string };

export function verifySignature(value: Buffer, keyId: string | undefined, signature: string | undefined, keys: CommandKey[]): SignatureCheck {
  if (!keyId || !signature) return { ok: false, reason: 'Missing signature.' };
  const key = keys.find((k) => k.keyId === keyId);
  if (!key) return { ok: false, reason: 'Unknown signing key.' };
  const expected = Buffer.from(sign(value, key.secret));
  const given = Buffer.from(signature.trim());
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'Invalid signature.' };
  return { ok: true, key };
}

export function keyMaySign(key: CommandKey, actorType: 'user' | 'system'): boolean {
  return key.scope === 'system' || actorType === 'user';
}
