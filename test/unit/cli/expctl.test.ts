import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram, runCli } from '../../../src/cli/expctl.js';
import type { CliIO, ClientRequest, CommandClient } from '../../../src/cli/commands/context.js';
import type { Reply } from '../../../src/contracts/envelope.js';
import type { CommandInput } from '../../../src/client/index.js';

const KEYS = 'ops-user:user-secret:user,ops-system:system-secret:system';

interface Sent {
  request: ClientRequest;
  envelope: Record<string, unknown> & { id: string };
  bytes: Buffer;
  key: string | null | undefined;
}

/** A fake client: records what was sent and answers with `answer(envelope)` (undefined = never answers). */
function fakeClient(answer: (envelope: Record<string, unknown> & { id: string }) => Partial<Reply> | undefined, sent: Sent[]) {
  return async (_config: unknown, request: ClientRequest): Promise<CommandClient> => {
    const pending = new Map<string, (reply: Reply) => void>();
    return {
      replyTopic: request.replyTopic,
      envelope(input: CommandInput) {
        return {
          id: input.id ?? '11111111-2222-4333-8444-555555555555',
          type: input.type,
          ...(input.environment !== undefined ? { environment: input.environment } : {}),
          actor: input.actor!,
          payload: input.payload ?? {},
          replyTo: input.replyTo!,
          ...(input.correlationId !== undefined ? { correlationId: input.correlationId } : {}),
        };
      },
      waitForReply(commandId: string, timeout = 30_000) {
        return new Promise<Reply>((resolve, reject) => {
          pending.set(commandId, resolve);
          setTimeout(() => reject(new Error(`no reply to command ${commandId} within ${timeout} ms`)), timeout);
        });
      },
      async sendRaw(value: Buffer, options: { key?: string | null } = {}) {
        const envelope = JSON.parse(value.toString('utf8'));
        sent.push({ request, envelope, bytes: value, key: options.key });
        const reply = answer(envelope);
        if (reply) {
          const full: Reply = { commandId: envelope.id, type: envelope.type, status: 200, body: null, processedAt: new Date().toISOString(), ...reply };
          setTimeout(() => pending.get(envelope.id)?.(full), 1);
        }
      },
      async disconnect() {},
    };
  };
}

function harness(options: { env?: Record<string, string | undefined>; answer?: Parameters<typeof fakeClient>[0]; stdin?: string } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const sent: Sent[] = [];
  const cwd = mkdtempSync(join(tmpdir(), 'expctl-'));
  const io: CliIO = {
    stdout: (s) => out.push(s),
    stderr: (s) => err.push(s),
    env: options.env ?? { COMMAND_KEYS: KEYS },
    cwd,
    readStdin: async () => options.stdin ?? '',
    createClient: fakeClient(options.answer ?? ((e) => ({ status: 200, body: { echoed: e.payload } })), sent),
  };
  return {
    io,
    sent,
    cwd,
    stdout: () => out.join(''),
    stderr: () => err.join(''),
    run: (...argv: string[]) => runCli(argv, io),
  };
}

