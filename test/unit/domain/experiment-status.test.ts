import { describe, expect, it } from 'vitest';
import { EXPERIMENT_STATUSES, transition, type ExperimentStatus, type StatusAction } from '../../../src/domain/experiment-status.js';

const earlier = new Date('2026-11-01T00:00:00.000Z');
const now = new Date('2026-11-23T10:00:00.000Z');
const state = (status: ExperimentStatus, startedAt: Date | null = null, endedAt: Date | null = null) => ({ status, startedAt, endedAt });

describe('transition', () => {
  const allowed: [ExperimentStatus, StatusAction, ExperimentStatus][] = [
    ['created', 'start', 'running'],
    ['running', 'pause', 'paused'],
    ['paused', 'start', 'running'],
    ['running', 'complete', 'completed'],
    ['paused', 'complete', 'completed'],
  ];
  it.each(allowed)('%s --%s--> %s', (from, action, to) => {
    expect(transition(state(from, from === 'created' ? null : earlier), action, now)?.status).toBe(to);
  });

  const actions: StatusAction[] = ['start', 'pause', 'complete'];
  const disallowed = EXPERIMENT_STATUSES.flatMap((from) =>
    actions.filter((action) => !allowed.some(([f, a]) => f === from && a === action)).map((action) => [from, action] as const),
  );
  it('rejects every other move', () => {
    expect(disallowed).toEqual([
      ['created', 'pause'],
      ['created', 'complete'],
      ['running', 'start'],
      ['paused', 'pause'],
      ['completed', 'start'],
      ['completed', 'pause'],
      ['completed', 'complete'],
    ]);
    for (const [from, action] of disallowed) expect(transition(state(from, earlier), action, now)).toBeNull();
  });

  it('sets startedAt on the first start only', () => {
    expect(transition(state('created'), 'start', now)).toEqual({ status: 'running', startedAt: now, endedAt: null });
    expect(transition(state('paused', earlier), 'start', now)).toEqual({ status: 'running', startedAt: earlier, endedAt: null });
    expect(transition(state('running', earlier), 'pause', now)).toEqual({ status: 'paused', startedAt: earlier, endedAt: null });
  });

  it('sets endedAt on complete', () => {
    expect(transition(state('running', earlier), 'complete', now)).toEqual({ status: 'completed', startedAt: earlier, endedAt: now });
    expect(transition(state('paused', earlier), 'complete', now)).toEqual({ status: 'completed', startedAt: earlier, endedAt: now });
  });
});
