/**
 * What the panel, the status bar, the dialog and the job viewers share: the gateway's
 * configuration, the clusters and the jobs, each kept fresh by its long-poll loop.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { apiUrl, ApiError, requestJson, requestRaw } from './api';
import { Backoff } from './backoff';
import { diffJobs, IJobsDiff } from './jobs';
import { IPollState, LongPoll } from './poll';
import { IClustersFeed, ICluster, IConfig, IJobRow, IJobsFeed, ISchema, ISession, ISessionsAnswer } from './types';

/** How the feeds behave while the panel is hidden. */
export type RefreshPolicy = 'background' | 'live' | 'paused';

export class FederationModel {
  config: IConfig | null = null;
  clusters: ICluster[] = [];
  clustersReceived = 0;
  jobs: IJobRow[] = [];
  /** The user's Spark sessions, and when they were received (ms epoch). */
  sessions: ISession[] = [];
  sessionsReceived = 0;
  /** Seconds between two looks at the sessions while the panel is shown (sessions have no feed). */
  sessionsInterval = 5;
  unavailable: { cluster: string; reason: string }[] = [];
  jobsState: IPollState = { failing: false, error: null, retryAt: null, slowed: false };
  clustersState: IPollState = { failing: false, error: null, retryAt: null, slowed: false };
  /** Admins: list every user's jobs. */
  showAll = false;
  /** Whether someone looks at the panel (else the feeds slow down, per the policy). */
  visible = false;
  policy: RefreshPolicy = 'background';
  /** Seconds between snapshots while slowed down. */
  hiddenInterval = 30;

  get configChanged(): ISignal<this, void> {
    return this._configChanged;
  }

  get clustersChanged(): ISignal<this, void> {
    return this._clustersChanged;
  }

  get jobsChanged(): ISignal<this, IJobsDiff> {
    return this._jobsChanged;
  }

  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  get sessionsChanged(): ISignal<this, void> {
    return this._sessionsChanged;
  }

  /** Read the configuration; start the feeds when a gateway is configured. */
  async start(): Promise<void> {
    try {
      this.config = await requestJson<IConfig>('config');
    } catch (error) {
      this.config = {
        configured: false, gateway_url: null, user: null, is_admin: false, reachable: null,
        message: null, version: '',
        hint: `The fedspawner server extension did not answer (${(error as Error).message}). ` +
          'Is jupyterhub-fedspawner installed in the environment of this notebook server?'
      };
    }
    this._configChanged.emit();
    if (!this.config.configured) {
      return;
    }
    this._jobsPoll.start();
    this._clustersPoll.start();
    void this._sessionsLoop();
  }

  dispose(): void {
    this._disposed = true;
    this._jobsPoll.stop();
    this._clustersPoll.stop();
    window.clearTimeout(this._sessionsTimer);
  }

  /** Ask for the sessions now (then every `sessionsInterval` seconds while shown, `hiddenInterval` hidden). */
  async refreshSessions(): Promise<void> {
    try {
      this.setSessions((await requestJson<ISessionsAnswer>('sessions')).sessions);
    } catch {
      // the jobs feed's status line says when the gateway is unreachable; the next look tries again
    }
  }

  setSessions(sessions: ISession[]): void {
    this.sessions = sessions;
    this.sessionsReceived = Date.now();
    this._sessionsChanged.emit();
  }

  /** Stop a session; the list drops it at once, and is asked for again. */
  async stopSession(id: string): Promise<void> {
    await requestJson('sessions/' + encodeURIComponent(id), { method: 'DELETE' });
    this.setSessions(this.sessions.filter(s => s.id !== id));
    void this.refreshSessions();
  }

  private async _sessionsLoop(): Promise<void> {
    if (this._disposed) {
      return;
    }
    await this.refreshSessions();
    const seconds = this._slowed() ? (this.policy === 'paused' ? 3600 : this.hiddenInterval) : this.sessionsInterval;
    this._sessionsTimer = window.setTimeout(() => void this._sessionsLoop(), seconds * 1000);
  }

  /** The panel was shown or hidden. */
  setVisible(visible: boolean): void {
    const was = this.visible;
    this.visible = visible;
    if (visible && !was) {
      this._jobsPoll.wake();
      this._clustersPoll.wake();
      if (this.config?.configured) {
        void this.refreshSessions();
      }
    }
  }

  setShowAll(all: boolean): void {
    this.showAll = all;
    this._jobsPoll.refresh();
  }

  setPolicy(policy: RefreshPolicy, hiddenInterval: number): void {
    this.policy = policy;
    this.hiddenInterval = hiddenInterval;
    const hidden = policy === 'paused' ? 3600 * 1000 : hiddenInterval * 1000;
    for (const poll of [this._jobsPoll, this._clustersPoll]) {
      (poll.backoff.options as { hidden: number }).hidden = hidden;
      poll.wake();
    }
  }

  /** Ask both feeds again now. */
  refresh(): void {
    this._jobsPoll.refresh();
    this._clustersPoll.refresh();
    void this.refreshSessions();
  }

  /** The option schema (fetched once per dialog: it changes with the federation). */
  schema(): Promise<ISchema> {
    return requestJson<ISchema>('options');
  }

  /** The URL of a job's log (download=1: as an attachment). */
  logUrl(id: string, query: { [k: string]: string | number | boolean }): string {
    return apiUrl(`jobs/${encodeURIComponent(id)}/logs`, query);
  }

  /** A streamed log response. */
  logStream(id: string, query: { [k: string]: string | number | boolean }, signal: AbortSignal
  ): Promise<Response> {
    return requestRaw(this.logUrl(id, query), { signal });
  }

  private _slowed(): boolean {
    return !this.visible && this.policy !== 'live';
  }

  private _setJobs(feed: IJobsFeed): void {
    const diff = diffJobs(this.jobs, feed.jobs);
    this.jobs = feed.jobs;
    this.unavailable = feed.unavailable || [];
    this._jobsChanged.emit(diff);
  }

  private _jobsPoll = new LongPoll<IJobsFeed>({
    fetch: (since, wait, signal) => requestJson<IJobsFeed>('jobs', { signal }, {
      since, wait: since ? wait : null, all: this.showAll
    }),
    onData: feed => this._setJobs(feed),
    onState: state => {
      this.jobsState = state;
      this._stateChanged.emit();
    },
    slowed: () => this._slowed(),
    backoff: new Backoff({ initial: 1000, maximum: 30000, factor: 2, hidden: 30000 })
  });

  private _clustersPoll = new LongPoll<IClustersFeed>({
    fetch: (since, wait, signal) => requestJson<IClustersFeed>('clusters', { signal }, {
      since, wait: since ? wait : null
    }),
    onData: feed => {
      this.clusters = feed.clusters;
      this.clustersReceived = Date.now();
      this._clustersChanged.emit();
    },
    onState: state => {
      this.clustersState = state;
      this._stateChanged.emit();
    },
    slowed: () => this._slowed(),
    backoff: new Backoff({ initial: 1000, maximum: 30000, factor: 2, hidden: 30000 })
  });

  private _configChanged = new Signal<this, void>(this);
  private _clustersChanged = new Signal<this, void>(this);
  private _jobsChanged = new Signal<this, IJobsDiff>(this);
  private _stateChanged = new Signal<this, void>(this);
  private _sessionsChanged = new Signal<this, void>(this);
  private _sessionsTimer = 0;
  private _disposed = false;
}

export { ApiError };
