import { z } from 'zod';

// Every setting comes from the environment (CONTRACT.md "Configuration"), parsed once at start-up.
// A bad value stops start-up with one line naming the variable: see loadConfig.

/** The dashboard is one guess away from retrying and removing jobs: a token short enough to guess is refused. */
export const OPS_TOKEN_MIN_LENGTH = 32;

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);

const commandKey = z
  .string()
  .regex(/^[^:,\s]+:[^:,\s]+:(user|system)$/, 'each entry must be keyId:secret:scope with scope user or system');

const schema = z.object({
  KAFKA_BROKERS: z
    .string()
    .default('127.0.0.1:9092')
    .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[^:\s]+:\d+$/, 'each broker must be host:port')).min(1)),
  DATABASE_URL: z.url().default('postgres://postgres@127.0.0.1:5432/experimentation'),
  REDIS_URL: z.url().default('redis://127.0.0.1:6379'),
  COMMAND_KEYS: z
    .string({ error: 'is required (comma-separated keyId:secret:scope)' })
    .min(1, 'is required (comma-separated keyId:secret:scope)')
    .transform((s) => s.split(',').map((k) => k.trim()).filter(Boolean))
    .pipe(z.array(commandKey).min(1, 'is required (comma-separated keyId:secret:scope)'))
    .transform((entries) =>
      entries.map((entry) => {
        const [keyId, secret, scope] = entry.split(':') as [string, string, 'user' | 'system'];
        return { keyId, secret, scope };
      }),
    ),
  RESULTS_REFRESH_MIN_INTERVAL_S: int(0).default(300),
  RESULTS_SCHEDULE_INTERVAL_S: int(0).default(6 * 3600),
  RESULTS_CORRECTION: z.enum(['holm', 'bh', 'none']).default('holm'),
  RESULTS_ALPHA: z.coerce.number().gt(0).lt(1).default(0.05),
  CUPED_LOOKBACK_DAYS: int(0, 365).default(14),
  SEQUENTIAL_TAU: z.coerce.number().positive().default(5000),
  TRACKING_RETENTION_DAYS: int(1).default(180),

  COMMANDS_TOPIC: z.string().min(1).default('experimentation.commands'),
  EVENTS_TOPIC: z.string().min(1).default('experimentation.events'),
  REPLIES_TOPIC: z.string().min(1).default('experimentation.replies'),
  TRACKING_TOPIC: z.string().min(1).default('experimentation.tracking'),
  DLQ_TOPIC: z.string().min(1).default('experimentation.commands.dlq'),
  TRACKING_DLQ_TOPIC: z.string().min(1).default('experimentation.tracking.dlq'),
  COMMANDS_PARTITIONS: int(1, 1000).default(6),
  TOPIC_PARTITIONS: int(1, 1000).default(3),
  CONSUMER_GROUP: z.string().min(1).default('experimentation-worker'),
  TRACKING_CONSUMER_GROUP: z.string().min(1).default('experimentation-worker.tracking'),
  PARTITIONS_CONSUMED_CONCURRENTLY: int(1, 64).default(6),
  /**
   * Bytes of one commands partition fetched at a time (kafkajs maxBytesPerPartition): what one fetch cycle holds
   * in memory and in flight. A message larger than this is still fetched, alone.
   */
  COMMAND_FETCH_PARTITION_BYTES: int(1024, 64 * 1024 * 1024).default(131_072),
  /** How long the group waits for a silent member (a killed worker) before moving its partitions. */
  KAFKA_SESSION_TIMEOUT_MS: int(6000, 300_000).default(30_000),

  /** How long a command meeting a transient failure is retried in place before it is held in Postgres. */
  COMMAND_INPLACE_RETRY_MS: int(0, 600_000).default(5000),
  /** Commands of a stretch applied in one transaction (a savepoint each); 1 runs each in its own transaction. */
  COMMAND_GROUP_SIZE: int(1, 64).default(32),
  /** lock_timeout inside a group: a command waiting on a lock sends its group to the one-at-a-time path. */
  COMMAND_GROUP_LOCK_TIMEOUT_MS: int(10).default(250),
  /** Bounds on every command transaction (statement_timeout, lock_timeout of the commands' connections). */
  COMMAND_STATEMENT_TIMEOUT_MS: int(100).default(15_000),
  COMMAND_LOCK_TIMEOUT_MS: int(10).default(5000),
  /** Connections of the commands' pool (results and tracking have pools of their own). */
  DATABASE_POOL_SIZE: int(2, 200).default(10),
  /** How often the reconciler rebuilds BullMQ's jobs from Postgres (also at start-up). */
  RECONCILE_INTERVAL_S: int(1, 3600).default(30),
  COMMAND_RETRY_ATTEMPTS: int(1, 100).default(8),
  /** CONTRACT.md "Limits and hostile input". */
  COMMAND_MAX_BYTES: int(1024, 64 * 1024 * 1024).default(262_144),
  REPLY_TOPIC_PATTERN: z
    .string()
    .default('^[A-Za-z0-9._-]{1,249}$')
    .transform((source, ctx) => {
      try {
        return new RegExp(source);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `not a regular expression: ${(error as Error).message}` });
        return z.NEVER;
      }
    }),
  INBOX_REPLY_RETENTION_DAYS: int(1).default(30),
  /**
   * Attempts at delivering a reply whose topic is missing or that fails in a way of its own, before it is parked.
   * A reply the broker refuses for good is parked at once; one that waits for an unreachable broker uses none.
   */
  REPLY_DELIVERY_ATTEMPTS: int(1, 1000).default(20),
  COMMAND_RETRY_BACKOFF_MS: int(1).default(1000),
  QUEUE_PREFIX: z.string().min(1).default('expw'),

  HTTP_PORT: int(0, 65535).default(9464),
  HTTP_HOST: z.string().default('127.0.0.1'),
  /** Turns the ops dashboard (/ops/…) on; it is the password for it. Unset: /ops answers 404. */
  OPS_DASHBOARD_TOKEN: z
    .string()
    .min(OPS_TOKEN_MIN_LENGTH, `must be at least ${OPS_TOKEN_MIN_LENGTH} characters (e.g. \`openssl rand -hex 32\`)`)
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SHUTDOWN_TIMEOUT_MS: int(100).default(8000),
});

