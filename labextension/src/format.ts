/**
 * How the panel writes times, GPU availability and ranks (pure).
 */
import { ICluster, IGpu, IJob, IJobRow, IPlan } from './types';

/** A duration in seconds, short: "42s", "5m", "3h", "2d". */
export function shortDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) {
    return `${s}s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)}m`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)}h`;
  }
  return `${Math.floor(s / 86400)}d`;
}

/** Seconds from an ISO time (or epoch seconds) to `now` (ms); null when unknown. */
export function secondsSince(when: string | number | null | undefined, now: number): number | null {
  if (when === null || when === undefined || when === '') {
    return null;
  }
  const ms = typeof when === 'number' ? when * 1000 : Date.parse(when);
  return isNaN(ms) ? null : Math.max(0, (now - ms) / 1000);
}

/** A job's age ("3m"), or "" when its creation time is unknown. */
export function jobAge(job: IJobRow, now: number): string {
  const s = secondsSince(job.created, now);
  return s === null ? '' : shortDuration(s);
}

/** Free GPUs of a type: "3 free" when exact, "up to 3 free" when only a bound is known. */
export function gpuFree(gpu: IGpu): string {
  if (gpu.free !== null && gpu.free !== undefined) {
    return `${gpu.free} free`;
  }
  if (gpu.upper_bound !== null && gpu.upper_bound !== undefined) {
    return `up to ${gpu.upper_bound} free`;
  }
  return 'free unknown';
}

/** Whether the free count is exact (false: "up to" or unknown). */
export function gpuExact(gpu: IGpu): boolean {
  return gpu.free !== null && gpu.free !== undefined;
}

/** GPUs per node of a job: "2× H100", "—" for none. */
export function jobGpu(job: IJobRow): string {
  if (!job.gpus_per_node) {
    return '—';
  }
  return `${job.gpus_per_node}× ${job.gpu_display || job.gpu_type || 'any'}`;
}

/** Ranks ready of the total: "1/2" (a job's detail has pods instead: counted as the feed does). */
export function ranks(job: IJobRow | IJob): string {
  const r = job.ranks ?? readyOf(job as IJob);
  return `${r.ready}/${r.total}`;
}

/** `{ready, total}` of a job's detail: pods running and ready (or done), of those expected. */
export function readyOf(job: IJob): { ready: number; total: number } {
  const pods = job.pods || [];
  const ready = pods.filter(p => p.phase === 'Succeeded' || (p.phase === 'Running' && p.ready)).length;
  const expected = job.expected_pods ?? (job.nodes || 1);
  return { ready, total: Math.max(expected, pods.length) };
}

/** A cluster's health: "healthy" or "down: <why>". */
export function health(cluster: ICluster): string {
  if (!cluster.healthy) {
    return cluster.reason || 'down';
  }
  return cluster.usable === false ? cluster.reason || 'not usable' : 'healthy';
}

/**
 * How old the cluster data is: "data 3s old" from `taken_at` (epoch seconds); without it,
 * "live" while the feed answers, else the age of the last answer.
 */
export function dataAge(takenAt: number | null | undefined, receivedAt: number, now: number, live = false
): string {
  if (!takenAt && live) {
    return 'live';
  }
  const base = takenAt ? takenAt * 1000 : receivedAt;
  return `data ${shortDuration((now - base) / 1000)} old`;
}

/** Where a cluster is and whose it is: "eu-west · Org A". */
export function siteOwner(cluster: ICluster): string {
  return [cluster.site, cluster.owner].filter(Boolean).join(' · ');
}

/** "2 jobs running · 4 GPUs · 1 pending". */
export function usageText(running: number, gpus: number, pending: number): string {
  const parts = [`${running} job${running === 1 ? '' : 's'} running`];
  if (gpus) {
    parts.push(`${gpus} GPU${gpus === 1 ? '' : 's'}`);
  }
  if (pending) {
    parts.push(`${pending} pending`);
  }
  return parts.join(' · ');
}

/** The job's cluster; "dispatch → batch-a" when a MultiKueue manager sent it to a worker cluster. */
export function clusterText(job: IJobRow | IJob): string {
  const worker = job.queue?.dispatched_to;
  return worker ? `${job.cluster} → ${worker}` : job.cluster;
}

/** The job's place in its cluster's Kueue queue, for a line of its own ("" without a queue, or when
 * the job's message already says it). */
export function queueText(job: IJobRow | IJob): string {
  const text = job.queue?.text || '';
  return text && text !== job.message ? text : '';
}

/** A dry run for people: where the job would go, then every candidate cluster and why (the same
 * lines as `%%fedsubmit --dry-run`). */
export function planText(plan: IPlan): string {
  const lines = [plan.cluster
    ? `Would go to ${plan.cluster} (dry run: nothing was created).`
    : 'No member cluster would take it now (dry run: nothing was created).'];
  (plan.candidates || []).forEach((c, i) => {
    const queue = c.queue_reason || (c.queue ? `queue ${c.queue}` : '');
    const why = c.refused ? `would refuse it: ${c.refused}` : [c.reason, queue].filter(Boolean).join('; ');
    lines.push(`${i + 1}. ${c.cluster}: ${why || 'fits'}`);
  });
  return lines.join('\n');
}
