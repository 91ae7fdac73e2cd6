import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandRetryJobId } from '../../../src/jobs/queues.js';
import { parkDeadLetter } from '../../../src/models/parked.js';
import { eventually, startTestWorker, systemActor, type TestWorker } from '../harness.js';
import { launchChromium } from './browser.js';

// The ops dashboard of a real worker (OPS_DASHBOARD_TOKEN set), in headless Chromium: a command retry job that
// failed for real (every attempt met a lock held by the test) is retried from Bull Board and completes.

/** Where the overview is saved: a temporary file, or (to update the README's) OPS_DASHBOARD_SCREENSHOT=docs/images/ops-dashboard.png. */
const screenshot = resolve(process.env.OPS_DASHBOARD_SCREENSHOT || join(tmpdir(), `ops-dashboard-${process.pid}.png`));
const token = randomBytes(24).toString('hex');
const basic = (password: string) => `Basic ${Buffer.from(`ops:${password}`).toString('base64')}`;

describe('ops dashboard', () => {
  let worker: TestWorker;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    browser = await launchChromium();
    worker = await startTestWorker({
      OPS_DASHBOARD_TOKEN: token,
      COMMAND_RETRY_ATTEMPTS: '2',
      COMMAND_RETRY_BACKOFF_MS: '100',
      COMMAND_LOCK_TIMEOUT_MS: '300',
      COMMAND_INPLACE_RETRY_MS: '1000',
    });
    base = `http://127.0.0.1:${worker.app.httpPort}`;
  });

  afterAll(async () => {
    if (!process.env.OPS_DASHBOARD_SCREENSHOT) rmSync(screenshot, { force: true });
    await browser?.close();
    await worker?.stop();
  });

  /** A page that reaches nothing but the worker (Bull Board's page links a web font). */
  async function workerOnlyPage(): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await page.route((url) => url.host !== new URL(base).host, (route) => route.abort());
    return page;
  }

  it('answers 401 without the token or with a wrong one, and only lets the dashboard itself change things', async () => {
    const get = (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { headers, redirect: 'manual' });
    const none = await get('/ops/queues');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect((await get('/ops/queues', { authorization: basic('wrong') })).status).toBe(401);
    expect((await get(`/ops/queues?token=${token.slice(1)}`)).status).toBe(401);
    expect((await get('/ops/parked')).status).toBe(401);
    expect((await get('/ops/queues/api/queues')).status).toBe(401);

    const page = await get('/ops/queues', { authorization: basic(token) });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root">');
    const api = await get('/ops/queues/api/queues', { authorization: basic(token) });
    expect(api.status).toBe(200);
    const names = ((await api.json()) as { queues: { name: string }[] }).queues.map((q) => q.name).sort();
    expect(names).toEqual(['command-retries', 'replies', 'results']);

    // ?token= signs a browser in: an HttpOnly, SameSite=Strict cookie that is not the token, and the URL without it.
    const login = await get(`/ops/queues/queue/replies?status=failed&token=${token}`);
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/ops/queues/queue/replies?status=failed');
    const cookie = login.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^expw_ops=[^;]+; Path=\/ops; HttpOnly; SameSite=Strict$/);
    expect(cookie).not.toContain(token);
    expect((await get('/ops/queues', { cookie: cookie.split(';')[0]! })).status).toBe(200);
    expect((await get('/ops/queues', { cookie: 'expw_ops=forged' })).status).toBe(401);

    // A change (pause a queue) needs the token and the dashboard's own origin; /ops/parked only reads.
    const pause = (headers: Record<string, string>) => fetch(`${base}/ops/queues/api/queues/results/pause`, { method: 'PUT', headers });
    expect((await pause({})).status).toBe(401);
    expect((await pause({ authorization: basic(token), origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect(await worker.app.queues.results.isPaused()).toBe(false);
    expect((await fetch(`${base}/ops/parked`, { method: 'POST', headers: { authorization: basic(token) } })).status).toBe(405);
    expect((await get('/ops/nothing-here', { authorization: basic(token) })).status).toBe(404);
    // The rest of the server is as before.
    expect((await fetch(`${base}/healthz`, { method: 'POST' })).status).toBe(405);
    expect((await get('/healthz')).status).toBe(200);
  });

  it('a failed command retry job is retried from the dashboard in Chromium, and completes', async () => {
    const { client } = worker;
    const commandId = randomUUID();
    const orgId = randomInt(1_000_000, 2_000_000_000);
    const upsert = { id: commandId, type: 'organisation.upsert', actor: systemActor, payload: { id: orgId, name: 'retried', experimentationEnabled: true } };
    expect((await client.send({ type: 'organisation.upsert', actor: systemActor, payload: { id: orgId, name: 'before', experimentationEnabled: true } })).status).toBe(200);
    // Another transaction holds the organisation's row: every attempt meets the lock timeout until the retries
    // are used up, the command is answered 500 and its job ends in the failed set.
    const blocker = await worker.knex.transaction();
    try {
      await blocker('organisations').where({ id: orgId }).forUpdate();
      expect((await client.send(upsert, { timeout: 40_000 })).status).toBe(500);
    } finally {
      await blocker.rollback();
    }
    const jobId = commandRetryJobId(commandId);
    const job = await worker.app.queues.commandRetries.getJob(jobId);
    expect(await job!.getState()).toBe('failed');

    const page = await workerOnlyPage();
    try {
      await page.goto(`${base}/ops/queues?token=${token}`);
      expect(new URL(page.url()).search).toBe(''); // signed in, the token gone from the address bar
      const main = page.locator('main');
      for (const name of ['command-retries', 'replies', 'results']) await main.getByRole('link', { name, exact: true }).waitFor();
      await main.getByText(/failed\s*1/i).first().waitFor(); // the command-retries card counts the failed job
      mkdirSync(dirname(screenshot), { recursive: true });
      await page.screenshot({ path: screenshot });

      await main.getByRole('link', { name: 'command-retries', exact: true }).click();
      await main.getByRole('link', { name: /^failed/i }).click();
      await main.getByRole('link', { name: jobId }).click();
      const retry = page.locator('ul[class^="jobActions"] button:has(svg.lucide-refresh-cw)');
      await retry.hover();
      await page.getByText('Retry', { exact: true }).waitFor(); // its tooltip: this is the Retry button
      await retry.click();
      await page.getByText('Are you sure that you want to retry this job?').waitFor();
      await page.getByRole('button', { name: 'Confirm' }).click();

      // In the page: the job is in the queue's completed list.
      await main.getByRole('link', { name: 'command-retries', exact: true }).click();
      await main.getByRole('link', { name: /^completed/i }).click();
      await main.getByRole('link', { name: jobId }).waitFor({ timeout: 20_000 });
    } finally {
      await page.close();
    }
    // In BullMQ and in the system: completed, by running the command for real, with a new reply.
    const state = await eventually('the retried job completed', async () => ((await job!.getState()) === 'completed' ? 'completed' : undefined));
    expect(state).toBe('completed');
    expect((await worker.app.queues.commandRetries.getJob(jobId))!.returnvalue).toEqual({ kind: 'replayed', status: 200 });
    expect(await client.waitForReply(commandId, 30_000)).toMatchObject({ status: 200, body: { id: orgId, name: 'retried' } });
    expect(await worker.knex('organisations').where({ id: orgId }).first('name')).toEqual({ name: 'retried' });
  });

  it('the parked page lists parked messages, escaped, and the DLQ topics', async () => {
    await parkDeadLetter(worker.knex, {
      topic: worker.config.DLQ_TOPIC,
      sourceTopic: worker.config.COMMANDS_TOPIC,
      partition: 0,
      offset: '7',
      key: Buffer.from('<script>alert(1)</script>'),
      value: Buffer.from('not json'),
      headers: {},
      reason: 'not_json',
    }, 'refused <b>for good</b>');
    const page = await workerOnlyPage();
    try {
      await page.goto(`${base}/ops/parked?token=${token}`);
      await page.getByRole('heading', { name: /Parked messages \(/ }).waitFor();
      const row = page.getByRole('row', { name: /dead-letter-\d+/ });
      await expect(row.getByRole('cell').nth(2).textContent()).resolves.toBe('<script>alert(1)</script>');
      await expect(row.getByRole('cell').nth(6).textContent()).resolves.toBe('refused <b>for good</b>');
      expect(await page.locator('script').count()).toBe(0);
      const dlq = page.getByRole('row', { name: new RegExp(worker.config.DLQ_TOPIC.replace(/\./g, '\\.')) });
      await expect(dlq.getByRole('cell').nth(2).textContent()).resolves.toBe('0');
    } finally {
      await page.close();
    }
  });
});

describe('ops dashboard without OPS_DASHBOARD_TOKEN', () => {
  let worker: TestWorker;
  beforeAll(async () => {
    worker = await startTestWorker();
  });
  afterAll(async () => {
    await worker?.stop();
  });

  it('is not there: /ops/… answers 404, with or without credentials', async () => {
    const base = `http://127.0.0.1:${worker.app.httpPort}`;
    for (const path of ['/ops', '/ops/queues', '/ops/queues/api/queues', '/ops/parked']) {
      expect((await fetch(`${base}${path}`)).status, path).toBe(404);
      expect((await fetch(`${base}${path}`, { headers: { authorization: basic('anything') } })).status, path).toBe(404);
    }
    expect((await fetch(`${base}/ops/queues/api/queues/results/pause`, { method: 'PUT' })).status).toBe(405);
  });
});
