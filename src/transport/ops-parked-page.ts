import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Kafka } from 'kafkajs';
import type { Knex } from 'knex';
import { PARKED_KINDS, listParked, type ParkedMessage } from '../models/parked.js';

// /ops/parked: what is stuck outside the queues, server-rendered from Postgres and Kafka: the messages parked in
// Postgres (`expctl parked list`) and how much each DLQ topic holds (`expctl dlq list` shows the messages).
// Everything shown comes from senders, so every value is escaped.

/** Rows shown per parked kind; `expctl parked list` has them all. */
const SHOWN_PER_KIND = 200;

export interface DlqTopicView {
  topic: string;
  holds: string;
  cliSource: 'commands' | 'tracking';
}

export interface DlqCount extends DlqTopicView {
  /** Messages in the topic (Σ high − low watermark); null when the topic cannot be read. */
  messages: number | null;
  error?: string;
}

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Messages each DLQ topic holds now, read with one admin client. */
export async function countDlqMessages(kafka: Kafka, topics: DlqTopicView[]): Promise<DlqCount[]> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await Promise.all(
      topics.map(async (t) => {
        try {
          const offsets = await admin.fetchTopicOffsets(t.topic);
          return { ...t, messages: offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0) };
        } catch (error) {
          return { ...t, messages: null, error: (error as Error).message };
        }
      }),
    );
  } catch (error) {
    return topics.map((t) => ({ ...t, messages: null, error: (error as Error).message }));
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

const table = (headings: string[], rows: unknown[][]) =>
  `<table><thead><tr>${headings.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((cell) => `<td>${escapeHtml(cell)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;

export function renderParkedPage(view: { parked: ParkedMessage[]; dlq: DlqCount[]; queuesPath: string; now: Date }): string {
  const dlqRows = view.dlq.map((d) => [d.topic, d.holds, d.messages ?? `unreadable: ${d.error ?? 'unknown error'}`, `expctl dlq list --topic ${d.cliSource}`]);
  const parkedRows = view.parked.map((p) => [p.id, p.topic, p.key ?? '', p.commandId ?? '', p.bytes, p.parkedAt, p.lastError ?? '']);
  const counts = PARKED_KINDS.map((kind) => `${view.parked.filter((p) => p.kind === kind).length} ${kind}`).join(', ');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex"><title>Parked messages and DLQs</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933}table{border-collapse:collapse;margin:.5rem 0 2rem}th,td{border:1px solid #cbd2d9;padding:.3rem .6rem;text-align:left;vertical-align:top;font-size:.9rem}th{background:#f0f4f8}td{max-width:40rem;overflow-wrap:anywhere}code{background:#f0f4f8;padding:0 .2rem}</style>
</head><body>
<p><a href="${escapeHtml(view.queuesPath)}">← Queues</a></p>
<h1>Parked messages and DLQs</h1>
<p>As of ${escapeHtml(view.now.toISOString())}. Retry or discard with <code>expctl parked retry|discard &lt;id&gt;</code>, replay DLQ messages with <code>expctl dlq replay</code>.</p>
<h2>DLQ topics</h2>
${table(['topic', 'holds', 'messages', 'list them'], dlqRows)}
<h2>Parked messages (${escapeHtml(counts)})</h2>
${parkedRows.length ? table(['id', 'topic', 'key', 'command id', 'bytes', 'parked at', 'last error'], parkedRows) : '<p>None.</p>'}
</body></html>
`;
}

export function parkedPageHandler(deps: { knex: Knex; kafka: Kafka; dlqTopics: DlqTopicView[]; queuesPath: string }) {
  return async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const [parked, dlq] = await Promise.all([listParked(deps.knex, { kinds: PARKED_KINDS, limit: SHOWN_PER_KIND }), countDlqMessages(deps.kafka, deps.dlqTopics)]);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(renderParkedPage({ parked, dlq, queuesPath: deps.queuesPath, now: new Date() }));
  };
}