describe('expctl program', () => {
  it('buildProgram gives a fresh commander program with the five command groups', () => {
    const program = buildProgram(harness().io);
    expect(program.name()).toBe('expctl');
    expect(program.commands.map((c) => c.name())).toEqual(['send', 'jobs', 'dlq', 'parked', 'results']);
    const jobs = program.commands.find((c) => c.name() === 'jobs')!;
    expect(jobs.commands.map((c) => c.name())).toEqual(['failed', 'replay', 'discard']);
    const parked = program.commands.find((c) => c.name() === 'parked')!;
    expect(parked.commands.map((c) => c.name())).toEqual(['list', 'retry', 'discard']);
  });

  it('--help exits 0, lists the commands and documents the exit codes', async () => {
    const h = harness({ env: {} });
    expect(await h.run('--help')).toBe(0);
    expect(h.stdout()).toContain('Usage: expctl');
    expect(h.stdout()).toMatch(/send .*<type>/);
    expect(h.stdout()).toContain('Exit codes:');
    expect(h.stdout()).toMatch(/3 +timeout/);
  });

  it.each([['send'], ['jobs'], ['jobs', 'failed'], ['jobs', 'replay'], ['jobs', 'discard'], ['dlq'], ['dlq', 'list'], ['dlq', 'replay'], ['parked'], ['parked', 'list'], ['parked', 'retry'], ['parked', 'discard'], ['results'], ['results', 'recompute']])(
    '%s %s --help exits 0 with usage and examples, without any configuration',
    async (...args: string[]) => {
      const h = harness({ env: {} });
      expect(await h.run(...args.filter(Boolean), '--help')).toBe(0);
      expect(h.stdout()).toContain(`Usage: expctl ${args.filter(Boolean).join(' ')}`);
      expect(h.stdout()).toContain('Examples:');
      expect(h.stdout()).toContain('--json');
    },
  );

  it('an unknown command, a missing command and a bad option exit 2', async () => {
    let h = harness();
    expect(await h.run('bogus')).toBe(2);
    expect(h.stderr()).toContain("unknown command 'bogus'");
    h = harness();
    expect(await h.run()).toBe(2);
    expect(h.stderr()).toContain('Usage: expctl');
    h = harness();
    expect(await h.run('jobs')).toBe(2);
    h = harness();
    expect(await h.run('send', 'x', '--nope')).toBe(2);
    expect(h.stderr()).toContain("unknown option '--nope'");
    h = harness();
    expect(await h.run('jobs', 'failed', '--queue', 'nope')).toBe(2);
    expect(h.stderr()).toContain('Allowed choices are command-retries, replies, results');
    h = harness();
    expect(await h.run('jobs', 'failed', '--limit', 'ten')).toBe(2);
    expect(h.stderr()).toContain('--limit must be a whole number');
    h = harness();
    expect(await h.run('send', 'x', '--timeout', '-5')).toBe(2);
  });
});

