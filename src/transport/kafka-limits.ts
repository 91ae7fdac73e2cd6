import { CompressionTypes, type Message } from 'kafkajs';

// What the worker sends to Kafka, sized and classified (CONTRACT.md "Limits and hostile input"): batches capped in
// bytes, large messages compressed, and a broker's refusal told apart from a broker that cannot be reached.

/**
 * Bytes of keys, values and headers in one produce request. A request carries one record batch per partition,
 * and the broker refuses a batch over the topic's max.message.bytes (1 MiB by default): half of that leaves
 * room for framing on topics we did not create. A message larger than this goes in a request of its own.
 */
export const MAX_REQUEST_BYTES = 512 * 1024;
/** Requests of at least this many bytes are gzip-compressed: JSON shrinks several times; small ones are not worth it. */
export const COMPRESS_FROM_BYTES = 16 * 1024;
/**
 * max.message.bytes of the output topics the worker creates (events, replies, DLQ): room for a full page of
 * resources near the contract's field limits (999 metrics with 16 KiB definitions), compressed.
 */
export const OUTPUT_TOPIC_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** A record's own framing (lengths, offset and timestamp deltas, attributes), generously. */
const RECORD_OVERHEAD_BYTES = 64;

const bytesOf = (part: Buffer | string | null | undefined) => (part == null ? 0 : typeof part === 'string' ? Buffer.byteLength(part) : part.length);

/** Estimated bytes a message takes in a record batch, before compression. */
export function messageBytes(message: Pick<Message, 'key' | 'value' | 'headers'>): number {
  let total = RECORD_OVERHEAD_BYTES + bytesOf(message.key) + bytesOf(message.value);
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) total += Buffer.byteLength(name) + bytesOf(v as Buffer | string | undefined) + 8;
  }
  return total;
}

/** Splits `items`, in order, into runs of at most `maxBytes` (an item larger than that is a run of its own). */
export function byteCappedChunks<T>(items: readonly T[], sizeOf: (item: T) => number, maxBytes = MAX_REQUEST_BYTES): T[][] {
  const chunks: T[][] = [];
  let chunk: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (chunk.length && bytes + size > maxBytes) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(item);
    bytes += size;
  }
  if (chunk.length) chunks.push(chunk);
  return chunks;
}

export const compressionFor = (bytes: number): CompressionTypes => (bytes >= COMPRESS_FROM_BYTES ? CompressionTypes.GZIP : CompressionTypes.None);

/**
 * Why a send failed:
 * - `refused`: the broker refuses these messages for good (too large, invalid topic or record, not authorised):
 *   sending them again cannot succeed, so they are parked;
 * - `missing-topic`: the topic does not exist (producers that may not create topics get this after their retries);
 * - `unreachable`: no broker answered, or it answered with a passing condition (leader election, timeout): not
 *   the messages' fault, so it is retried for as long as it lasts;
 * - `other`: anything else (a client bug, a producer-state error).
 */
export type SendFailure = 'refused' | 'missing-topic' | 'unreachable' | 'other';

/** Broker error types (kafkajs' names of the protocol's error codes) that no retry of the same message can fix. */
const REFUSED_FOR_GOOD = new Set([
  'MESSAGE_TOO_LARGE', // RecordTooLargeException: a record batch over max.message.bytes
  'RECORD_LIST_TOO_LARGE',
  'INVALID_TOPIC_EXCEPTION',
  'INVALID_RECORD',
  'TOPIC_AUTHORIZATION_FAILED',
  'INVALID_TIMESTAMP',
  'POLICY_VIOLATION',
  'UNSUPPORTED_FOR_MESSAGE_FORMAT',
]);
/** kafkajs errors of the connection itself. */
const UNREACHABLE_NAMES = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSRequestTimeoutError', 'KafkaJSBrokerNotFound']);

interface KafkaErrorLike {
  name?: string;
  message?: string;
  type?: unknown;
  retriable?: boolean;
  cause?: unknown;
  originalError?: unknown;
}

/** The error and the errors it wraps (kafkajs' retry wrappers keep the last failure as `cause`). */
function errorChain(error: unknown): KafkaErrorLike[] {
  const chain: KafkaErrorLike[] = [];
  let current = error as KafkaErrorLike | undefined;
  for (let depth = 0; current && typeof current === 'object' && depth < 6; depth++) {
    chain.push(current);
    current = (current.cause ?? current.originalError) as KafkaErrorLike | undefined;
  }
  return chain;
}

export interface ClassifiedSendError {
  failure: SendFailure;
  /** The broker's error type and message when there is one (for `last_error` and logs), else the message. */
  detail: string;
}

export function classifySendError(error: unknown): ClassifiedSendError {
  const chain = errorChain(error);
  const protocol = chain.find((e) => typeof e.type === 'string');
  const detail = (protocol ? `${String(protocol.type)}: ${protocol.message ?? ''}` : String((error as Error)?.message ?? error)).slice(0, 1000);
  if (protocol && REFUSED_FOR_GOOD.has(protocol.type as string)) return { failure: 'refused', detail };
  if (protocol?.type === 'UNKNOWN_TOPIC_OR_PARTITION') return { failure: 'missing-topic', detail };
  const unreachable = chain.some((e) => UNREACHABLE_NAMES.has(e.name ?? '') || e.message === 'The producer is disconnected') || protocol?.retriable === true;
  return { failure: unreachable ? 'unreachable' : 'other', detail };
}
