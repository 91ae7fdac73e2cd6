import type { Knex } from 'knex';
import type { CommandPlan, PlannedCommand } from './command-stream.js';
import type { OutputObserver } from './output-observer.js';

// Checks the outcome of a chaos run against the plan, from Postgres (what was applied) and from the replies
// and events topics (what was published). The four counts that must be 0 are in `counts`.

export interface Counts {
  /** Sent, never applied (no metric row carries its command id). */
  lost: number;
  /** More than one metric row, audit row or distinct metric.created event for one command id. */
  appliedTwice: number;
  /** No reply on the replies topic. */
  unanswered: number;
  /** metric.created events (deduplicated by event id) whose seq is below one published before it for its key. */
  outOfOrder: number;
}

export interface Verdict {
  counts: Counts;
  sent: number;
  applied: number;
  answered: number;
  /** Reply statuses of the plan's commands (first reply of each), e.g. { 201: 2990, 500: 10 }. */
  replyStatuses: Record<string, number>;
  /** Applied commands whose metric.created event never reached the events topic. */
  missingEvents: number;
  /** Per key, metrics whose row id (insert order) is below that of a later seq: applied out of order. */
  appliedOutOfOrder: number;
  duplicateEventDeliveries: number;
  duplicateReplies: number;
  /** The command ids behind each non-zero count (for attribution and a first look). */
  commandsBehind: Record<keyof Counts | 'missingEvents' | 'appliedOutOfOrder', string[]>;
}

interface MetricRow {
  id: number;
  description: string;
}

export async function verify(knex: Knex, plan: CommandPlan, observer: OutputObserver): Promise<Verdict> {
  // The run database is the run's own: every metric and audit row in it comes from this run.
  const metrics = await knex<MetricRow>('metrics').select('id', 'description').orderBy('id');
  const audits: Array<{ command_id: string; n: number }> = await knex('audit_log').where('resource_type', 'metric').groupBy('command_id').select('command_id').count({ n: '*' });
  const metricRows = new Map<string, MetricRow[]>();
  for (const row of metrics) metricRows.set(row.description, [...(metricRows.get(row.description) ?? []), row]);
  const auditCount = new Map(audits.map((a) => [a.command_id, Number(a.n)]));

  const behind: Verdict['commandsBehind'] = { lost: [], appliedTwice: [], unanswered: [], outOfOrder: [], missingEvents: [], appliedOutOfOrder: [] };
  const replyStatuses: Record<string, number> = {};
  const createdEvents = createdEventCount(plan, observer);
  for (const command of plan.commands) {
    const rows = metricRows.get(command.id)?.length ?? 0;
    if (rows === 0) behind.lost.push(command.id);
    if (rows > 1 || (auditCount.get(command.id) ?? 0) > 1 || (createdEvents.get(command.id) ?? 0) > 1) behind.appliedTwice.push(command.id);
    if (rows > 0 && !createdEvents.has(command.id)) behind.missingEvents.push(command.id);
    const reply = observer.replies.get(command.id);
    if (!reply) behind.unanswered.push(command.id);
    else replyStatuses[reply.statuses[0]!] = (replyStatuses[reply.statuses[0]!] ?? 0) + 1;
  }
  behind.outOfOrder = eventsOutOfOrder(plan, observer);
  behind.appliedOutOfOrder = appliedOutOfOrder(plan, metrics);

  return {
    counts: { lost: behind.lost.length, appliedTwice: behind.appliedTwice.length, unanswered: behind.unanswered.length, outOfOrder: behind.outOfOrder.length },
    sent: plan.commands.filter((c) => c.sentAt > 0).length,
    applied: plan.commands.filter((c) => metricRows.has(c.id)).length,
    answered: plan.commands.length - behind.unanswered.length,
    replyStatuses,
    missingEvents: behind.missingEvents.length,
    appliedOutOfOrder: behind.appliedOutOfOrder.length,
    duplicateEventDeliveries: observer.duplicateEventDeliveries,
    duplicateReplies: observer.duplicateReplies,
    commandsBehind: behind,
  };
}

