/**
 * The left side panel: member clusters with health and GPU availability, and the user's
 * jobs on every cluster, kept live by the model's long-poll feeds.
 */
import { Widget } from '@lumino/widgets';

import { fill, h } from './dom';
import { dataAge, gpuExact, gpuFree, health, siteOwner } from './format';
import { filterJobs, STATES } from './jobs';
import { COLUMNS, IJobTableActions, JobTable } from './jobtable';
import { FederationModel } from './model';
import { SESSION_COLUMNS, SessionList } from './sessions';
import { ICluster } from './types';

export type IPanelActions = IJobTableActions;

export class FederationPanel extends Widget {
  constructor(private readonly model: FederationModel, actions: IPanelActions) {
    super();
    this._table = new JobTable(actions);
    this._sessions = new SessionList({ stop: id => this._stopSession(id) });
    this.id = 'fedspawner-panel';
    this.addClass('fs-Panel');
    this.title.caption = 'Federated clusters and jobs';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Federated clusters and jobs');
    this._build();
    model.configChanged.connect(() => this._renderConfig());
    model.clustersChanged.connect(() => this._renderClusters());
    model.jobsChanged.connect(() => this._renderJobs());
    model.stateChanged.connect(() => this._renderStatus());
    model.sessionsChanged.connect(() => this._renderSessions());
    this._ticker = window.setInterval(() => this._tick(), 1000);
  }

  dispose(): void {
    window.clearInterval(this._ticker);
    super.dispose();
  }

  /** How many job rows are shown. */
  get rowCount(): number {
    return this._table.size;
  }

  protected onAfterShow(): void {
    this.model.setVisible(true);
  }

  protected onAfterHide(): void {
    this.model.setVisible(false);
  }

