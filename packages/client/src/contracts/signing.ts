import { createHmac } from 'node:crypto';

/**
 * The `x-signature` header of a command: `sha256=<hex>`, HMAC-SHA256 over the exact bytes of the message value
 * with the secret of the key named in `x-key-id`. Sign the bytes you send: re-serialising the JSON changes them.
 */
export function sign(value: Buffer | string, secret: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(value).digest('hex');
}
