// Results benchmark (`npm run bench:results`, i.e. `tsx bench/results.ts`; `--help`). A scale curve: for each size
// (identities, 10 tracking events each; default 100k, 300k and 1M):
//
//  1. the dataset (bench/results-data.ts: generated with SQL);
//  2. results compute (computeResults: the results query over the raw events + analyzeExperiment + the write),
//     three times, median reported; EXPLAIN (ANALYZE, BUFFERS) of one part of the query goes into the JSON;
//  3. table and index sizes of the raw events;
//  4. tracking ingest through Kafka into the same database (bench/results-ingest.ts);
//  5. the process's peak RSS (VmHWM) during the compute and during the ingest: the bench runs the worker's code.
//
// It uses its own database, RESULTS_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/experimentation_results_bench),
// created and migrated on first use and emptied of tracking data before each size; it prints tables, progress on
// stderr, and writes bench/results/results-<time>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Knex } from 'knex';
import { createKnex, ensureDatabase, migrateLatest } from '../src/db.js';
import { computeResults } from '../src/results/compute-results.js';
import { buildResultsQuery, loadResultsSubject, RESULTS_QUERY_PARTS, RESULTS_SESSION_SETTINGS } from '../src/results/results-query.js';
import { buildResultsState, stateFor } from '../src/results/results-state.js';
import { compareWithRaw } from './results-compare.js';
import { clearTracking, config, databaseUrl, generate, logger, peakRssMB, progress, resetPeakRss, round, tableSizes } from './results-data.js';
import { benchIngest } from './results-ingest.js';

