import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TRACKING_REJECTION_LABELS } from './contracts/tracking.js';
import type { PipelineBacklog } from './models/backlog.js';

/** `kind` of the parked-message metrics: outbox events, replies, DLQ copies of unreadable commands. */
export const PARKED_KINDS = ['event', 'reply', 'dead_letter'] as const;
export type ParkedKind = (typeof PARKED_KINDS)[number];

// Prometheus metrics served on /metrics. One registry per worker instance (tests run several).
// Unauthenticated input must not grow /metrics (CONTRACT.md "Limits and hostile input"): every label value comes
// from a fixed list. A command's `type` is one of the handler registry's or `unknown` (command-pipeline.ts), its
// `status` one the handlers answer; the other lists are below, and their counters start with every value at 0.
// Names follow Prometheus' conventions (base units in the name, `_total` for counters); docs/operations.md lists
// them and docs/grafana/experimentation-worker.json charts them (test/integration/metrics-dashboard.test.ts).

/** `reason` of expw_dlq_messages_total, by `source`. */
export const DLQ_REASONS = { commands: ['not_json', 'no_id'], tracking: TRACKING_REJECTION_LABELS } as const;
export type CommandDlqReason = (typeof DLQ_REASONS.commands)[number];
/** `outcome` of expw_results_compute_seconds. */
export const RESULTS_OUTCOMES = ['computed', 'skipped', 'error'] as const;
export type ResultsOutcome = (typeof RESULTS_OUTCOMES)[number];

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'expw_' });
  /** Set by the app: counts the parked rows in Postgres when /metrics is scraped. */
  const parkedSource: { count?: () => Promise<Record<ParkedKind, number>> } = {};
  /** Set by the app: reads the outbox and held-command backlog when /metrics is scraped. */
  const backlogSource: { read?: () => Promise<PipelineBacklog> } = {};
  // One read per scrape for the three backlog gauges; while the database fails, the last values stay.
  let backlogRead: { at: number; value: Promise<PipelineBacklog | undefined> } | undefined;
  const currentBacklog = () => {
    if (!backlogRead || Date.now() - backlogRead.at > 1000) {
      backlogRead = { at: Date.now(), value: backlogSource.read?.().catch(() => undefined) ?? Promise.resolve(undefined) };
    }
    return backlogRead.value;
  };
  const backlogGauge = (name: string, help: string, pick: (b: PipelineBacklog) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const backlog = await currentBacklog();
        if (backlog) this.set(pick(backlog));
      },
    });
  const metrics = {
    registry,
    commands: new Counter({ name: 'expw_commands_total', help: 'Commands answered, by type and reply status', labelNames: ['type', 'status'], registers: [registry] }),
    commandDuration: new Histogram({
      name: 'expw_command_duration_seconds',
      help: 'Time from reading a command to having its reply queued',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    commandRetries: new Counter({ name: 'expw_command_retries_total', help: 'Attempts at commands that met a transient failure and were retried (in place, or held for the retry queue)', registers: [registry] }),
    dlq: new Counter({ name: 'expw_dlq_messages_total', help: 'Messages sent to a DLQ topic (DLQ_TOPIC for commands, TRACKING_DLQ_TOPIC for tracking), by source and reason', labelNames: ['source', 'reason'], registers: [registry] }),
    eventsPublished: new Counter({ name: 'expw_events_published_total', help: 'Outbox rows published to Kafka', registers: [registry] }),
    repliesSent: new Counter({ name: 'expw_replies_sent_total', help: 'Replies produced to Kafka', registers: [registry] }),
    resultsCompute: new Histogram({
      name: 'expw_results_compute_seconds',
      help: 'Time to compute an experiment\'s results (query and statistics), by outcome',
      labelNames: ['outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60],
      registers: [registry],
    }),
    trackingAccepted: new Counter({ name: 'expw_tracking_events_total', help: 'Tracking events stored', registers: [registry] }),
    trackingRetries: new Counter({ name: 'expw_tracking_retries_total', help: 'Attempts at storing a tracking batch that met a transient failure and were retried in place', registers: [registry] }),
    trackingRejected: new Counter({ name: 'expw_tracking_rejected_total', help: 'Tracking events rejected to the tracking DLQ, by reason', labelNames: ['reason'], registers: [registry] }),
    parkedMessages: new Counter({
      name: 'expw_messages_parked_total',
      help: 'Messages parked in Postgres because the broker refused them for good or their attempts ran out, by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    parkedNow: new Gauge({
      name: 'expw_parked_messages',
      help: 'Parked messages in Postgres not yet retried or discarded (expctl parked list), by kind',
      labelNames: ['kind'],
      registers: [registry],
      async collect() {
        // Three counts over partial indexes per scrape; while the database fails, the last values stay.
        const counts = await parkedSource.count?.().catch(() => undefined);
        if (counts) for (const kind of PARKED_KINDS) this.set({ kind }, counts[kind]);
      },
    }),
    parkedSource,
    outboxPending: backlogGauge('expw_outbox_pending_events', 'Outbox events not yet published (parked ones excluded)', (b) => b.outboxPending),
    outboxLag: backlogGauge('expw_outbox_lag_seconds', 'Age of the oldest outbox event not yet published, 0 when none waits: the relay\'s lag', (b) => b.outboxLagSeconds),
    heldCommands: backlogGauge('expw_held_commands', 'Commands held behind a transient failure, waiting for the command-retries queue', (b) => b.heldCommands),
    backlogSource,
  };
  for (const kind of PARKED_KINDS) metrics.parkedMessages.inc({ kind }, 0);
  for (const [source, reasons] of Object.entries(DLQ_REASONS)) for (const reason of reasons) metrics.dlq.inc({ source, reason }, 0);
  for (const reason of TRACKING_REJECTION_LABELS) metrics.trackingRejected.inc({ reason }, 0);
  return metrics;
}
export type Metrics = ReturnType<typeof createMetrics>;
