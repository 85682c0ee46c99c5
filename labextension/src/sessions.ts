/**
 * The panel's list of the user's interactive Spark sessions (next to the jobs): cluster,
 * executors, phase, age, idle time, a link to the session's Spark UI and a Stop button.
 * Sessions are few (a user holds one or two), so each answer redraws the list; the ages and
 * idle times tick once a second.
 */
import { fill, h } from './dom';
import { secondsSince, shortDuration } from './format';
import { ISession } from './types';

export interface ISessionActions {
  /** Stop a session (delete it from its cluster); resolves once the gateway answered. */
  stop: (id: string) => Promise<void>;
}

/** The column headers, in cell order. */
export const SESSION_COLUMNS = ['Session', 'Cluster', 'Executors', 'Phase', 'Age', 'Idle', ''];

/** How long a session has been idle at `now`: its idle time when received plus the time since. */
export function idleText(session: ISession, receivedAt: number, now: number): string {
  if (session.idle_seconds === null || session.idle_seconds === undefined) {
    return '—';
  }
  return shortDuration(session.idle_seconds + Math.max(0, now - receivedAt) / 1000);
}

/** A session's age at `now` ("" when its creation time is unknown). */
export function sessionAge(session: ISession, now: number): string {
  const s = secondsSince(session.created, now);
  return s === null ? '' : shortDuration(s);
}

export class SessionList {
  constructor(private readonly actions: ISessionActions) {}

  /** The `<tbody>` the rows live in. */
  readonly body = h('tbody', { role: 'rowgroup' });

  /** Show `sessions` (received at `receivedAt`, ms epoch). */
  update(sessions: ISession[], receivedAt: number = Date.now(), now: number = Date.now()): void {
    this._sessions = sessions;
    this._receivedAt = receivedAt;
    fill(this.body, ...sessions.map(s => this._row(s, now)));
  }

  /** How many sessions are shown. */
  get size(): number {
    return this._sessions.length;
  }

  /** Bring ages and idle times up to `now`. */
  tick(now: number = Date.now()): void {
    this.body.querySelectorAll<HTMLTableRowElement>('tr[data-session]').forEach((el, i) => {
      const session = this._sessions[i];
      (el.querySelector('.fs-SessionAge') as HTMLElement).textContent = sessionAge(session, now);
      (el.querySelector('.fs-SessionIdle') as HTMLElement).textContent = idleText(session, this._receivedAt, now);
    });
  }

  private _row(s: ISession, now: number): HTMLTableRowElement {
    const stop = h('button', {
      class: 'fs-Button fs-SessionStop', title: `Stop ${s.name || s.id}: delete it from ${s.cluster}`,
      'aria-label': `Stop session ${s.name || s.id}`
    }, 'Stop');
    stop.addEventListener('click', () => {
      stop.disabled = true;
      stop.textContent = 'Stopping…';
      this.actions.stop(s.id).catch(() => {
        stop.disabled = false;
        stop.textContent = 'Stop';
      });
    });
    const ui = s.ui_url && s.phase === 'Ready'
      ? h('a', { class: 'fs-SessionUi', href: s.ui_url, target: '_blank', rel: 'noopener',
        title: 'The session\'s Spark UI (opens in a new tab)' }, 'Spark UI ↗')
      : null;
    const phase = s.phase.toLowerCase();
    return h('tr', { class: `fs-Session fs-phase-${phase}`, role: 'row', 'data-session': s.id },
      h('td', { class: 'fs-SessionName', role: 'cell', title: [s.id, s.message].filter(Boolean).join('\n') },
        s.name || s.id),
      h('td', { role: 'cell' }, s.cluster),
      h('td', { role: 'cell' }, String(s.executors ?? '')),
      h('td', { role: 'cell' }, h('span', { class: `fs-Badge fs-phase-${phase}` }, s.phase)),
      h('td', { class: 'fs-SessionAge', role: 'cell' }, sessionAge(s, now)),
      h('td', { class: 'fs-SessionIdle', role: 'cell' }, idleText(s, this._receivedAt, now)),
      h('td', { class: 'fs-SessionActions', role: 'cell' }, ui, stop));
  }

  private _sessions: ISession[] = [];
  private _receivedAt = 0;
}
