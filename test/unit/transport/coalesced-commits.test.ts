import { describe, expect, it } from 'vitest';
import { coalescedCommits } from '../../../src/transport/command-consumer.js';

/** A commit whose end the test decides. */
function gate() {
  let open!: () => void;
  const done = new Promise<void>((resolve) => (open = resolve));
  return { done, open };
}

describe('coalescedCommits', () => {
  it('runs one commit at a time, and callers arriving meanwhile share the next one', async () => {
    const commitOnce = coalescedCommits();
    const gates: Array<ReturnType<typeof gate>> = [];
    const commit = () => {
      const g = gate();
      gates.push(g);
      return g.done;
    };
    const first = commitOnce(commit);
    const second = commitOnce(commit);
    const third = commitOnce(commit);
    expect(gates).toHaveLength(1);
    gates[0]!.open();
    await first;
    await Promise.resolve();
    await Promise.resolve();
    expect(gates).toHaveLength(2);
    gates[1]!.open();
    await Promise.all([second, third]);
    expect(gates).toHaveLength(2);
  });

  it('passes a failed commit to its callers and still runs the next one', async () => {
    const commitOnce = coalescedCommits();
    let calls = 0;
    const failing = commitOnce(async () => {
      calls++;
      throw new Error('rebalance');
    });
    const after = commitOnce(async () => {
      calls++;
    });
    await expect(failing).rejects.toThrow('rebalance');
    await after;
    expect(calls).toBe(2);
  });
});
