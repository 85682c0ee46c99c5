/**
 * A job in the main area: its phase and pods, one rank's log (followed live, a bounded
 * buffer, downloadable), cancel with confirmation, resubmit and the Spark UI link.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { jsonBody, requestJson } from './api';
import { fill, h } from './dom';
import { clusterText, jobGpu, queueText, ranks, readyOf } from './format';
import { isFinished } from './jobs';
import { LogBuffer } from './logbuffer';
import { FederationModel } from './model';
import { IJob, IJobRow } from './types';

export interface IJobViewActions {
  /** A new job was submitted (resubmit): show it. */
  opened: (id: string) => void;
  revealOrigin: (job: IJob) => void;
}

export class JobView extends Widget {
  constructor(readonly jobId: string, private readonly model: FederationModel,
    private readonly actions: IJobViewActions, bufferLines: number) {
    super();
    this.id = `fedspawner-jobview-${jobId}`;
    this.addClass('fs-JobView');
    this.title.label = jobId;
    this.title.closable = true;
    this._buffer = new LogBuffer(bufferLines);
    this._build();
    model.jobsChanged.connect(this._onJobs, this);
    void this.reload();
  }

  dispose(): void {
    this._stream?.abort();
    this.model.jobsChanged.disconnect(this._onJobs, this);
    super.dispose();
  }

  /** Fetch the job again and redraw its header and rank tabs. */
  async reload(): Promise<void> {
    try {
      const { job } = await requestJson<{ job: IJob }>(`jobs/${encodeURIComponent(this.jobId)}`);
      this._job = job;
      this._error = '';
    } catch (error) {
      this._error = (error as Error).message;
    }
    this._render();
    if (this._job && !this._streamRank && this._rank !== null) {
      this._startLog();
    }
  }

  private _onJobs(): void {
    const row = this.model.jobs.find(j => j.id === this.jobId);
    if (row && this._job && (row.phase !== this._job.phase || row.ranks.ready !== readyOf(this._job).ready)) {
      void this.reload();
    }
  }

  private _build(): void {
    this._header = h('div', { class: 'fs-JobHeader' });
    this._tabs = h('div', { class: 'fs-RankTabs', role: 'tablist', 'aria-label': 'Ranks' });
    this._follow = h('input', { type: 'checkbox', checked: true, 'aria-label': 'Follow the log',
      onchange: () => this._startLog() });
    this._download = h('a', { class: 'fs-Button', download: '', 'aria-label': 'Download the log of this rank' },
      'Download');
    this._log = h('pre', { class: 'fs-Log', role: 'log', 'aria-live': 'off', tabindex: 0, 'aria-label': 'Log' });
    this._logStatus = h('span', { class: 'fs-LogStatus', role: 'status' });
    fill(this.node, this._header,
      h('div', { class: 'fs-LogBar' }, this._tabs,
        h('label', { class: 'fs-Follow' }, this._follow, ' Follow'), this._download, this._logStatus),
      this._log);
  }

  private _render(): void {
    const job = this._job;
    if (!job) {
      fill(this._header, h('div', { class: 'fs-Status fs-mod-error' }, this._error || 'Loading…'));
      return;
    }
    this.title.label = `${job.name} (${job.phase})`;
    const cancel = h('button', { class: 'fs-Button fs-mod-warn', disabled: isFinished(job.phase),
      onclick: () => void this._cancel() }, 'Cancel');
    const resubmit = h('button', { class: 'fs-Button', onclick: () => void this._resubmit() }, 'Resubmit');
    const progress = job.progress ? h('span', { class: 'fs-Progress' },
      h('progress', { max: job.progress.total, value: job.progress.step, 'aria-label': 'Progress' }),
      ` step ${job.progress.step}/${job.progress.total}`) : null;
    fill(this._header,
      h('div', { class: 'fs-JobTitle' }, h('h2', {}, job.name),
        h('span', { class: `fs-Badge fs-phase-${job.phase.toLowerCase()}` }, job.phase), progress),
      h('div', { class: 'fs-JobFacts' },
        `${job.kind} on ${clusterText(job)} · ${job.gpus_per_node ? jobGpu(job as unknown as IJobRow) : 'no GPU'} · ranks ${ranks(job)} · ${job.id}` +
        (job.owner ? ` · ${job.owner}` : '')),
      job.message ? h('div', { class: 'fs-JobMessage' }, job.message) : null,
      queueText(job) ? h('div', { class: 'fs-JobMessage fs-JobQueue' }, queueText(job)) : null,
      h('div', { class: 'fs-JobActions' }, cancel, resubmit,
        job.origin?.path ? h('button', { class: 'fs-Button', onclick: () => this.actions.revealOrigin(job) },
          'Show cell') : null,
        job.ui_url ? h('a', { class: 'fs-Button', href: job.ui_url, target: '_blank', rel: 'noopener' },
          'Spark UI') : null),
      this._error ? h('div', { class: 'fs-Status fs-mod-error', role: 'alert' }, this._error) : null);
    this._renderTabs(job);
  }