export type Config = z.infer<typeof schema>;
export type CommandKey = Config['COMMAND_KEYS'][number];

export class ConfigError extends Error {}

/**
 * Parses the environment; throws a ConfigError whose message is one line naming the variable.
 * `requireCommandKeys: false` is for tools that never sign or verify (migrate, most of expctl): without
 * COMMAND_KEYS they get an empty key list instead of an error.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env, options: { requireCommandKeys?: boolean } = {}): Config {
  // Empty strings count as unset so `FOO= npm run worker` falls back to the default.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  if (options.requireCommandKeys === false && cleaned.COMMAND_KEYS === undefined) {
    return { ...parse({ ...cleaned, COMMAND_KEYS: 'none:none:system' }), COMMAND_KEYS: [] };
  }
  return parse(cleaned);
}

function parse(cleaned: Record<string, string | undefined>): Config {
  const parsed = schema.safeParse(cleaned);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const variable = String(issue.path[0] ?? 'environment');
  const shown = cleaned[variable] === undefined ? 'missing' : `invalid value ${JSON.stringify(redact(variable, cleaned[variable]!))}`;
  throw new ConfigError(`configuration error: ${variable} ${shown}: ${issue.message}`);
}

function redact(variable: string, value: string): string {
  if (variable === 'COMMAND_KEYS') return value.replace(/:([^:,]+):/g, ':***:');
  if (variable === 'OPS_DASHBOARD_TOKEN') return '***';
  if (variable === 'DATABASE_URL' || variable === 'REDIS_URL') return value.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');
  return value;
}
