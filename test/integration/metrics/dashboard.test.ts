import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, setupTenant, startTestWorker, type Tenant, type TestWorker } from '../harness.js';
import { commandSender, createMetric, waitForResultsEvent } from '../results/helpers.js';
import { dashboardExpressions, metricNamesOf } from './promql-names.js';

// docs/grafana/experimentation-worker.json queries only metrics the worker serves: a worker that has answered
// commands and computed results is scraped, and every metric name of every PromQL expression of the dashboard
// must have samples in /metrics (a histogram's _bucket, _sum and _count included).

const dashboardPath = new URL('../../../docs/grafana/experimentation-worker.json', import.meta.url);

describe('Grafana dashboard', () => {
  let worker: TestWorker;
  let tenant: Tenant;

  beforeAll(async () => {
    worker = await startTestWorker();
    tenant = await setupTenant(worker.client);
  });
  afterAll(async () => {
    await worker?.stop();
  });

  it('is importable with the Prometheus datasource as an input', () => {
    const dashboard = readDashboard();
    expect(dashboard.__inputs).toContainEqual(expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }));
    const panels = allPanels(dashboard).filter((p) => p.type !== 'row');
    expect(panels.length).toBeGreaterThan(10);
    for (const panel of panels) expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
  });

  it('charts what operators watch, each with metrics the worker serves', async () => {
    // Something in every labelled series: commands answered, and one results computation.
    const send = commandSender(worker.client, tenant.environment, tenant.admin);
    const metricId = await createMetric(send, { name: 'dashboard', aggregation: 'count', definition: { version: 1, event: 'dashboard' } });
    const created = await send('experiment.create', { featureId: tenant.featureId, name: 'dashboard', hypothesis: 'h', metrics: [{ metricId, expectedDirection: 'increase' }] });
    const experimentId = (created.body as { id: number }).id;
    expect((await send('experiment.start', { id: experimentId })).status).toBe(200);
    const refresh = await send('experiment.results.refresh', { experimentId });
    expect(refresh.status, JSON.stringify(refresh.body)).toBe(202);
    await waitForResultsEvent(worker.client, 'experiment.results.computed', experimentId, (refresh.body as { refreshRequestedAt: string }).refreshRequestedAt);

    const names = new Set(dashboardExpressions(readDashboard()).flatMap(metricNamesOf));
    // The list: commands by type and status, latency, retries, parked, DLQ, relay lag, tracking, results.
    for (const name of [
      'expw_commands_total',
      'expw_command_duration_seconds_bucket',
      'expw_command_retries_total',
      'expw_parked_messages',
      'expw_messages_parked_total',
      'expw_dlq_messages_total',
      'expw_outbox_lag_seconds',
      'expw_tracking_events_total',
      'expw_results_compute_seconds_bucket',
    ]) {
      expect(names, name).toContain(name);
    }

    // The first scrape also runs the gauges' collect (parked messages, outbox backlog), so a second one may be needed.
    let missing: string[] = [...names];
    await eventually('every metric the dashboard queries in /metrics', async () => {
      const samples = sampleNames(await (await fetch(`http://127.0.0.1:${worker.app.httpPort}/metrics`)).text());
      missing = [...names].filter((name) => !samples.has(name));
      return missing.length === 0;
    }, 10_000, 500).catch(() => undefined);
    expect(missing, 'queried by the dashboard, missing from /metrics').toEqual([]);
  });
});

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: unknown;
  panels?: Panel[];
}

function readDashboard(): { __inputs: unknown[]; panels: Panel[]; templating: { list: unknown[] } } {
  return JSON.parse(readFileSync(dashboardPath, 'utf8'));
}

function allPanels(dashboard: { panels: Panel[] }): Panel[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** The names of the samples of a Prometheus text exposition (`name{labels} value` and `name value` lines). */
function sampleNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const name = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)?.[1];
    if (name) names.add(name);
  }
  return names;
}
