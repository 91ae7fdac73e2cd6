import { expect } from 'vitest';
import type { Knex } from 'knex';
import type { Actor, DomainEvent, Reply } from '../../../src/contracts/envelope.js';
import type { Tenant, TestWorker } from '../harness.js';

// Helpers for the domain integration tests: commands sent through Kafka in one tenant's environment,
// and what each command left behind (its event and audit rows).

export const FORBIDDEN = { detail: 'You do not have permission to perform this action.' };
export const NOT_FOUND = { detail: 'Not found.' };

export type Send = (type: string, payload?: unknown, actor?: Actor) => Promise<Reply>;

/** Sends environment-scoped commands as the tenant's admin (or `actor`). */
export function sender(worker: TestWorker, tenant: Tenant, environment = tenant.environment): Send {
  return (type, payload, actor = tenant.admin) => worker.client.send({ type, environment, actor, payload });
}

/** The one event the command published. */
export function eventOf(worker: TestWorker, reply: Reply): Promise<DomainEvent> {
  return worker.client.waitForEvent((e) => e.commandId === reply.commandId);
}

/** The audit rows the command wrote, oldest first. */
export function auditOf(knex: Knex, reply: Reply): Promise<Record<string, unknown>[]> {
  return knex('audit_log').where({ command_id: reply.commandId }).orderBy('id');
}

/** Sends a command and returns its body, failing the test unless it answered `status`. */
export async function expectStatus<T = any>(reply: Promise<Reply> | Reply, status: number): Promise<T> {
  const r = await reply;
  if (r.status !== status) throw new Error(`${r.type} answered ${r.status} (expected ${status}): ${JSON.stringify(r.body)}`);
  return r.body as T;
}

export const checkoutMetric = (overrides: Record<string, unknown> = {}) => ({
  name: 'Checkout conversion',
  aggregation: 'occurrence',
  definition: { version: 1, event: 'checkout' },
  ...overrides,
});

export const isoString = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