describe('expctl send', () => {
  it('sends a signed envelope with the payload and exits 0 on a 2xx reply', async () => {
    const h = harness();
    const code = await h.run('send', 'organisation.upsert', '--actor', 'system:ops', '--payload', '{"id":7,"name":"x","experimentationEnabled":true}', '--message-key', '7');
    expect(code).toBe(0);
    expect(h.sent).toHaveLength(1);
    const [sent] = h.sent;
    expect(sent!.envelope).toMatchObject({ type: 'organisation.upsert', actor: { type: 'system', id: 'ops' }, payload: { id: 7, name: 'x', experimentationEnabled: true } });
    expect(sent!.envelope.environment).toBeUndefined();
    expect(sent!.key).toBe('7');
    expect(sent!.request).toMatchObject({ keyId: 'ops-system', secret: 'system-secret', commandsTopic: 'experimentation.commands', replyTopic: 'experimentation.replies' });
    expect(h.stdout()).toMatch(/^200 OK {2}organisation\.upsert {2}command 11111111-/);
    expect(h.stdout()).toContain('"echoed"');
  });

  it('picks the first key whose scope allows the actor, or the one named by --key-id', async () => {
    let h = harness();
    await h.run('send', 'metric.list', '--env', 'env-1', '--actor', 'user:42');
    expect(h.sent[0]!.request.keyId).toBe('ops-user');
    expect(h.sent[0]!.key).toBe('env-1');
    expect(h.sent[0]!.envelope).toMatchObject({ environment: 'env-1', actor: { type: 'user', id: '42' } });
    h = harness();
    await h.run('send', 'metric.list', '--env', 'env-1', '--actor', 'user:42', '--key-id', 'ops-system');
    expect(h.sent[0]!.request.keyId).toBe('ops-system');
    h = harness();
    expect(await h.run('send', 'organisation.upsert', '--actor', 'system:ops', '--key-id', 'ops-user')).toBe(2);
    expect(h.stderr()).toContain('may not sign commands for a system actor');
    h = harness();
    expect(await h.run('send', 'organisation.upsert', '--key-id', 'nope')).toBe(2);
    expect(h.stderr()).toContain('unknown --key-id "nope"');
    h = harness({ env: { COMMAND_KEYS: 'only-user:s:user' } });
    expect(await h.run('send', 'organisation.upsert')).toBe(2);
    expect(h.stderr()).toContain('no key in COMMAND_KEYS may sign for a system actor');
  });

  it('passes --reply-to, --correlation-id and --id through, and prints JSON with --json', async () => {
    const h = harness({ answer: () => ({ status: 201, correlationId: 'c-1', body: { id: 3 } }) });
    const id = '0b6f6c1e-1f0e-4f57-9d1f-6a0f3e6c2a10';
    expect(await h.run('--json', 'send', 'metric.create', '--env', 'e', '--reply-to', 'my.replies', '--correlation-id', 'c-1', '--id', id)).toBe(0);
    expect(h.sent[0]!.envelope).toMatchObject({ id, replyTo: 'my.replies', correlationId: 'c-1' });
    expect(h.sent[0]!.request.replyTopic).toBe('my.replies');
    expect(JSON.parse(h.stdout())).toMatchObject({ commandId: id, status: 201, correlationId: 'c-1', body: { id: 3 } });
  });

  it('exits 1 on a 4xx or 5xx reply and still prints it', async () => {
    for (const status of [400, 403, 500]) {
      const h = harness({ answer: () => ({ status, body: { detail: 'nope' } }) });
      expect(await h.run('send', 'organisation.upsert', '--payload', '{}')).toBe(1);
      expect(h.stdout()).toMatch(new RegExp(`^${status} `));
      expect(h.stdout()).toContain('"detail": "nope"');
    }
  });

  it('exits 3 when no reply comes within --timeout', async () => {
    const h = harness({ answer: () => undefined });
    expect(await h.run('send', 'organisation.upsert', '--timeout', '50')).toBe(3);
    expect(h.stderr()).toMatch(/no reply to organisation\.upsert command .* within 50 ms/);
  });

  it('reads the payload from @file (relative to the working directory) and from @- (stdin)', async () => {
    let h = harness();
    writeFileSync(join(h.cwd, 'payload.json'), '{"id": 9, "name": "from file", "experimentationEnabled": false}\n');
    expect(await h.run('send', 'organisation.upsert', '--payload', '@payload.json')).toBe(0);
    expect(h.sent[0]!.envelope.payload).toEqual({ id: 9, name: 'from file', experimentationEnabled: false });
    h = harness({ stdin: '{"experimentId": 3}' });
    expect(await h.run('send', 'experiment.results.refresh', '--env', 'e', '-p', '@-')).toBe(0);
    expect(h.sent[0]!.envelope.payload).toEqual({ experimentId: 3 });
  });

  it('invalid payload JSON, a missing @file and a bad --actor exit 2 with a clear message and send nothing', async () => {
    let h = harness();
    expect(await h.run('send', 'organisation.upsert', '--payload', '{id: 7')).toBe(2);
    expect(h.stderr()).toMatch(/^expctl: invalid --payload: not valid JSON \(/);
    expect(h.sent).toHaveLength(0);

    h = harness();
    writeFileSync(join(h.cwd, 'broken.json'), '{"id": 7,');
    expect(await h.run('send', 'organisation.upsert', '--payload', '@broken.json')).toBe(2);
    expect(h.stderr()).toContain(`invalid --payload file ${join(h.cwd, 'broken.json')}: not valid JSON`);

    h = harness();
    expect(await h.run('send', 'organisation.upsert', '--payload', '@missing.json')).toBe(2);
    expect(h.stderr()).toContain(`cannot read ${join(h.cwd, 'missing.json')}: ENOENT`);

    h = harness();
    expect(await h.run('send', 'organisation.upsert', '--actor', 'admin')).toBe(2);
    expect(h.stderr()).toContain('invalid --actor "admin": expected user:<id> or system:<name>');

    h = harness();
    expect(await h.run('send', 'organisation.upsert', '--id', 'not-a-uuid')).toBe(2);
    h = harness();
    expect(await h.run('send', 'organisation.upsert', '--reply-to', 'bad topic!')).toBe(2);
    expect(h.sent).toHaveLength(0);
  });

  it('needs COMMAND_KEYS and exits 2 with the one-line configuration error', async () => {
    const h = harness({ env: {} });
    expect(await h.run('send', 'organisation.upsert')).toBe(2);
    expect(h.stderr()).toBe('expctl: configuration error: COMMAND_KEYS missing: is required (comma-separated keyId:secret:scope)\n');
  });
});

describe('expctl jobs and dlq arguments', () => {
  it('jobs replay/discard need exactly one of a job id and --all (exit 2)', async () => {
    for (const verb of ['replay', 'discard']) {
      let h = harness();
      expect(await h.run('jobs', verb)).toBe(2);
      expect(h.stderr()).toContain(`jobs ${verb}: give a job id`);
      h = harness();
      expect(await h.run('jobs', verb, 'cmd-1', '--all')).toBe(2);
      expect(h.stderr()).toContain('not both');
    }
  });

  it('dlq replay needs --offset P:O or --all (exit 2)', async () => {
    let h = harness();
    expect(await h.run('dlq', 'replay')).toBe(2);
    expect(h.stderr()).toContain('--offset <partition:offset>');
    h = harness();
    expect(await h.run('dlq', 'replay', '--offset', '0:1', '--all')).toBe(2);
    h = harness();
    expect(await h.run('dlq', 'replay', '--offset', 'zero')).toBe(2);
    expect(h.stderr()).toContain('invalid --offset "zero"');
  });

  it('dlq list and replay take --topic commands or tracking only (exit 2)', async () => {
    for (const verb of ['list', 'replay']) {
      const h = harness();
      expect(await h.run('dlq', verb, '--topic', 'events')).toBe(2);
      expect(h.stderr()).toContain("option '-t, --topic <which>' argument 'events' is invalid. Allowed choices are commands, tracking.");
    }
  });

  it('parked retry and discard need an id of a known kind or --all (exit 2); an unreachable database exits 1', async () => {
    for (const verb of ['retry', 'discard']) {
      let h = harness();
      expect(await h.run('parked', verb)).toBe(2);
      expect(h.stderr()).toContain(`parked ${verb}: give an id`);
      h = harness();
      expect(await h.run('parked', verb, 'event-1', '--all')).toBe(2);
      expect(h.stderr()).toContain('not both');
      h = harness();
      expect(await h.run('parked', verb, 'cmd-1')).toBe(2);
      expect(h.stderr()).toContain('"cmd-1" is not an id like event-12');
    }
    const h = harness({ env: { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' } });
    expect(await h.run('parked', 'list')).toBe(1);
    expect(h.stderr()).toContain('cannot reach Postgres at postgres://nobody@127.0.0.1:1/none');
  });

  it('jobs and dlq do not require COMMAND_KEYS but do check the rest of the configuration', async () => {
    let h = harness({ env: { REDIS_URL: 'redis://127.0.0.1:1' } });
    expect(await h.run('jobs', 'failed')).toBe(1);
    expect(h.stderr()).toContain('cannot reach Redis at redis://127.0.0.1:1');
    h = harness({ env: { KAFKA_BROKERS: 'no-port' } });
    expect(await h.run('dlq', 'list')).toBe(2);
    expect(h.stderr()).toBe('expctl: configuration error: KAFKA_BROKERS invalid value "no-port": each broker must be host:port\n');
  });
});
