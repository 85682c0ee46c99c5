import { diffJobs, filterJobs, usage } from '../src/jobs';
import { row } from './fixtures';

describe('diffJobs', () => {
  it('finds added, removed, changed and newly finished jobs', () => {
    const before = [row('a'), row('b', { phase: 'Running' }), row('c', { phase: 'Running' })];
    const after = [row('a'), row('b', { phase: 'Succeeded', ranks: { ready: 2, total: 2 } }), row('d')];
    const diff = diffJobs(before, after);
    expect(diff.added.map(j => j.id)).toEqual(['d']);
    expect(diff.removed.map(j => j.id)).toEqual(['c']);
    expect(diff.changed.map(j => j.id)).toEqual(['b']);
    expect(diff.finished.map(j => j.id)).toEqual(['b']);
  });

  it('sees a change of ranks ready alone, and nothing when equal', () => {
    expect(diffJobs([row('a')], [row('a', { ranks: { ready: 1, total: 2 } })]).changed).toHaveLength(1);
    const same = diffJobs([row('a')], [row('a')]);
    expect(same.changed.length + same.added.length + same.removed.length).toBe(0);
  });

  it('does not announce jobs that were already finished, or first seen finished', () => {
    expect(diffJobs([row('a', { phase: 'Failed' })], [row('a', { phase: 'Failed', message: 'x' })]).finished).toEqual([]);
    expect(diffJobs([], [row('a', { phase: 'Succeeded' })]).finished).toEqual([]);
  });
});

describe('filterJobs and usage', () => {
  const jobs = [row('a', { phase: 'Running', gpus_per_node: 2, nodes: 2 }), row('b', { phase: 'Pending' }),
    row('c', { phase: 'Running', owner: 'bob', gpus_per_node: 8, nodes: 1 }), row('d', { phase: 'Failed' })];

  it('filters by state, all states with the empty filter', () => {
    expect(filterJobs(jobs, 'running').map(j => j.id)).toEqual(['a', 'c']);
    expect(filterJobs(jobs, '')).toHaveLength(4);
  });

  it('counts my running jobs and the GPUs they hold (per node × nodes)', () => {
    expect(usage(jobs, 'ada')).toEqual({ running: 1, pending: 1, gpus: 4 });
    expect(usage(jobs, null)).toEqual({ running: 2, pending: 1, gpus: 12 });
  });
});
