import type { JobDraft } from '../handlers/types.js';
import type { HeldCommandRef, ReplyDelivery } from '../models/delivery-state.js';
import type { TraceContext } from '../contracts/trace-context.js';

// The pipeline's ports: all it needs from the outside, implemented by the adapters in jobs/ (BullMQ) and
// transport/ (Kafka) and wired in app.ts. Every call is idempotent: the reconciler calls them again with what
// Postgres says is still to do, so an adapter that lost its state (Redis flushed) is simply filled again.

/** Moves recorded replies to Kafka (a queue with retries); each delivery is identified by its id. */
export interface ReplySink {
  enqueue(deliveries: ReplyDelivery[]): Promise<void>;
}

/** Runs held commands later, each no earlier than its `notBefore`; identified by command id. */
export interface RetryScheduler {
  schedule(held: HeldCommandRef[]): Promise<void>;
}

/** A commands-topic message that cannot be read as a command, with its original bytes. */
export interface DeadLetter {
  sourceTopic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string | undefined>;
  reason: string;
}

export interface DeadLetterSink {
  send(letters: DeadLetter[]): Promise<void>;
}

/** Background jobs (results computations) and the repeatable schedules. */
export interface JobScheduler {
  enqueue(jobs: JobDraft[]): Promise<void>;
  /** Installs the repeatable schedules that are missing. */
  ensureSchedules(): Promise<void>;
}

/** Publishes one reply to its topic (key = command id, header `correlation-id`). */
export interface ReplyPublisher {
  publish(delivery: ReplyDelivery): Promise<void>;
}

/**
 * Publishes several replies in as few produce requests as their bytes allow; it throws ReplyNotPublished
 * (replies.ts) when any of them may not have been published (some may have been: replies are at least once).
 */
export interface ReplyBatchPublisher {
  publishAll(deliveries: ReplyDelivery[]): Promise<void>;
}

export interface PipelinePorts {
  replies: ReplySink;
  retries: RetryScheduler;
  deadLetters: DeadLetterSink;
  jobs: JobScheduler;
}

/** A command as its trace span describes it. */
export interface TracedCommand {
  id: string;
  type: string;
  /** The Kafka message key (the command's ordering key). */
  key: string;
  environment?: string | undefined;
  /** The message's trace context: the parent of the command's span. */
  trace?: TraceContext | undefined;
}

/**
 * Traces commands (src/telemetry). `work` runs as the command's span and gets the traceparent that its reply and
 * events are published in: the span's, or the message's own, unchanged, when the worker traces nothing.
 */
export interface CommandTracing {
  command<T>(command: TracedCommand, work: (traceparent: string | undefined) => Promise<T>, statusOf: (result: T) => number | undefined): Promise<T>;
}

/** No spans; a command's trace context is passed on to its outputs as it came. */
export const untracedCommands: CommandTracing = { command: (command, work) => work(command.trace?.traceparent) };