  private _build(): void {
    this._status = h('div', { class: 'fs-Status', role: 'status', 'aria-live': 'polite' });
    this._hint = h('div', { class: 'fs-Hint', hidden: true });
    this._clusters = h('div', { class: 'fs-Clusters', role: 'list', 'aria-label': 'Member clusters' });
    this._filter = h('select', { class: 'fs-Filter', 'aria-label': 'Show jobs in state', onchange: () => this._renderJobs() },
      h('option', { value: '' }, 'All states'),
      ...STATES.map(s => h('option', { value: s }, s[0].toUpperCase() + s.slice(1))));
    this._allUsers = h('input', { type: 'checkbox', class: 'fs-AllUsers', 'aria-label': 'Show every user\'s jobs',
      onchange: () => this.model.setShowAll(this._allUsers.checked) });
    this._allLabel = h('label', { class: 'fs-AllUsersLabel', hidden: true }, this._allUsers, ' All users');
    this._empty = h('div', { class: 'fs-Empty' }, 'No jobs yet. Use “Run on cluster…” in a notebook.');
    this._sessionError = h('div', { class: 'fs-SessionError', role: 'alert', hidden: true });
    this._sessionsSection = h('section', { class: 'fs-Section fs-SessionsSection', 'aria-label': 'Spark sessions',
      hidden: true },
      h('h3', {}, 'Spark sessions'),
      h('div', { class: 'fs-JobsTable' }, h('table', { class: 'fs-Sessions', 'aria-label': 'Spark sessions', role: 'table' },
        h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' }, ...SESSION_COLUMNS
          .map(t => h('th', { scope: 'col', role: 'columnheader' }, t)))),
        this._sessions.body)),
      this._sessionError);
    const refresh = h('button', { class: 'fs-Button fs-Refresh', title: 'Refresh now', 'aria-label': 'Refresh',
      onclick: () => this.model.refresh() }, '↻');
    fill(this.node,
      h('header', { class: 'fs-Header' }, h('h2', {}, 'Federation'), refresh),
      this._status, this._hint,
      h('section', { class: 'fs-Section', 'aria-label': 'Clusters' }, h('h3', {}, 'Clusters'), this._clusters),
      h('section', { class: 'fs-Section fs-JobsSection', 'aria-label': 'Jobs' },
        h('div', { class: 'fs-JobsHeader' }, h('h3', {}, 'Jobs'), this._filter, this._allLabel),
        h('div', { class: 'fs-JobsTable' }, h('table', { class: 'fs-Jobs', 'aria-label': 'Jobs', role: 'table' },
          h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' }, ...COLUMNS
            .map(t => h('th', { scope: 'col', role: 'columnheader', class: `fs-col-${t.toLowerCase()}` }, t)))),
          this._table.body)),
        this._empty),
      this._sessionsSection);
  }

  private _renderConfig(): void {
    const config = this.model.config;
    if (!config) {
      return;
    }
    this._hint.hidden = config.configured;
    this.node.classList.toggle('fs-mod-unconfigured', !config.configured);
    if (!config.configured) {
      fill(this._hint, h('strong', {}, 'No jobs gateway is configured. '), config.hint || '');
    }
    this._allLabel.hidden = !config.is_admin;
    this._renderStatus();
  }

  private _renderStatus(): void {
    const { jobsState, clustersState, config } = this.model;
    const failing = jobsState.failing ? jobsState : clustersState.failing ? clustersState : null;
    this._status.classList.toggle('fs-mod-error', !!failing);
    if (!config) {
      this._status.textContent = 'Connecting…';
    } else if (!config.configured) {
      this._status.textContent = '';
    } else if (failing) {
      const wait = failing.retryAt ? Math.max(0, Math.round((failing.retryAt - Date.now()) / 1000)) : 0;
      this._status.textContent = `Gateway unreachable: ${failing.error?.message || 'no answer'} — ` +
        `retrying in ${wait}s.`;
    } else if (jobsState.slowed) {
      this._status.textContent = 'Paused while hidden.';
    } else {
      const missing = this.model.unavailable.map(u => `${u.cluster}: ${u.reason}`);
      this._status.textContent = missing.length ? `Live · jobs not listed from ${missing.join('; ')}` : 'Live';
    }
  }

  private _renderClusters(): void {
    const now = Date.now();
    fill(this._clusters, ...this.model.clusters.map(c => this._cluster(c, now)));
  }

  private _cluster(c: ICluster, now: number): HTMLElement {
    const ok = c.healthy && c.usable !== false;
    const gpus = c.gpus.length ? h('ul', { class: 'fs-Gpus', 'aria-label': `GPUs on ${c.name}` },
      ...c.gpus.map(g => h('li', { class: gpuExact(g) ? 'fs-Gpu' : 'fs-Gpu fs-mod-bound', 'data-gpu': g.type },
        h('span', { class: 'fs-GpuName', title: g.type }, g.display || g.type),
        h('span', { class: 'fs-GpuFree' }, `${gpuFree(g)} of ${g.total}`))))
      : h('div', { class: 'fs-NoGpu' }, 'CPU only');
    return h('div', { class: ok ? 'fs-Cluster' : 'fs-Cluster fs-mod-down', role: 'listitem', 'data-cluster': c.name },
      h('div', { class: 'fs-ClusterHead' },
        h('span', { class: 'fs-Dot', 'aria-hidden': 'true' }),
        h('span', { class: 'fs-ClusterName' }, c.display_name || c.name),
        h('span', { class: 'fs-Health' }, health(c))),
      h('div', { class: 'fs-ClusterMeta' }, h('span', {}, siteOwner(c)),
        h('span', { class: 'fs-Age', 'data-taken': String(c.taken_at || '') },
          dataAge(c.taken_at, this.model.clustersReceived, now, !this.model.clustersState.failing))),
      gpus);
  }

  /** The jobs table, keyed: only rows whose job changed are touched. */
  private _renderJobs(): void {
    const shown = filterJobs(this.model.jobs, this._filter.value);
    this._table.update(shown, this.model.showAll);
    this._empty.hidden = shown.length > 0;
  }

  /** The sessions list: shown while the user holds a session (`%fedspark start` makes one). */
  private _renderSessions(): void {
    this._sessions.update(this.model.sessions, this.model.sessionsReceived);
    this._sessionsSection.hidden = this._sessions.size === 0;
  }

  private async _stopSession(id: string): Promise<void> {
    this._sessionError.hidden = true;
    try {
      await this.model.stopSession(id);
    } catch (error) {
      this._sessionError.textContent = `Could not stop ${id}: ${(error as Error).message}`;
      this._sessionError.hidden = false;
      throw error;
    }
  }

  /** Once a second: ages, data ages and the retry countdown. */
  private _tick(): void {
    if (!this.isVisible) {
      return;
    }
    const now = Date.now();
    this._table.tick(now);
    this._sessions.tick(now);
    this._clusters.querySelectorAll<HTMLElement>('.fs-Age').forEach(el => {
      el.textContent = dataAge(Number(el.dataset.taken) || null, this.model.clustersReceived, now,
        !this.model.clustersState.failing);
    });
    this._renderStatus();
  }

  private _table: JobTable;
  private _sessions: SessionList;
  private _sessionsSection!: HTMLElement;
  private _sessionError!: HTMLElement;
  private _ticker: number;
  private _status!: HTMLElement;
  private _hint!: HTMLElement;
  private _clusters!: HTMLElement;
  private _filter!: HTMLSelectElement;
  private _allUsers!: HTMLInputElement;
  private _allLabel!: HTMLElement;
  private _empty!: HTMLElement;
}
