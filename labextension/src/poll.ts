/**
 * A long-poll loop over a feed that answers `{version, ...}` when it changes: asks again at
 * once after each answer (passing the version back), backs off after failures and while
 * nobody looks, and can be woken up (the panel shown again, a setting changed).
 */
import { Backoff } from './backoff';

export interface IVersioned {
  version: string;
}

/** How the loop is doing, for the panel's status line. */
export interface IPollState {
  /** The last request failed. */
  failing: boolean;
  error: Error | null;
  /** When the next attempt comes (ms epoch), while failing. */
  retryAt: number | null;
  /** The loop is slowed down because the panel is hidden. */
  slowed: boolean;
}

export interface IPollOptions<T> {
  /** One request: `since` the previous version (null: answer at once); `wait` seconds at most. */
  fetch: (since: string | null, wait: number, signal: AbortSignal) => Promise<T>;
  onData: (data: T) => void;
  onState: (state: IPollState) => void;
  /** Whether the loop should slow down now (panel hidden, background policy). */
  slowed: () => boolean;
  backoff?: Backoff;
  /** Seconds the feed may hold a request open. */
  wait?: number;
}

export class LongPoll<T extends IVersioned> {
  constructor(private readonly options: IPollOptions<T>) {
    this.backoff = options.backoff ?? new Backoff();
  }

  readonly backoff: Backoff;

  get running(): boolean {
    return this._running;
  }

  start(): void {
    if (!this._running) {
      this._running = true;
      void this._loop();
    }
  }

  stop(): void {
    this._running = false;
    this._abort?.abort();
    this._wake?.();
  }

  /** Ask again now, from scratch (a parameter changed, or the panel was shown). */
  refresh(): void {
    this._since = null;
    this._abort?.abort();
    this._wake?.();
  }

  /** End the current wait (e.g. the panel is visible again) without dropping the version. */
  wake(): void {
    this._wake?.();
  }

  private async _loop(): Promise<void> {
    while (this._running) {
      const slowed = this.options.slowed();
      // the first answer comes at once, seen or not (the status bar shows it); then the pace applies
      const delay = this.backoff.delay(slowed && this._answered);
      this.options.onState({
        failing: this.backoff.failures > 0, error: this._error, slowed,
        retryAt: this.backoff.failures > 0 ? Date.now() + delay : null
      });
      if (delay > 0) {
        await this._sleep(delay);
        if (!this._running) {
          return;
        }
      }
      const nowSlowed = this.options.slowed();
      this._abort = new AbortController();
      try {
        // while slowed, take a snapshot instead of holding a request open
        const since = nowSlowed ? null : this._since;
        const data = await this.options.fetch(since, this.options.wait ?? 25, this._abort.signal);
        this._since = data.version;
        this._answered = true;
        this._error = null;
        this.backoff.success();
        this.options.onData(data);
      } catch (error) {
        if ((error as Error).name !== 'AbortError') {
          this._error = error as Error;
          this.backoff.failure();
        }
      }
    }
  }

  private _sleep(ms: number): Promise<void> {
    return new Promise(resolve => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self._wake = null;
        resolve();
      }
      this._wake = done;
    });
  }

  private _running = false;
  private _answered = false;
  private _since: string | null = null;
  private _error: Error | null = null;
  private _abort: AbortController | null = null;
  private _wake: (() => void) | null = null;
}
