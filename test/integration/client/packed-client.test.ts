import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricSchema, replySchema } from '@experimentation-worker/client';
import { setupTenant, startTestWorker, topicPrefixOf, type Tenant, type TestWorker } from '../harness.js';
import { testKeys } from '../env.js';

// What an outside project does with the client: `npm pack` the workspace package, install the tarball into an
// empty project, type-check a script against the installed declarations, and run it against this file's worker.

const run = promisify(execFile);
const root = join(import.meta.dirname, '../../..');
const tsc = join(root, 'node_modules/typescript/bin/tsc');

// The script an outside service would write: typed send, typed reply body, typed event.
const script = `
import { writeFileSync } from 'node:fs';
import { ExperimentationClient, isSuccess, type Metric } from '@experimentation-worker/client';

const settings = JSON.parse(process.env.PACKED_CLIENT_SETTINGS!) as {
  brokers: string[]; keyId: string; secret: string; commandsTopic: string; eventsTopic: string; replyTopic: string;
  environment: string; userId: string;
};
const client = new ExperimentationClient({ ...settings, defaultActor: { type: 'user', id: settings.userId }, subscribeToEvents: true });
await client.connect();
try {
  const reply = await client.send('metric.create', { name: 'Packed conversion', aggregation: 'occurrence', definition: { version: 1, event: 'packed' } });
  if (!isSuccess(reply)) throw new Error(\`metric.create answered \${reply.status}: \${JSON.stringify(reply.body)}\`);
  const status: 201 = reply.status;
  const metric: Metric = reply.body;
  const event = await client.waitForEvent('metric.created', (e) => e.data.id === metric.id, { timeout: 30_000 });
  const eventName: string = event.data.name;
  // @ts-expect-error metric.create needs a definition: the payload is typed per command type
  if (status !== 201) await client.send('metric.create', { name: 'no definition' });
  writeFileSync('result.json', JSON.stringify({ reply, eventName }));
} finally {
  await client.disconnect();
}
`;

let worker: TestWorker;
let tenant: Tenant;
let project: string;

beforeAll(async () => {
  worker = await startTestWorker();
  tenant = await setupTenant(worker.client);
  project = await mkdtemp(join(tmpdir(), 'packed-client-'));
});

afterAll(async () => {
  await worker?.stop();
  if (project) await rm(project, { recursive: true, force: true });
});

describe('the packed client package', () => {
  it('installs from its npm pack tarball into an empty project and sends a typed command to the worker', async () => {
    // Without the source condition: the project must work from the tarball's dist/ alone.
    const env = { ...process.env, NODE_OPTIONS: '' };
    await run('npm', ['pack', '--pack-destination', project, '--silent'], { cwd: join(root, 'packages/client'), env });
    const [tarball] = (await readdir(project)).filter((f) => f.endsWith('.tgz'));
    expect(tarball).toMatch(/^experimentation-worker-client-0\.1\.0\.tgz$/);

    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'outside-service', private: true, type: 'module' }));
    await run('npm', ['install', `./${tarball}`, '--no-audit', '--no-fund', '--prefer-offline', '--silent'], { cwd: project, env });
    await writeFile(join(project, 'send.ts'), script);
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2023', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out',
          types: ['node'], typeRoots: [join(root, 'node_modules/@types')],
        },
        files: ['send.ts'],
      }),
    );
    // Type errors fail here (with the @ts-expect-error line, so does a payload type that stopped being checked).
    await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, env }).catch((error: { stdout?: string }) => {
      throw new Error(`the outside project does not type-check:\n${error.stdout}`);
    });

    const settings = {
      brokers: worker.config.KAFKA_BROKERS,
      ...testKeys.user,
      commandsTopic: worker.config.COMMANDS_TOPIC,
      eventsTopic: worker.config.EVENTS_TOPIC,
      replyTopic: `${topicPrefixOf(worker.env)}packed-client.replies`,
      environment: tenant.environment,
      userId: tenant.adminUserId,
    };
    await run(process.execPath, ['out/send.js'], {
      cwd: project,
      env: { ...env, PACKED_CLIENT_SETTINGS: JSON.stringify(settings), KAFKAJS_NO_PARTITIONER_WARNING: '1' },
      timeout: 60_000,
    });
    const { reply, eventName } = JSON.parse(await readFile(join(project, 'result.json'), 'utf8')) as { reply: unknown; eventName: string };
    const parsed = replySchema.parse(reply);
    expect(parsed).toMatchObject({ type: 'metric.create', status: 201 });
    // The reply body is exactly the contract's metric.
    expect(metricSchema.strict().parse(parsed.body)).toMatchObject({ name: 'Packed conversion', aggregation: 'occurrence', experiments: [] });
    expect(eventName).toBe('Packed conversion');
  }, 180_000);
});
