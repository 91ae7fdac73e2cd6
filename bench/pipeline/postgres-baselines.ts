import { createHash, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';

// Postgres alone, no Kafka, no worker: what the database can do with a command's writes, at the worker's
// concurrency (one connection per lane, lanes taking the next command from a shared counter).
//  - "one transaction per command": the four inserts of the previous bench (metric, audit, outbox, inbox), each
//    command its own transaction: the baseline issue 10's targets are stated against;
//  - "the limit": the statements the worker runs for a metric.create (src/pipeline/execute-command.ts and the
//    metric.create handler: the authorisation query, the metric insert, then audit + outbox + inbox +
//    reply_deliveries in one statement), 32 commands per transaction with a savepoint each, prepared statements.
// Reads the environments the fleets created; writes rows the worker would, which nothing consumes afterwards.

export interface PostgresBaseline {
  commands: number;
  seconds: number;
  perSecond: number;
  transactions: number;
  concurrency: number;
  commandsPerTransaction: number;
}

type Environment = { id: number; key: string };

/** Runs `lane` on `concurrency` connections until `n` commands are taken; times it from the first statement. */
async function runLanes(databaseUrl: string, concurrency: number, n: number, batch: number, lane: (client: pg.Client, indexes: number[]) => Promise<void>): Promise<number> {
  const clients = await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      return client;
    }),
  );
  let next = 0;
  const started = performance.now();
  try {
    await Promise.all(
      clients.map(async (client) => {
        while (next < n) {
          const indexes = Array.from({ length: Math.min(batch, n - next) }, () => next++);
          await lane(client, indexes);
        }
      }),
    );
    return (performance.now() - started) / 1000;
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

async function environments(databaseUrl: string, keys: string[]): Promise<Environment[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<Environment>('select id, key from environments where key = any($1) order by id', [keys]);
    if (rows.length !== keys.length) throw new Error(`expected ${keys.length} bench environments, found ${rows.length}`);
    return rows;
  } finally {
    await client.end();
  }
}

export async function oneTransactionPerCommand(databaseUrl: string, keys: string[], n: number, concurrency: number): Promise<PostgresBaseline> {
  const envs = await environments(databaseUrl, keys);
  const seconds = await runLanes(databaseUrl, concurrency, n, 1, async (client, [i]) => {
    const env = envs[i! % envs.length]!;
    const commandId = randomUUID();
    await client.query('begin');
    const { rows } = await client.query(
      `insert into metrics (environment_id, name, aggregation, direction, definition) values ($1, $2, 'occurrence', 'up', $3) returning *`,
      [env.id, `Baseline ${i}`, JSON.stringify({ version: 1, event: 'e' })],
    );
    const metric = rows[0];
    await client.query(
      `insert into audit_log (command_id, environment_key, actor_type, actor_id, action, resource_type, resource_id, after) values ($1, $2, 'system', 'bench', 'create', 'metric', $3, $4)`,
      [commandId, env.key, String(metric.id), JSON.stringify(metric)],
    );
    await client.query(`insert into outbox (topic, message_key, payload, published_at) values ('bench.baseline', $1, $2, now())`, [env.key, JSON.stringify({ type: 'metric.created', data: metric })]);
    await client.query(`insert into processed_commands (command_id, type, environment_key, status, reply) values ($1, 'metric.create', $2, 201, $3)`, [
      commandId,
      env.key,
      JSON.stringify({ status: 201, body: metric }),
    ]);
    await client.query('commit');
  });
  return { commands: n, seconds, perSecond: n / seconds, transactions: n, concurrency, commandsPerTransaction: 1 };
}

// The worker's statements, as they read in src/handlers/authorize.ts and src/pipeline/execute-command.ts.
const AUTHORIZE = `select to_jsonb(e) as environment, to_jsonb(p) as project, to_jsonb(o) as organisation,
        ($1::text is null or exists (
          select 1 from access_grants g
          where g.user_id = $2::text and g.role = 'admin'
            and ((g.scope = 'environment' and g.scope_id = e.key)
              or (g.scope = 'project' and g.scope_id = p.id::text)
              or (g.scope = 'organisation' and g.scope_id = o.id::text)))) as permitted
 from environments e
 join projects p on p.id = e.project_id
 join organisations o on o.id = p.organisation_id
 where e.key = $3`;
