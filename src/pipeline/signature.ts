import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CommandKey } from '../config.js';

// CONTRACT.md: `x-key-id` names a key of COMMAND_KEYS, `x-signature: sha256=<hex>` is HMAC-SHA256 over the
// exact value bytes. A `user` key may only sign user commands; a `system` key may sign both.

export function sign(value: Buffer | string, secret: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(value).digest('hex');
}

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