/** Distinct metric.created events per planned command id. */
function createdEventCount(plan: CommandPlan, observer: OutputObserver): Map<string, number> {
  const counts = new Map<string, number>();
  for (const events of observer.eventsByKey.values()) {
    for (const e of events) if (e.type === 'metric.created' && e.commandId && plan.byId.has(e.commandId)) counts.set(e.commandId, (counts.get(e.commandId) ?? 0) + 1);
  }
  return counts;
}

/** Walks each key's seq sequence; every element below the running maximum is out of order. */
function belowRunningMax(sequence: PlannedCommand[]): string[] {
  const late: string[] = [];
  let max = -1;
  for (const command of sequence) {
    if (command.seq < max) late.push(command.id);
    else max = command.seq;
  }
  return late;
}

function eventsOutOfOrder(plan: CommandPlan, observer: OutputObserver): string[] {
  const late: string[] = [];
  for (const key of plan.environments) {
    const sequence = (observer.eventsByKey.get(key) ?? [])
      .filter((e) => e.type === 'metric.created' && e.commandId)
      .map((e) => plan.byId.get(e.commandId!))
      .filter((c): c is PlannedCommand => c !== undefined && c.key === key);
    late.push(...belowRunningMax(sequence));
  }
  return late;
}

function appliedOutOfOrder(plan: CommandPlan, metrics: MetricRow[]): string[] {
  const byKey = new Map<string, PlannedCommand[]>();
  for (const row of metrics) {
    const command = plan.byId.get(row.description);
    if (command) byKey.set(command.key, [...(byKey.get(command.key) ?? []), command]);
  }
  return [...byKey.values()].flatMap(belowRunningMax);
}

export interface FaultRecord {
  name: string;
  /** ms since epoch when the fault was injected */
  at: number;
  durationMs: number;
  detail: string;
}

/**
 * When the run dealt with a command: its event or reply arrived then; for one never dealt with, when its key's
 * stream went past it (the next command of the key that was dealt with). Undefined when none of that happened.
 */
function handledAt(command: PlannedCommand, plan: CommandPlan, observer: OutputObserver, eventSeenAt: Map<string, number>): number | undefined {
  const own = eventSeenAt.get(command.id) ?? observer.replies.get(command.id)?.firstSeenAt;
  if (own !== undefined) return own;
  const keys = plan.environments.length;
  for (let next = command.index + keys; next < plan.commands.length; next += keys) {
    const id = plan.commands[next]!.id;
    const at = eventSeenAt.get(id) ?? observer.replies.get(id)?.firstSeenAt;
    if (at !== undefined) return at;
  }
  return undefined;
}

/**
 * In which interval between faults the run dealt with each anomalous command (see handledAt), e.g.
 * "cut-database-connections → restart-redis-empty". Timing, not proof of cause: a reply lost to a Redis
 * restart shows in the interval before it (the command was applied, its reply was still queued); with one
 * kind of fault per run (the soak's --faults) the cause is clear.
 */
export function anomaliesByFault(verdict: Verdict, plan: CommandPlan, observer: OutputObserver, faults: FaultRecord[]): Record<string, Record<string, number>> {
  const eventSeenAt = new Map<string, number>();
  for (const events of observer.eventsByKey.values()) for (const e of events) if (e.commandId && !eventSeenAt.has(e.commandId)) eventSeenAt.set(e.commandId, e.seenAt);
  const table: Record<string, Record<string, number>> = {};
  for (const [kind, ids] of Object.entries(verdict.commandsBehind)) {
    for (const id of ids) {
      const at = handledAt(plan.byId.get(id)!, plan, observer, eventSeenAt);
      let interval = 'never handled';
      if (at !== undefined) {
        const next = faults.findIndex((f) => f.at > at);
        const before = next === -1 ? faults.at(-1) : faults[next - 1];
        interval = `${before?.name ?? 'start'} → ${next === -1 ? 'end' : faults[next]!.name}`;
      }
      const row = (table[interval] ??= {});
      row[kind] = (row[kind] ?? 0) + 1;
    }
  }
  return table;
}
