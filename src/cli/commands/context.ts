import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Kafka, LogEntry } from 'kafkajs';
import type { Redis } from 'ioredis';
import { InvalidArgumentError, type Command } from 'commander';
import { ConfigError, loadConfig, type Config } from '../../config.js';
import type { ExperimentationClient } from '../../client/index.js';

// What every expctl command shares: where output goes (injectable for tests), exit codes, configuration,
// and short-lived Kafka / Redis connections that fail fast instead of retrying for a minute. The client
// libraries are imported when a command needs them, so --help and usage errors answer quickly.

export const EXIT = {
  ok: 0,
  /** An error reply (4xx/5xx), a job or DLQ offset that is not there, a broker/Redis failure. */
  failure: 1,
  /** Bad arguments, bad payload, bad or missing configuration. */
  usage: 2,
  /** No reply (or not the whole DLQ) within the time allowed. */
  timeout: 3,
} as const;

export const EXIT_CODES_HELP = `Exit codes:
  0  success (send: the reply status was 2xx)
  1  failure: an error reply (4xx/5xx), a job or DLQ offset not found / not failed, Kafka or Redis unreachable
  2  usage or configuration error (bad option, invalid --payload JSON, missing/invalid environment variable)
  3  timeout: no reply within --timeout (send), or the DLQ could not be read to its end in time (dlq)`;

export const ENVIRONMENT_HELP = `Configuration comes from the worker's environment variables: KAFKA_BROKERS, REDIS_URL, QUEUE_PREFIX,
COMMANDS_TOPIC, REPLIES_TOPIC, DLQ_TOPIC, TRACKING_TOPIC, TRACKING_DLQ_TOPIC and COMMAND_KEYS (needed by \`send\` only).`;

/** Thrown by commands to end with a message (stderr) and an exit code. */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}
export const usageError = (message: string) => new CliError(EXIT.usage, message);

/** The part of ExperimentationClient that `send` uses (a fake one in unit tests). */
export type CommandClient = Pick<ExperimentationClient, 'envelope' | 'waitForReply' | 'sendRaw' | 'disconnect' | 'replyTopic'>;

export interface ClientRequest {
  verbose: boolean;
  keyId: string;
  secret: string;
  commandsTopic: string;
  replyTopic: string;
}

export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  /** Directory `--payload @file` is relative to. */
  cwd: string;
  readStdin?(): Promise<string>;
  /** Test seams; the defaults talk to the real services. */
  createClient?(config: Config, request: ClientRequest): Promise<CommandClient>;
}

export interface GlobalOptions {
  json: boolean;
  verbose: boolean;
}

export class CliContext {
  exitCode: number = EXIT.ok;
  constructor(readonly io: CliIO) {}

  globals(command: Command): GlobalOptions {
    const all = command.optsWithGlobals<{ json?: boolean; verbose?: boolean }>();
    return { json: Boolean(all.json), verbose: Boolean(all.verbose) };
  }

  /** loadConfigOrExit's rules, without exiting: one line naming the variable, exit code 2. */
  config(options: { requireCommandKeys: boolean }): Config {
    try {
      return loadConfig(this.io.env, options);
    } catch (error) {
      if (error instanceof ConfigError) throw usageError(error.message);
      throw error;
    }
  }

  out(line = ''): void {
    this.io.stdout(line.endsWith('\n') ? line : `${line}\n`);
  }

  err(line: string): void {
    this.io.stderr(line.endsWith('\n') ? line : `${line}\n`);
  }

  json(value: unknown): void {
    this.out(JSON.stringify(value, null, 2));
  }

  /** A kafkajs client for a short-lived CLI run: few retries, log lines on stderr (errors only unless --verbose). */
  async kafka(config: Config, verbose: boolean): Promise<Kafka> {
    const { Kafka, logLevel } = await import('kafkajs');
    const threshold = verbose ? logLevel.INFO : logLevel.ERROR;
    return new Kafka({
      clientId: 'expctl',
      brokers: config.KAFKA_BROKERS,
      connectionTimeout: 3000,
      requestTimeout: 15_000,
      retry: { initialRetryTime: 200, retries: 3, maxRetryTime: 2000 },
      logLevel: threshold,
      logCreator:
        () =>
        ({ level, log }: LogEntry) => {
          if (level > threshold) return;
          const { message, timestamp: _t, logger: _l, ...rest } = log as LogEntry['log'] & { logger?: string };
          const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
          this.err(`kafkajs ${logLevel[level]?.toLowerCase() ?? level}: ${message}${extra}`);
        },
    });
  }

  /** A Redis connection that gives up quickly when Redis does not answer. */
  async redis(config: Config): Promise<Redis> {
    const { Redis } = await import('ioredis');
    const redis = new Redis(config.REDIS_URL, {
      lazyConnect: true,
      connectTimeout: 3000,
      maxRetriesPerRequest: 2,
      retryStrategy: (times) => (times > 2 ? null : 200),
      connectionName: 'expctl',
    });
    let lastError: Error | undefined;
    redis.on('error', (error: Error) => (lastError = error)); // reported through the failing command instead
    try {
      await redis.connect();
    } catch (error) {
      redis.disconnect();
      throw new CliError(EXIT.failure, `cannot reach Redis at ${redactUrl(config.REDIS_URL)}: ${(lastError ?? (error as Error)).message}`);
    }
    return redis;
  }
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

// ---- parsing helpers (exported for unit tests) ----

/** `--payload`: inline JSON, `@path` (relative to cwd) or `@-` (stdin). */
export async function parsePayload(value: string | undefined, io: Pick<CliIO, 'cwd' | 'readStdin'>): Promise<unknown> {
  if (value === undefined) return {};
  let text = value;
  let source = '--payload';
  if (value.startsWith('@')) {
    const path = value.slice(1);
    if (!path) throw usageError('invalid --payload: "@" must be followed by a file path (or "-" for stdin)');
    if (path === '-') {
      if (!io.readStdin) throw usageError('invalid --payload: cannot read stdin here');
      text = await io.readStdin();
      source = '--payload @- (stdin)';
    } else {
      const file = resolve(io.cwd, path);
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        throw usageError(`invalid --payload: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
      source = `--payload file ${file}`;
    }
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw usageError(`invalid ${source}: not valid JSON (${(error as Error).message})`);
  }
}

export function parseIntOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`${name} must be a whole number.`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}.`);
    return n;
  };
}

// ---- output helpers ----

/** A plain text table: a header row, aligned columns, long cells cut with an ellipsis. */
export function formatTable(headers: string[], rows: Array<Array<string | number | null | undefined>>, maxWidth = 60): string {
  const cells = rows.map((row) => headers.map((_, i) => truncate(String(row[i] ?? ''), maxWidth)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

export function truncate(text: string, max: number): string {
  const flat = text.replace(/\s*\n\s*/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Printable preview of raw bytes: control characters shown as \xNN, cut at `max` characters. */
export function preview(bytes: Buffer | null | undefined, max = 60): string {
  if (!bytes) return '(null)';
  const text = bytes.toString('utf8').replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export const isoTime = (ms: number | string | null | undefined): string => {
  if (ms === null || ms === undefined || ms === '') return '';
  const n = typeof ms === 'string' ? Number(ms) : ms;
  return Number.isFinite(n) && n > 0 ? new Date(n).toISOString() : '';
};
