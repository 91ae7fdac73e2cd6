import { randomUUID } from 'node:crypto';
import type { InboundMessage } from '../../../src/pipeline/command-pipeline.js';
import type { DeadLetter, PipelinePorts } from '../../../src/pipeline/ports.js';
import type { HeldCommandRef, ReplyDelivery } from '../../../src/models/delivery-state.js';
import { sign } from '../../../src/pipeline/signature.js';
import { testKeys } from '../env.js';

// What the pipeline tests that run CommandPipeline directly (no Kafka, no Redis) share.

/** Ports that keep what the pipeline hands them, for the test to look at. */
export function memoryPorts() {
  const seen = { deliveries: [] as ReplyDelivery[], held: [] as HeldCommandRef[], letters: [] as DeadLetter[] };
  const ports: PipelinePorts = {
    replies: { enqueue: async (d) => void seen.deliveries.push(...d) },
    retries: { schedule: async (h) => void seen.held.push(...h) },
    deadLetters: { send: async (l) => void seen.letters.push(...l) },
    jobs: { enqueue: async () => {}, ensureSchedules: async () => {} },
  };
  return { ports, seen };
}

/** Makes signed commands-topic messages of one topic, partition 0, at increasing offsets. */
export function messageMaker(topic: string) {
  let offset = 0;
  return (type: string, payload: unknown, key: string, id: string = randomUUID()): InboundMessage => {
    const value = Buffer.from(JSON.stringify({ id, type, actor: { type: 'system', id: 'test' }, payload }));
    return { topic, partition: 0, offset: String(offset++), key: Buffer.from(key), value, headers: { 'x-key-id': testKeys.system.keyId, 'x-signature': sign(value, testKeys.system.secret) } };
  };
}

/** A batch that is never stopped. */
export const alwaysLive = { heartbeat: async () => {}, isStopping: () => false, isLive: () => true };
