import type { Producer, ProducerBatch } from 'kafkajs';
import type { Logger } from '../logger.js';

interface Slot {
  producer: Producer;
  connected: Promise<void>;
  inFlight: number;
  /** Topics sent to: kafkajs asks for the metadata of all of them on every refresh. */
  topics: Set<string>;
  retired: boolean;
  closing?: Promise<void>;
}

export interface SendOptions {
  /** When the send fails with an error this accepts, the producer that sent it is replaced. */
  renewOn?: (error: unknown) => boolean;
}

/**
 * A kafkajs producer that is replaced by a fresh one when it may be broken for good:
 * - kafkajs keeps every topic a producer has sent to and asks for the metadata of all of them on each refresh;
 *   once one of them is deleted (a client's reply topic, say) every refresh fails, for every topic, for as long
 *   as that producer lives;
 * - an idempotent producer whose request failed on some partitions and succeeded on others has its sequence
 *   numbers out of step with the broker's, which refuses its next sends there.
 * A fresh producer has neither problem. The old one is disconnected once its sends in flight have settled.
 */
export class RenewableProducer {
  private current: Slot | undefined;
  private readonly retired = new Set<Slot>();
  private closed = false;

  constructor(
    private readonly create: () => Producer,
    private readonly options: { logger: Logger; name: string; maxTopics?: number },
  ) {}

  async sendBatch(batch: ProducerBatch, options: SendOptions = {}): Promise<void> {
    if (this.closed) throw new Error(`the ${this.options.name} producer is closed`);
    const slot = this.slot();
    slot.inFlight++;
    try {
      await slot.connected;
      await slot.producer.sendBatch(batch);
      for (const { topic } of batch.topicMessages ?? []) slot.topics.add(topic);
      // Bounds the metadata each refresh asks for, whatever the number of reply topics.
      if (slot.topics.size > (this.options.maxTopics ?? Number.POSITIVE_INFINITY)) this.retire(slot, 'it has sent to many topics');
    } catch (error) {
      if (options.renewOn?.(error)) this.retire(slot, (error as Error)?.message ?? String(error));
      throw error;
    } finally {
      slot.inFlight--;
      if (slot.retired && slot.inFlight === 0) void this.close(slot);
    }
  }

  /** Replaces the current producer (the next send gets a fresh one). */
  renew(reason: string): void {
    if (this.current) this.retire(this.current, reason);
  }

  async disconnect(): Promise<void> {
    this.closed = true;
    const slots = [...this.retired, ...(this.current ? [this.current] : [])];
    this.current = undefined;
    await Promise.all(slots.map((slot) => this.close(slot)));
  }

  private slot(): Slot {
    if (this.current) return this.current;
    const producer = this.create();
    const slot: Slot = { producer, connected: producer.connect(), inFlight: 0, topics: new Set(), retired: false };
    // A producer that could not connect is not used again; the send that waited for it reports the error.
    slot.connected.catch(() => this.retire(slot, 'it could not connect'));
    this.current = slot;
    return slot;
  }

  private retire(slot: Slot, reason: string): void {
    if (slot.retired) return;
    slot.retired = true;
    if (this.current === slot) this.current = undefined;
    this.retired.add(slot);
    this.options.logger.debug({ producer: this.options.name, reason }, 'replacing the Kafka producer');
    if (slot.inFlight === 0) void this.close(slot);
  }

  private close(slot: Slot): Promise<void> {
    this.retired.delete(slot);
    slot.closing ??= slot.producer.disconnect().catch(() => {});
    return slot.closing;
  }
}
