import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { CommandSender, planCommands, tenantEnvelopes, type CommandPlan, type SigningKey } from './command-stream.js';
import { createToolkitKafka, createTopics, deleteTopicsAndGroups } from './kafka.js';
import { OutputObserver } from './output-observer.js';
import { PrivateRedis } from './private-redis.js';
import { RunDatabase } from './run-database.js';
import { anomaliesByFault, verify, type FaultRecord, type Verdict } from './verifier.js';
import { WorkerFleet } from './worker-fleet.js';
import { waitFor, waitWhileProgressing, type ProgressOutcome } from './wait.js';

// One chaos run: a fresh database, a private Redis, the run's own topics and consumer group, a fleet of
// worker processes, the planned command stream, and an observer of replies and events. The test and the
// soak drive it the same way: create → sendUpTo / faults (chaos-faults.ts runWithFaults) → settle → verify →
// teardown.

export interface ChaosRunOptions {
  /** `test` or `soak`: the first part of topic, group and database names. */
  prefix: string;
  brokers: string[];
  commands: number;
  keys: number;
  workers: number;
  /** Extra worker environment (e.g. LOG_LEVEL), applied last. */
  workerEnv?: Record<string, string>;
  /** With it, each worker's output goes to `<logDir>/worker-N.log`. */
  logDir?: string;
  log: (message: string) => void;
}

export class ChaosRun {
  readonly faults: FaultRecord[] = [];
  readonly startedAt = Date.now();
  sent = 0;

  private constructor(
    readonly options: ChaosRunOptions,
    readonly run: string,
    readonly plan: CommandPlan,
    readonly topics: Record<'commands' | 'events' | 'replies' | 'tracking' | 'dlq', string>,
    readonly kafka: Kafka,
    readonly db: RunDatabase,
    readonly redis: PrivateRedis,
    readonly observer: OutputObserver,
    readonly fleet: WorkerFleet,
    readonly sender: CommandSender,
    readonly workerGroups: string[],
  ) {}

  /** Sets everything up, starts the workers and creates the tenant; on failure undoes what it had done. */
  static async create(options: ChaosRunOptions): Promise<ChaosRun> {
    const run = randomUUID().slice(0, 8);
    const name = (part: string) => `${options.prefix}.${run}.${part}`;
    const topics = { commands: name('commands'), events: name('events'), replies: name('replies'), tracking: name('tracking'), dlq: name('commands.dlq') };
    const workerGroups = [name('worker'), name('tracking')];
    const plan = planCommands(run, options.commands, options.keys);
    const signing: SigningKey = { keyId: 'chaos', secret: `chaos-${randomUUID()}` };
    const kafka = createToolkitKafka(options.brokers, `chaos-${run}`);
    const undo: Array<() => Promise<unknown>> = [];
    try {
      const db = await RunDatabase.create(`${options.prefix}_chaos_${run}`);
      undo.push(() => db.drop());
      const redis = await PrivateRedis.start();
      undo.push(() => redis.stop());
      await createTopics(kafka, [
        { topic: topics.commands, numPartitions: 6 },
        ...[topics.events, topics.replies, topics.tracking].map((topic) => ({ topic, numPartitions: 3 })),
        { topic: topics.dlq, numPartitions: 1 },
      ]);
      const observer = new OutputObserver(kafka, topics, name('chaos'), (id) => plan.byId.has(id));
      undo.push(() => deleteTopicsAndGroups(kafka, Object.values(topics), [...workerGroups, observer.groupId]));
      await observer.start();
      undo.push(() => observer.stop());
      const fleet = new WorkerFleet(workerEnvironment(options, run, topics, workerGroups, db, redis, signing), {
        ...(options.logDir ? { logDir: options.logDir } : {}),
        onUnexpectedExit: (exit) => options.log(`${exit.name} (pid ${exit.pid}) exited on its own: code ${exit.code}, signal ${exit.signal}; replacing it`),
      });
      undo.push(() => fleet.stopAll());
      const started = Date.now();
      await fleet.start(options.workers);
      options.log(`run ${run}: ${options.workers} workers ready in ${((Date.now() - started) / 1000).toFixed(1)} s (database ${db.name}, redis :${redis.port})`);
      const sender = new CommandSender(kafka, topics.commands, signing);
      await sender.connect();
      undo.push(() => sender.disconnect());
      const chaos = new ChaosRun(options, run, plan, topics, kafka, db, redis, observer, fleet, sender, workerGroups);
      await chaos.createTenant();
      return chaos;
    } catch (error) {
      for (const step of undo.reverse()) await step().catch(() => {});
      throw error;
    }
  }

  /** Sends the plan's next commands, as fast as the broker takes them, up to (not including) index `end`. */
  async sendUpTo(end: number): Promise<void> {
    const next = this.plan.commands.slice(this.sent, end);
    const from = this.sent;
    await this.sender.sendPlan(next, { onBatch: (sent) => (this.sent = from + sent) });
  }

  /** Planned commands answered or published so far: what fault triggers wait on. */
  progress(): number {
    return Math.max(this.observer.answeredPlanned, this.observer.withEventPlanned);
  }

