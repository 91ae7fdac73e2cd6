import type { IHeaders, Message, Producer } from 'kafkajs';

// Sending copies of messages to a DLQ topic (CONTRACT.md: the original key, value and headers, plus x-dlq-reason
// and x-original-topic/-partition/-offset). The broker's message.max.bytes (1 MiB by default) bounds a whole
// record batch, and kafkajs puts all the messages of one send for one partition into one batch: an uncapped batch
// of rejects, or a single reject near the limit plus our headers, would be refused for good, and the consumer
// that must get its rejects out before committing would retry it for ever (a stuck partition).

/** Estimated bytes of DLQ copies per send: half the broker's default limit, leaving room for batch overhead. */
export const DLQ_SEND_BYTES = 512 * 1024;
/** A record's own framing (lengths, offsets, timestamp deltas), generously. */
const RECORD_OVERHEAD_BYTES = 64;

/** Set instead of the original value and headers on a copy the broker refused as too large. */
export const OMITTED_HEADER = 'x-dlq-omitted';

export interface DeadLetterCopy {
  key: Buffer | string | null;
  value: Buffer | null;
  /** The original message's headers. */
  headers: IHeaders;
  /** x-dlq-reason, x-original-topic, …: they win over original headers of the same name. */
  dlqHeaders: Record<string, string>;
}

/**
 * Sends `copies` to `topic` in order, in sends of at most DLQ_SEND_BYTES (estimated). A send the broker refuses
 * as too large (its limit is lower than ours) is split in halves; a single copy it refuses is sent without the
 * original value and headers, with OMITTED_HEADER saying how many bytes were left out. Other errors are thrown.
 */
export async function sendDeadLetters(producer: Producer, topic: string, copies: DeadLetterCopy[]): Promise<void> {
  let batch: DeadLetterCopy[] = [];
  let bytes = 0;
  for (const copy of copies) {
    const size = copySize(copy);
    if (batch.length && bytes + size > DLQ_SEND_BYTES) {
      await sendOrSplit(producer, topic, batch);
      batch = [];
      bytes = 0;
    }
    batch.push(copy);
    bytes += size;
  }
  if (batch.length) await sendOrSplit(producer, topic, batch);
}

async function sendOrSplit(producer: Producer, topic: string, batch: DeadLetterCopy[]): Promise<void> {
  try {
    await producer.send({ topic, acks: -1, messages: batch.map(fullCopy) });
  } catch (error) {
    if (!isMessageTooLarge(error)) throw error;
    if (batch.length === 1) {
      await producer.send({ topic, acks: -1, messages: [omittedCopy(batch[0]!)] });
      return;
    }
    const half = Math.ceil(batch.length / 2);
    await sendOrSplit(producer, topic, batch.slice(0, half));
    await sendOrSplit(producer, topic, batch.slice(half));
  }
}

function fullCopy(copy: DeadLetterCopy): Message {
  const original = Object.fromEntries(Object.entries(copy.headers).filter(([, v]) => v !== undefined));
  return { key: copy.key, value: copy.value, headers: { ...original, ...copy.dlqHeaders } };
}

function omittedCopy(copy: DeadLetterCopy): Message {
  const left = copySize(copy) - headersSize(copy.dlqHeaders) - RECORD_OVERHEAD_BYTES;
  return { key: copy.key, value: null, headers: { ...copy.dlqHeaders, [OMITTED_HEADER]: `value and headers (${left} bytes): too large for the DLQ topic` } };
}

const bytesOf = (part: Buffer | string | null | undefined) => (part == null ? 0 : typeof part === 'string' ? Buffer.byteLength(part) : part.length);

function headersSize(headers: IHeaders): number {
  let total = 0;
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) total += Buffer.byteLength(name) + bytesOf(v) + 8;
  }
  return total;
}

const copySize = (copy: DeadLetterCopy) => RECORD_OVERHEAD_BYTES + bytesOf(copy.key) + bytesOf(copy.value) + headersSize(copy.headers) + headersSize(copy.dlqHeaders);

/** True for the broker's MESSAGE_TOO_LARGE, also when kafkajs' retry wrappers carry it as a cause. */
export function isMessageTooLarge(error: unknown): boolean {
  let current = error as { type?: string; cause?: unknown; originalError?: unknown } | undefined;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current.type === 'MESSAGE_TOO_LARGE') return true;
    current = (current.cause ?? current.originalError) as typeof current;
  }
  return false;
}
