import type { Command } from 'commander';
import { CliError, EXIT, parseIntOption, type CliContext } from './context.js';
import { withDatabase } from './parked.js';

// `expctl results recompute <experimentId> [--from-raw]`: computes an experiment's results now, in this process,
// and stores them as the worker does (with the `experiment.results.computed` event, published by the relay).

const RESULTS_HELP = `
By default results are computed as the worker's results queue computes them: from the experiment's results
state (one row per exposed identity, kept by the tracking ingester; built first from the stored events when it is
missing or was built for other metrics or another CUPED lookback). --from-raw reads every raw tracking event of
the window instead, the reference computation: use it when the state is in doubt, or after tracking rows were
loaded around the ingester (then also drop the state: the next computation builds it again). Reads DATABASE_URL,
and RESULTS_ALPHA, RESULTS_CORRECTION, SEQUENTIAL_TAU, CUPED_LOOKBACK_DAYS, EVENTS_TOPIC as the worker does.
Exit 1 when the experiment is not found or not started.`;

export function registerResults(program: Command, ctx: CliContext): void {
  const results = program
    .command('results')
    .description('Compute experiment results now (operator fallback to the worker\'s results queue).')
    .addHelpText('after', `${RESULTS_HELP}\n\nExamples:\n  $ expctl results recompute 42\n  $ expctl results recompute 42 --json`);
  results
    .command('recompute')
    .description('Compute and store one experiment\'s results now (from the results state, or --from-raw).')
    .argument('<experimentId>', 'the experiment', parseIntOption('experimentId', 1))
    .option('--from-raw', 'read the raw tracking events of the window, not the results state')
    .addHelpText('after', `${RESULTS_HELP}\n\nExamples:\n  $ expctl results recompute 42\n  $ expctl results recompute 42 --from-raw --json`)
    .action(async (experimentId: number, opts: { fromRaw?: boolean }, command: Command) => {
      const { json } = ctx.globals(command);
      await withDatabase(ctx, async (knex, config) => {
        const { computeResults } = await import('../../results/compute-results.js');
        const { createLogger } = await import('../../logger.js');
        const outcome = await computeResults({ knex, config, logger: createLogger('warn', 'expctl') }, experimentId, new Date(), { fromRaw: opts.fromRaw === true });
        if (outcome.kind === 'skipped') throw new CliError(EXIT.failure, `experiment ${experimentId}: nothing computed (${outcome.reason})`);
        const payload = outcome.view.payload as { exposures: Record<string, number> };
        const summary = {
          experimentId,
          source: outcome.source.kind,
          ...(outcome.source.kind === 'state' ? { identitiesFromRaw: outcome.source.fromRaw } : {}),
          asOf: outcome.view.asOf,
          isFinal: outcome.view.isFinal,
          exposures: payload.exposures,
          queryMs: Math.round(outcome.timings.queryMs),
        };
        if (json) return ctx.json({ ...summary, results: outcome.view });
        const from = summary.source === 'state' ? 'the results state' : 'the raw tracking events';
        ctx.out(`experiment ${experimentId}: results computed from ${from} as of ${summary.asOf} in ${summary.queryMs} ms${summary.isFinal ? ' (final)' : ''}`);
        ctx.out(`exposures: ${Object.entries(payload.exposures).map(([variant, n]) => `${variant} ${n}`).join(', ')}`);
      });
    });
}