  /** Waits until `target` planned commands have been answered or published (bounded). */
  async whenProgressReaches(target: number, timeoutMs = 120_000): Promise<void> {
    try {
      await waitFor(() => this.progress() >= target, `${target} commands answered or published`, timeoutMs);
    } catch {
      this.options.log(`progress stuck at ${this.progress()}/${target} for ${timeoutMs / 1000} s; injecting the next fault anyway`);
    }
  }

  /** Every command answered, and every one answered 2xx published: nothing left to wait for. */
  complete(): boolean {
    const { observer, plan } = this;
    if (this.sent < plan.commands.length || observer.answeredPlanned < plan.commands.length) return false;
    for (const command of plan.commands) {
      const status = observer.replies.get(command.id)!.statuses[0]!;
      if (status < 300 && !observer.eventIdsByCommand.has(command.id)) return false;
    }
    return true;
  }

  /** Waits for `complete`, as long as replies or events still arrive (`stallMs` without any → stop). */
  async settle(stallMs: number, timeoutMs: number): Promise<ProgressOutcome> {
    await this.sendUpTo(this.plan.commands.length);
    await this.fleet.allReady();
    const outcome = await waitWhileProgressing({
      done: () => this.complete(),
      progress: () => this.observer.replies.size + this.observer.distinctEvents,
      stallMs,
      timeoutMs,
      onTick: () => this.options.log(this.status()),
    });
    this.options.log(outcome.done ? `settled in ${(outcome.waitedMs / 1000).toFixed(1)} s` : `not complete: ${outcome.reason} after ${(outcome.waitedMs / 1000).toFixed(1)} s (${this.status()})`);
    return outcome;
  }

  async verify(): Promise<{ verdict: Verdict; byFault: Record<string, Record<string, number>> }> {
    const verdict = await verify(this.db.knex, this.plan, this.observer);
    return { verdict, byFault: anomaliesByFault(verdict, this.plan, this.observer, this.faults) };
  }

  /** Runs a fault, records when and how long, and logs it. */
  async inject(name: string, fault: () => Promise<string>): Promise<FaultRecord> {
    const at = Date.now();
    this.options.log(`fault ${name}: injecting (${this.status()})`);
    const detail = await fault();
    const record = { name, at, durationMs: Date.now() - at, detail };
    this.faults.push(record);
    this.options.log(`fault ${name}: ${detail} (${(record.durationMs / 1000).toFixed(1)} s)`);
    return record;
  }

  status(): string {
    const o = this.observer;
    return `t+${((Date.now() - this.startedAt) / 1000).toFixed(0)}s sent ${this.sent}/${this.plan.commands.length}, answered ${o.answeredPlanned}, published ${o.withEventPlanned}, workers ${this.fleet.members.length}`;
  }

  /** Stops everything and deletes what the run created (topics, groups, database, Redis). */
  async teardown(): Promise<void> {
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['sender', () => this.sender.disconnect()],
      ['workers', () => this.fleet.stopAll()],
      ['observer', () => this.observer.stop()],
      ['topics', () => deleteTopicsAndGroups(this.kafka, Object.values(this.topics), [...this.workerGroups, this.observer.groupId])],
      ['redis', () => this.redis.stop()],
      ['database', () => this.db.drop()],
    ];
    for (const [what, step] of steps) await step().catch((error) => this.options.log(`teardown ${what}: ${(error as Error).message}`));
  }

  private async createTenant(): Promise<void> {
    const envelopes = tenantEnvelopes(this.plan);
    await this.sender.sendPlatform(envelopes, this.plan.organisationId);
    await waitFor(() => envelopes.every((e) => this.observer.replies.has(e.id)), 'the tenant set-up replies', 60_000);
    const failed = envelopes.filter((e) => this.observer.replies.get(e.id)!.statuses[0] !== 200);
    if (failed.length) throw new Error(`tenant set-up failed: ${failed.map((e) => `${e.type} ${this.observer.replies.get(e.id)!.statuses[0]}`).join(', ')}`);
  }
}

function workerEnvironment(
  options: ChaosRunOptions,
  run: string,
  topics: ChaosRun['topics'],
  groups: string[],
  db: RunDatabase,
  redis: PrivateRedis,
  signing: SigningKey,
): Record<string, string> {
  return {
    KAFKA_BROKERS: options.brokers.join(','),
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    COMMAND_KEYS: `${signing.keyId}:${signing.secret}:system`,
    COMMANDS_TOPIC: topics.commands,
    EVENTS_TOPIC: topics.events,
    REPLIES_TOPIC: topics.replies,
    TRACKING_TOPIC: topics.tracking,
    DLQ_TOPIC: topics.dlq,
    CONSUMER_GROUP: groups[0]!,
    TRACKING_CONSUMER_GROUP: groups[1]!,
    QUEUE_PREFIX: `chaos-${run}`,
    COMMANDS_PARTITIONS: '6',
    TOPIC_PARTITIONS: '3',
    COMMAND_RETRY_BACKOFF_MS: '200',
    COMMAND_RETRY_ATTEMPTS: '6',
    // A SIGKILLed member's partitions move after this long; the minimum the worker accepts is 6000.
    KAFKA_SESSION_TIMEOUT_MS: '7000',
    // Read by the Postgres-as-source-of-truth core (CONTRACT.md "Order and durability"); ignored before it.
    RECONCILE_INTERVAL_S: '5',
    LOG_LEVEL: 'warn',
    ...options.workerEnv,
  };
}