const HELP = `Usage: npm run bench:results -- [--sizes 100000,300000,1000000] [--ingest-events 500000] [--skip-ingest]

Needs the local stack (npm run stack up). For each size (exposed identities, 10 tracking events each):
generates the data, times the results compute from the raw events 3 times (median), records table and index
sizes, then times the tracking ingest of --ingest-events events through Kafka into the same database, and the
peak RSS of each phase.
  --sizes N,N,…        identities per scale point (default 100000,300000,1000000; 10000000 works, not in CI: ~1 h, ~30 GB)
  --ingest-events N    events of each ingest run (default 500000; BENCH_INGEST_EVENTS)
  --skip-ingest        compute only
Uses its own database (RESULTS_BENCH_DATABASE_URL, default .../experimentation_results_bench).
Writes bench/results/results-<time>.json.`;

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: process.env.BENCH_SIZES ?? '100000,300000,1000000' },
    'ingest-events': { type: 'string', default: process.env.BENCH_INGEST_EVENTS ?? '500000' },
    'skip-ingest': { type: 'boolean', default: process.env.BENCH_SKIP_INGEST === '1' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
const sizes = args.sizes!.split(',').map((s) => Number(s.replaceAll('_', ''))).filter((n) => Number.isSafeInteger(n) && n > 0);
const ingestEvents = Number(args['ingest-events']);
if (!sizes.length || !(ingestEvents > 0)) {
  console.error(HELP);
  process.exit(2);
}
const outDir = fileURLToPath(new URL('./results/', import.meta.url));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timeCompute(knex: Knex, experimentId: number, run: string, fromRaw = false) {
  const t = performance.now();
  const outcome = await computeResults({ knex, config, logger }, experimentId, new Date(), { fromRaw });
  if (outcome.kind !== 'computed') throw new Error(`compute ${outcome.kind}`);
  const totalMs = Math.round(performance.now() - t);
  progress(`  compute ${run} (${outcome.source.kind}${outcome.source.kind === 'state' ? `, ${outcome.source.fromRaw} identities from raw` : ''}): ${totalMs} ms`);
  if (!fromRaw && outcome.source.kind !== 'state') throw new Error('the computation did not use the results state');
  return {
    run,
    source: outcome.source.kind,
    totalMs,
    queryMs: Math.round(outcome.timings.queryMs),
    statsMs: round(outcome.timings.statsMs),
    exposures: (outcome.view.payload as { exposures: Record<string, number> }).exposures,
  };
}

async function scalePoint(knex: Knex, size: number) {
  progress(`${size.toLocaleString('en')} identities: clearing, generating ${(size * 10).toLocaleString('en')} events`);
  await clearTracking(knex);
  const generated = await generate(knex, size);
  progress(`  generated in ${generated.generateSeconds} s, vacuum analyze ${generated.vacuumAnalyzeSeconds} s`);
  // The generated rows bypassed the ingester: the state is built from them, as for an experiment whose metric
  // was attached after its events arrived.
  const subjectForState = (await loadResultsSubject(knex, generated.experimentId))!;
  const buildStart = performance.now();
  if (!(await buildResultsState(knex, stateFor(subjectForState, config.CUPED_LOOKBACK_DAYS), logger))) throw new Error('state build lost');
  const stateBuildSeconds = round((performance.now() - buildStart) / 1000);
  progress(`  state built in ${stateBuildSeconds} s`);
  await knex.raw('vacuum analyze results_identities');
  resetPeakRss();
  const runs = [];
  for (const run of ['1', '2', '3']) runs.push(await timeCompute(knex, generated.experimentId, run));
  const computePeakRssMB = peakRssMB();
  const rawRun = await timeCompute(knex, generated.experimentId, 'raw', true);
  const agreement = await compareWithRaw(knex, generated.experimentId);
  progress(`  state vs raw: ${agreement.identical ? 'identical' : `largest relative difference ${agreement.maxRelativeDifference}`}`);
  const subject = (await loadResultsSubject(knex, generated.experimentId))!;
  const plan = await knex.transaction(async (trx) => {
    await trx.raw(RESULTS_SESSION_SETTINGS);
    const { sql, bindings } = buildResultsQuery(subject, { from: subject.startedAt!, to: new Date() }, config.CUPED_LOOKBACK_DAYS, RESULTS_QUERY_PARTS);
    const { rows } = await trx.raw<{ rows: { 'QUERY PLAN': string }[] }>(`explain (analyze, buffers) ${sql}`, bindings);
    return rows.map((r) => r['QUERY PLAN']);
  });
  const sizesMB = await tableSizes(knex);
  let ingest;
  if (!args['skip-ingest']) {
    progress(`  ingest of ${ingestEvents.toLocaleString('en')} events through Kafka`);
    ingest = await benchIngest(knex, ingestEvents, String(size));
    progress(`  ingest: ${ingest.eventsPerSecond.toLocaleString('en')} events/s; state of ${ingest.stateIdentities.toLocaleString('en')} identities vs raw: ${ingest.stateVsRaw.identical ? 'identical' : JSON.stringify(ingest.stateVsRaw)}`);
  }
  return {
    size,
    experimentId: generated.experimentId,
    rows: generated.rows,
    generateSeconds: generated.generateSeconds,
    vacuumAnalyzeSeconds: generated.vacuumAnalyzeSeconds,
    stateBuildSeconds,
    computeMedianMs: median(runs.map((r) => r.totalMs)),
    computeFromRawMs: rawRun.totalMs,
    computePeakRssMB,
    runs,
    stateVsRaw: agreement,
    sizesMB,
    ingest,
    explainOnePart: plan,
  };
}

async function main() {
  await ensureDatabase(databaseUrl);
  const knex = createKnex(databaseUrl, 8);
  await migrateLatest(knex);
  const report: Record<string, unknown> = {
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    database: databaseUrl.replace(/\/\/[^@]*@/, '//').replace(/\?.*/, ''),
    sizes,
    ingestEvents,
  };
  const points = [];
  try {
    for (const size of sizes) {
      const point = await scalePoint(knex, size);
      points.push(point);
      console.log(`\n${size.toLocaleString('en')} identities (${point.rows.trackingEvents.toLocaleString('en')} tracking rows)`);
      console.table(point.runs.map(({ exposures, ...r }) => ({ ...r, exposures: JSON.stringify(exposures) })));
      console.table(Object.entries(point.sizesMB).map(([table, s]) => ({ table, ...s })));
    }
  } finally {
    report.points = points;
    await knex.destroy();
  }
  console.log('\nScale curve');
  console.table(
    points.map((p) => ({
      identities: p.size,
      'compute median ms': p.computeMedianMs,
      'from raw ms': p.computeFromRawMs,
      'state build s': p.stateBuildSeconds,
      'ingest events/s': p.ingest?.eventsPerSecond ?? '',
      'raw MB (table + indexes)': round((p.sizesMB.tracking_events?.tableMB ?? 0) + (p.sizesMB.tracking_events?.indexesMB ?? 0)),
      'state MB (table + indexes)': round((p.sizesMB.results_identities?.tableMB ?? 0) + (p.sizesMB.results_identities?.indexesMB ?? 0)),
      'peak RSS MB compute / ingest': `${p.computePeakRssMB} / ${p.ingest?.peakRssMB ?? '-'}`,
    })),
  );
  mkdirSync(outDir, { recursive: true });
  const file = `${outDir}results-${new Date().toISOString().replaceAll(':', '-').slice(0, 19)}.json`;
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  console.log(`\nwritten ${file}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
