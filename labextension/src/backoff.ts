/**
 * When the panel asks the gateway again (pure): at once after a long-poll answer, with a
 * growing delay after failures, and slower while the panel is hidden.
 */

export interface IBackoffOptions {
  /** First delay after a failure, in ms. */
  initial: number;
  /** Largest delay, in ms. */
  maximum: number;
  /** Growth per consecutive failure. */
  factor: number;
  /** Pause between polls while the panel is hidden, in ms (0: stop while hidden). */
  hidden: number;
}

export const DEFAULT_BACKOFF: IBackoffOptions = { initial: 1000, maximum: 30000, factor: 2, hidden: 30000 };

export class Backoff {
  constructor(readonly options: IBackoffOptions = DEFAULT_BACKOFF) {}

  /** Consecutive failures so far. */
  get failures(): number {
    return this._failures;
  }

  /** A request succeeded: the next comes at once. */
  success(): void {
    this._failures = 0;
  }

  /** A request failed: the next waits longer. */
  failure(): void {
    this._failures += 1;
  }

  /**
   * How long to wait before the next request, in ms; `hidden` when nobody looks at the panel.
   * After failures: initial * factor^(n-1), at most `maximum`, longer still while hidden.
   */
  delay(hidden: boolean): number {
    const { initial, maximum, factor } = this.options;
    let wait = 0;
    if (this._failures > 0) {
      wait = Math.min(maximum, initial * Math.pow(factor, this._failures - 1));
    }
    if (hidden) {
      wait = Math.max(wait, this.options.hidden);
    }
    return wait;
  }

  private _failures = 0;
}
