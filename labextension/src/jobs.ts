/**
 * The jobs list as the panel keeps it: what changed between two answers of the feed,
 * which jobs just finished, and what the status bar sums up (pure functions).
 */
import { FINISHED_PHASES, IJobRow } from './types';

/** What changed between two lists of jobs, by id. */
export interface IJobsDiff {
  added: IJobRow[];
  removed: IJobRow[];
  changed: IJobRow[];
  /** Jobs seen unfinished before and finished now (a notification each). */
  finished: IJobRow[];
}

/** The fields whose change redraws a row. */
const ROW_FIELDS: (keyof IJobRow)[] = [
  'name', 'phase', 'cluster', 'gpu_type', 'gpu_display', 'gpus_per_node', 'nodes', 'message', 'owner', 'kind',
  'created'
];

/** Whether a row would render differently. */
export function rowChanged(before: IJobRow, after: IJobRow): boolean {
  if (ROW_FIELDS.some(f => before[f] !== after[f])) {
    return true;
  }
  if (before.origin?.path !== after.origin?.path || before.origin?.cell !== after.origin?.cell) {
    return true;
  }
  return before.ranks.ready !== after.ranks.ready || before.ranks.total !== after.ranks.total;
}

export function isFinished(phase: string): boolean {
  return FINISHED_PHASES.includes(phase);
}

/** The difference between the previous and the new list of jobs. */
export function diffJobs(previous: IJobRow[], next: IJobRow[]): IJobsDiff {
  const before = new Map(previous.map(j => [j.id, j]));
  const after = new Map(next.map(j => [j.id, j]));
  const diff: IJobsDiff = { added: [], removed: [], changed: [], finished: [] };
  for (const job of next) {
    const old = before.get(job.id);
    if (!old) {
      diff.added.push(job);
    } else if (rowChanged(old, job)) {
      diff.changed.push(job);
      if (!isFinished(old.phase) && isFinished(job.phase)) {
        diff.finished.push(job);
      }
    }
  }
  for (const job of previous) {
    if (!after.has(job.id)) {
      diff.removed.push(job);
    }
  }
  return diff;
}

/** The state filter's values, as the feed's `state` parameter takes them. */
export const STATES = ['pending', 'running', 'succeeded', 'failed'];

/** Jobs in one state (`''`: all). */
export function filterJobs(jobs: IJobRow[], state: string): IJobRow[] {
  return state ? jobs.filter(j => j.phase.toLowerCase() === state) : jobs;
}

/** What the status bar shows: my jobs running and the GPUs they hold. */
export interface IUsage {
  running: number;
  pending: number;
  gpus: number;
}

export function usage(jobs: IJobRow[], user: string | null): IUsage {
  const mine = jobs.filter(j => !user || j.owner === user);
  const running = mine.filter(j => j.phase === 'Running');
  return {
    running: running.length,
    pending: mine.filter(j => j.phase === 'Pending').length,
    gpus: running.reduce((sum, j) => sum + (j.gpus_per_node || 0) * (j.nodes || 1), 0)
  };
}