const INSERT_METRIC = `insert into "metrics" ("aggregation", "created_at", "definition", "description", "direction", "environment_id", "name", "updated_at")
 values ($1, $2, $3, $4, $5, $6, $7, $8) returning *`;
const RECORD_OUTCOME = `with audit_rows as (
   insert into audit_log (command_id, environment_key, actor_type, actor_id, action, resource_type, resource_id, before, after)
   select command_id, environment_key, actor_type, actor_id, action, resource_type, resource_id, before, after
   from rows from (jsonb_to_recordset($1::jsonb) as (command_id uuid, environment_key text, actor_type text, actor_id text,
     action text, resource_type text, resource_id text, before jsonb, after jsonb))
     with ordinality as x(command_id, environment_key, actor_type, actor_id, action, resource_type, resource_id, before, after, ord)
   order by ord
 ), outbox_rows as (
   insert into outbox (topic, message_key, payload, headers)
   select topic, message_key, payload, headers
   from rows from (jsonb_to_recordset($2::jsonb) as (topic text, message_key text, payload jsonb, headers jsonb))
     with ordinality as x(topic, message_key, payload, headers, ord)
   order by ord
 ), inbox as (
   insert into processed_commands (command_id, type, environment_key, status, reply, reply_to, fingerprint)
   values ($3, $4, $5, $6, $7::jsonb, $8, $9)
 )
 insert into reply_deliveries (command_id, topic, reply) values ($10, $11, null) returning id`;

/** One metric.create as the worker writes it, inside the caller's transaction. */
async function workerWrites(client: pg.Client, env: Environment, i: number): Promise<void> {
  const commandId = randomUUID();
  const now = new Date();
  const actor = { type: 'system', id: 'bench' };
  await client.query({ name: 'bench_authorize', text: AUTHORIZE, values: [null, null, env.key] });
  const definition = { version: 1, event: `event_${i % 50}` };
  const { rows } = await client.query({ name: 'bench_insert_metric', text: INSERT_METRIC, values: ['occurrence', now, JSON.stringify(definition), '', 'up', env.id, `Limit ${i}`, now] });
  const m = rows[0];
  const view = { id: m.id, uuid: m.uuid, name: m.name, description: m.description, aggregation: m.aggregation, direction: m.direction, definition: m.definition, createdAt: now.toISOString(), updatedAt: now.toISOString(), experiments: [] };
  const reply = { commandId, type: 'metric.create', status: 201, body: view, processedAt: now.toISOString() };
  const event = { id: randomUUID(), type: 'metric.created', environment: env.key, occurredAt: reply.processedAt, commandId, actor, data: view };
  const audit = [{ command_id: commandId, environment_key: env.key, actor_type: actor.type, actor_id: actor.id, action: 'create', resource_type: 'metric', resource_id: String(m.id), before: null, after: view }];
  const outbox = [{ topic: 'bench.limit.events', message_key: env.key, payload: event, headers: { 'event-type': event.type } }];
  const fingerprint = createHash('sha256').update(JSON.stringify({ type: 'metric.create', environment: env.key, actor, definition })).digest('hex');
  await client.query({
    name: 'bench_record_outcome',
    text: RECORD_OUTCOME,
    values: [JSON.stringify(audit), JSON.stringify(outbox), commandId, 'metric.create', env.key, 201, JSON.stringify(reply), null, fingerprint, commandId, 'bench.limit.replies'],
  });
}

export async function groupedWithSavepoints(databaseUrl: string, keys: string[], n: number, concurrency: number, groupSize: number): Promise<PostgresBaseline> {
  const envs = await environments(databaseUrl, keys);
  let transactions = 0;
  const seconds = await runLanes(databaseUrl, concurrency, n, groupSize, async (client, indexes) => {
    await client.query('begin');
    for (const i of indexes) {
      await client.query('savepoint command');
      await workerWrites(client, envs[i % envs.length]!, i);
      await client.query('release savepoint command');
    }
    await client.query('commit');
    transactions++;
  });
  return { commands: n, seconds, perSecond: n / seconds, transactions, concurrency, commandsPerTransaction: groupSize };
}