  private _renderTabs(job: IJob): void {
    const count = Math.max(job.pods.length, job.expected_pods ?? (job.nodes || 1));
    const pods = new Map(job.pods.map(p => [p.rank, p]));
    if (this._rank === null) {
      this._rank = 0;
    }
    fill(this._tabs, ...Array.from({ length: count }, (_, rank) => {
      const pod = pods.get(rank);
      const label = rank === 0 ? job.leader || 'rank 0' : `rank ${rank}`;
      return h('button', {
        class: rank === this._rank ? 'fs-RankTab fs-mod-active' : 'fs-RankTab', role: 'tab',
        'aria-selected': rank === this._rank ? 'true' : 'false', 'data-rank': rank,
        title: pod ? `${pod.name}: ${pod.phase}${pod.reason ? ` (${pod.reason})` : ''}` : 'not created yet',
        onclick: () => { this._rank = rank; this._renderTabs(job); this._startLog(); }
      }, `${label} · ${pod?.phase || 'Pending'}`);
    }));
    this._download.href = this.model.logUrl(this.jobId, { rank: this._rank, download: 1 });
  }

  /** (Re)start showing the chosen rank's log: followed as a stream, or what there is so far. */
  private _startLog(): void {
    this._stream?.abort();
    const rank = this._rank ?? 0;
    const follow = this._follow.checked && !!this._job && !isFinished(this._job.phase);
    const stream = new AbortController();
    this._stream = stream;
    this._streamRank = `${rank}`;
    this._buffer.clear();
    this._log.textContent = '';
    this._logStatus.textContent = follow ? 'following…' : '';
    const query: { [k: string]: string | number | boolean } = { rank, tail: this._buffer.limit };
    if (follow) {
      query.follow = 1;
    }
    void this.model.logStream(this.jobId, query, stream.signal).then(async response => {
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          break;
        }
        this._buffer.append(decoder.decode(value, { stream: true }));
        this._showLog();
      }
      if (this._stream === stream) {
        this._logStatus.textContent = follow ? 'log ended' : '';
        this._streamRank = null;
      }
    }).catch((error: Error) => {
      if (error.name !== 'AbortError' && this._stream === stream) {
        this._logStatus.textContent = error.message;
        this._streamRank = null;
      }
    });
  }

  private _showLog(): void {
    const atEnd = this._log.scrollTop + this._log.clientHeight >= this._log.scrollHeight - 4;
    this._log.textContent = this._buffer.text;
    if (atEnd) {
      this._log.scrollTop = this._log.scrollHeight;
    }
  }

  private async _cancel(): Promise<void> {
    const job = this._job!;
    const answer = await showDialog({
      title: `Cancel ${job.name}?`,
      body: `This deletes every pod and object of ${job.id} on ${job.cluster}. The logs go with them.`,
      buttons: [Dialog.cancelButton({ label: 'Keep running' }), Dialog.warnButton({ label: 'Cancel job' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      const { job: cancelled } = await requestJson<{ job: IJob }>(`jobs/${encodeURIComponent(job.id)}`,
        { method: 'DELETE' });
      this._job = cancelled;
      this._stream?.abort();
      this._logStatus.textContent = 'cancelled';
      this._render();
    } catch (error) {
      this._error = (error as Error).message;
      this._render();
    }
  }

  private async _resubmit(): Promise<void> {
    try {
      const { spec, job } = await requestJson<{ spec: { [k: string]: unknown }; job: IJob }>(
        `jobs/${encodeURIComponent(this.jobId)}`);
      const submitted = spec || (job as unknown as { spec?: { [k: string]: unknown } }).spec || {};
      const body = { ...submitted, origin: submitted.origin || job.origin || undefined };
      const { job: created } = await requestJson<{ job: IJob }>('jobs', jsonBody('POST', body));
      this.actions.opened(created.id);
    } catch (error) {
      this._error = `Resubmit failed: ${(error as Error).message}`;
      this._render();
    }
  }

  private _job: IJob | null = null;
  private _error = '';
  private _rank: number | null = null;
  private _streamRank: string | null = null;
  private _stream: AbortController | null = null;
  private _buffer: LogBuffer;
  private _header!: HTMLElement;
  private _tabs!: HTMLElement;
  private _follow!: HTMLInputElement;
  private _download!: HTMLAnchorElement;
  private _log!: HTMLElement;
  private _logStatus!: HTMLElement;
}
