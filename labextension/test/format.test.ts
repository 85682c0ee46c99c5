import {
  clusterText, dataAge, gpuFree, health, jobAge, jobGpu, planText, queueText, ranks, readyOf, shortDuration, siteOwner, usageText
} from '../src/format';
import { stripMagic } from '../src/source';
import { row } from './fixtures';

describe('format', () => {
  it('writes short durations', () => {
    expect([5, 90, 7200, 200000].map(shortDuration)).toEqual(['5s', '1m', '2h', '2d']);
  });

  it('tells exact from "up to" GPU counts', () => {
    const base = { type: 't', display: 'T', total: 8 };
    expect(gpuFree({ ...base, free: 3, upper_bound: null })).toBe('3 free');
    expect(gpuFree({ ...base, free: null, upper_bound: 5 })).toBe('up to 5 free');
    expect(gpuFree({ ...base, free: null, upper_bound: null })).toBe('free unknown');
  });

  it('writes job facts', () => {
    const now = Date.parse('2026-01-01T00:05:00Z');
    expect(jobAge(row('a'), now)).toBe('5m');
    expect(jobAge(row('a', { created: null }), now)).toBe('');
    expect(jobGpu(row('a'))).toBe('—');
    expect(jobGpu(row('a', { gpus_per_node: 2, gpu_display: 'H100' }))).toBe('2× H100');
    expect(ranks(row('a', { ranks: { ready: 1, total: 2 } }))).toBe('1/2');
    const pod = (rank: number, phase: string, ready: boolean) => ({ name: `p${rank}`, rank, role: 'worker', phase, ready,
      node: null, restarts: 0, reason: null });
    const { ranks: _, ...rest } = row('a');
    expect(readyOf({ ...rest, pods: [pod(0, 'Running', true), pod(1, 'Running', false)] })).toEqual({ ready: 1, total: 2 });
    expect(readyOf({ ...rest, kind: 'spark', expected_pods: 3, pods: [pod(0, 'Succeeded', false)] }))
      .toEqual({ ready: 1, total: 3 });
  });

  it('writes cluster health, place and data age', () => {
    const c = { name: 'x', healthy: false, reason: 'down: no answer', gpus: [], site: 'eu', owner: 'Org' };
    expect(health(c)).toBe('down: no answer');
    expect(health({ ...c, healthy: true, reason: '' })).toBe('healthy');
    expect(siteOwner(c)).toBe('eu · Org');
    expect(dataAge(null, 1000, 4000)).toBe('data 3s old');
    expect(dataAge(10, 0, 12000)).toBe('data 2s old');
    expect(dataAge(null, 1000, 4000, true)).toBe('live');
    expect(dataAge(10, 0, 12000, true)).toBe('data 2s old');
  });

  it('sums up usage for the status bar', () => {
    expect(usageText(1, 0, 0)).toBe('1 job running');
    expect(usageText(2, 4, 1)).toBe('2 jobs running · 4 GPUs · 1 pending');
  });

  it('takes the kind from a %%fedsubmit line and drops it', () => {
    expect(stripMagic('%%fedsubmit pytorch --nodes 2\nprint(1)\n')).toEqual({ script: 'print(1)\n', kind: 'pytorch' });
    expect(stripMagic('print(1)')).toEqual({ script: 'print(1)' });
  });

  it('shows the queue line once: not when the message already says it', () => {
    const queued = 'queued in team on training, position 2 of 3: waiting for quota (needs 4 cpu, 2 cpu free)';
    const queue = { name: 'team', cluster: 'training', state: 'queued' as const, position: 2, pending: 3,
      reason: 'waiting for quota (needs 4 cpu, 2 cpu free)', text: queued };
    expect(queueText(row('q1', { phase: 'Pending', message: queued, queue }))).toBe('');
    const admitted = { ...queue, state: 'admitted' as const, text: 'admitted by queue team on training' };
    expect(queueText(row('q2', { phase: 'Running', message: '2 pod(s) running', queue: admitted })))
      .toBe('admitted by queue team on training');
    expect(queueText(row('q3', { phase: 'Running', queue: null }))).toBe('');
  });

  it('names the worker cluster a MultiKueue manager dispatched a job to', () => {
    const queue = { name: 'shared', cluster: 'dispatch', state: 'admitted' as const, text: 'admitted',
      dispatched_to: 'batch-a' };
    expect(clusterText(row('m1', { cluster: 'dispatch', queue }))).toBe('dispatch → batch-a');
    expect(clusterText(row('m2', { cluster: 'training', queue: null }))).toBe('training');
  });

  it('writes a dry run as %%fedsubmit --dry-run does: where, then each cluster and why', () => {
    const plan = {
      cluster: 'training',
      candidates: [
        { cluster: 'training', reason: 'fits 2 nodes', queue: 'team', queue_reason: 'queue team on training: 1 ahead' },
        { cluster: 'analytics', reason: 'fits', queue: 'team' },
        { cluster: 'burst', refused: 'its queue team is stopped by its admins' },
        { cluster: 'edge' }
      ]
    };
    expect(planText(plan)).toBe([
      'Would go to training (dry run: nothing was created).',
      '1. training: fits 2 nodes; queue team on training: 1 ahead',
      '2. analytics: fits; queue team',
      '3. burst: would refuse it: its queue team is stopped by its admins',
      '4. edge: fits'].join('\n'));
    expect(planText({ cluster: null, candidates: [] }))
      .toBe('No member cluster would take it now (dry run: nothing was created).');
  });
});
