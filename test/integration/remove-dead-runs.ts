import { removeLeftoversOfDeadRuns } from './test-run.js';

// `tsx test/integration/remove-dead-runs.ts`: scripts/test.sh runs it when vitest has exited, so that a vitest
// that was killed (no teardown) leaves nothing behind; live runs are never touched (see test-run.ts).
try {
  const removed = await removeLeftoversOfDeadRuns();
  if (removed.runs.length) console.log(`[test] removed the leftovers of dead test run(s) ${removed.runs.join(', ')}: their databases, ${removed.keys} Redis keys, ${removed.topics} topics`);
} catch (error) {
  console.error(`[test] warning: could not remove the leftovers of dead test runs: ${(error as Error).message}`);
}
