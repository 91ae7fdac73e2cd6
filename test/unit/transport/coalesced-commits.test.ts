import { afterEach, describe, expect, it, vi } from 'vitest';
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
    await new Promise((resolve) => setImmediate(resolve));
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

  describe('with a minimum interval', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('starts a commit asked for sooner than the interval only once the interval is over, carrying every caller of the wait', async () => {
      vi.useFakeTimers();
      const commitOnce = coalescedCommits(200);
      let calls = 0;
      const commit = async () => void calls++;
      await commitOnce(commit);
      expect(calls).toBe(1);
      const second = commitOnce(commit);
      const third = commitOnce(commit);
      await vi.advanceTimersByTimeAsync(150);
      expect(calls).toBe(1);
      await vi.advanceTimersByTimeAsync(60);
      await Promise.all([second, third]);
      expect(calls).toBe(2);
      // Due again 200 ms after that start: a later caller starts at once.
      await vi.advanceTimersByTimeAsync(250);
      await commitOnce(commit);
      expect(calls).toBe(3);
    });

    it('does not make an urgent caller (stopping) wait out the interval', async () => {
      vi.useFakeTimers();
      const commitOnce = coalescedCommits(60_000);
      let calls = 0;
      const commit = async () => void calls++;
      await commitOnce(commit);
      await commitOnce(commit, { urgent: true });
      expect(calls).toBe(2);
    });
  });
});
