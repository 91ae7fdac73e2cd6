// DOMAIN.md "Experiment": created → running (start) → paused (pause) ↔ running; running/paused → completed.

import type { ExperimentStatus } from '@experimentation-worker/client/contracts';

// The statuses are part of the wire contract (packages/client/src/contracts/experiments.ts).
export { EXPERIMENT_STATUSES, type ExperimentStatus } from '@experimentation-worker/client/contracts';

export type StatusAction = 'start' | 'pause' | 'complete';

export const TRANSITION_REJECTED = 'Unable to transition experiment status.';

const allowedFrom: Record<StatusAction, readonly ExperimentStatus[]> = {
  start: ['created', 'paused'],
  pause: ['running'],
  complete: ['running', 'paused'],
};

const targetOf: Record<StatusAction, ExperimentStatus> = { start: 'running', pause: 'paused', complete: 'completed' };

export interface StatusState {
  status: ExperimentStatus;
  startedAt: Date | null;
  endedAt: Date | null;
}

/** The state after `action` at `now`, or null when the move is not allowed. */
export function transition(state: StatusState, action: StatusAction, now: Date): StatusState | null {
  if (!allowedFrom[action].includes(state.status)) return null;
  return {
    status: targetOf[action],
    // Only the first start sets startedAt: results windows run from it, paused time included.
    startedAt: action === 'start' && state.startedAt === null ? now : state.startedAt,
    endedAt: action === 'complete' ? now : state.endedAt,
  };
}

/** Active experiments block another one on the same feature and hold their metrics. */
export const isActiveStatus = (status: ExperimentStatus): boolean => status !== 'completed';
