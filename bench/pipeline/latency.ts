import { performance } from 'node:perf_hooks';
import type { Message } from 'kafkajs';
import { sendMessages, signedMessage } from './kafka-io.js';
import { percentile, summarizeLatencies, type LatencySummary } from './stats.js';
import { metricCreate, type Tenants, type Wire } from './tenants.js';

// Open loop: commands leave on a fixed schedule whether or not earlier ones were answered, as independent
// clients would send them, so a worker slower than the offered rate shows as a growing latency, not as a
// slower sender. Latency is send → reply received by the bench.

export interface LatencyStep extends LatencySummary {
  offeredRate: number;
  /** Rate actually sent in the measured window (the sender may fall behind on a busy machine). */
  achievedRate: number;
  /** Replies received per second during the measured window. */
  answeredRate: number;
  measuredSeconds: number;
  /** Every command of the step, warm-up included (what its CPU figures are per). */
  commandsSent: number;
  warmupSeconds: number;
  non201: number;
  sendErrors: number;
  /** How far the sender fell behind its schedule at worst, ms. */
  maxSendLagMs: number;
  /** The measured window second by second (by send time): shows whether the tail is spread or a few stalls. */
  timeline: Array<{ second: number; answered: number; p50Ms: number; p99Ms: number; maxMs: number }>;
}

export interface LatencyPlan {
  rate: number;
  seconds: number;
  warmupSeconds: number;
  drainSeconds: number;
}

const TICK_MS = 5;

export async function measureLatency(wire: Wire, tenants: Tenants, plan: LatencyPlan, offset: number, progress: (message: string) => void): Promise<LatencyStep> {
  const warmupCount = Math.round(plan.rate * plan.warmupSeconds);
  const total = warmupCount + Math.round(plan.rate * plan.seconds);
  const sentAt = new Float64Array(total).fill(NaN);
  const replyAt = new Float64Array(total).fill(NaN);
  const ids: string[] = new Array(total);
  let answered = 0;
  let non201 = 0;
  let sendErrors = 0;
  let maxSendLagMs = 0;
  let finish!: () => void;
  const allAnswered = new Promise<void>((resolve) => (finish = resolve));
  const start = performance.now();
  let measureStart = NaN;
  let sent = 0;
  let nextProgress = start + 5000;
  while (sent < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - start) * plan.rate) / 1000) + 1);
    if (due > sent) {
      maxSendLagMs = Math.max(maxSendLagMs, now - (start + (sent * 1000) / plan.rate));
      const messages: Message[] = [];
      for (let i = sent; i < due; i++) {
        const { command, partition } = metricCreate(tenants, offset + i);
        const { id, message } = signedMessage(wire.key, command, partition);
        ids[i] = id;
        messages.push(message);
        wire.collector.expect(id, (reply) => {
          replyAt[i] = reply.atMs;
          if (reply.status !== 201) non201++;
          if (++answered === total) finish();
        });
      }
      const at = performance.now();
      if (sent <= warmupCount && due > warmupCount) measureStart = start + (warmupCount * 1000) / plan.rate;
      sentAt.fill(at, sent, due);
      sent = due;
      sendMessages(wire.producer, wire.commandsTopic, messages).catch(() => (sendErrors += messages.length));
    }
    if (now > nextProgress) {
      progress(`${plan.rate}/s: ${((now - start) / 1000).toFixed(0)} s, sent ${sent}, answered ${answered}`);
      nextProgress += 5000;
    }
    const nextDue = start + (sent * 1000) / plan.rate;
    await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(TICK_MS, nextDue - performance.now()))));
  }
  const sendEnd = performance.now();
  const windowStart = Number.isNaN(measureStart) ? start : measureStart;
  const windowSeconds = (sendEnd - windowStart) / 1000;
  const drained = await Promise.race([allAnswered.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), plan.drainSeconds * 1000))]);
  if (!drained) progress(`${plan.rate}/s: ${total - answered} commands unanswered after the ${plan.drainSeconds} s drain`);
  for (let i = 0; i < total; i++) if (Number.isNaN(replyAt[i]!)) wire.collector.forget(ids[i]!);
  const measured = Array.from(replyAt.subarray(warmupCount), (at, j) => at - sentAt[warmupCount + j]!);
  const answeredInWindow = replyAt.filter((at) => at >= windowStart && at <= sendEnd).length;
  const answeredLatencies = measured.filter((x) => !Number.isNaN(x));
  const bySecond: number[][] = [];
  measured.forEach((latency, j) => {
    if (Number.isNaN(latency)) return;
    const second = Math.max(0, Math.floor((sentAt[warmupCount + j]! - windowStart) / 1000));
    (bySecond[second] ??= []).push(latency);
  });
  const timeline = bySecond.flatMap((ls, second) => {
    if (!ls?.length) return [];
    ls.sort((a, b) => a - b);
    const at = (p: number) => Math.round(percentile(ls, p) * 10) / 10;
    return [{ second, answered: ls.length, p50Ms: at(50), p99Ms: at(99), maxMs: at(100) }];
  });
  return {
    ...summarizeLatencies(answeredLatencies, measured.length - answeredLatencies.length),
    offeredRate: plan.rate,
    achievedRate: (total - warmupCount) / windowSeconds,
    answeredRate: answeredInWindow / windowSeconds,
    measuredSeconds: plan.seconds,
    commandsSent: total,
    warmupSeconds: plan.warmupSeconds,
    non201,
    sendErrors,
    maxSendLagMs,
    timeline,
  };
}
