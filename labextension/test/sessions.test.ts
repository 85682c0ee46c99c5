import { Widget } from '@lumino/widgets';

import { FederationModel } from '../src/model';
import { FederationPanel } from '../src/panel';
import { idleText, SessionList, sessionAge } from '../src/sessions';
import { ISession } from '../src/types';

function session(id: string, over: Partial<ISession> = {}): ISession {
  return {
    id, name: `spark-${id}`, owner: 'ada', cluster: 'regional', executors: 2, phase: 'Ready', message: 'answers',
    created: '2026-01-01T00:00:00Z', idle_seconds: 12, ui_url: `/services/fedspawner-gateway/api/v1/sessions/${id}/ui/`,
    ...over
  };
}

const T0 = Date.parse('2026-01-01T00:05:00Z');

function cells(row: Element): (string | null)[] {
  return [...row.querySelectorAll('td')].map(td => td.textContent);
}

describe('SessionList', () => {
  it('shows cluster, executors, phase, age, idle time, the Spark UI link and Stop for each session', () => {
    const list = new SessionList({ stop: () => Promise.resolve() });
    list.update([session('s-aaaaaaaa'), session('s-bbbbbbbb', { phase: 'Starting', idle_seconds: null, executors: 1 })],
      T0, T0);
    const rows = [...list.body.querySelectorAll('tr[data-session]')];
    expect(rows.map(r => (r as HTMLElement).dataset.session)).toEqual(['s-aaaaaaaa', 's-bbbbbbbb']);
    expect(cells(rows[0])).toEqual(['spark-s-aaaaaaaa', 'regional', '2', 'Ready', '5m', '12s', 'Spark UI ↗Stop']);
    const link = rows[0].querySelector('a.fs-SessionUi') as HTMLAnchorElement;
    expect(link.getAttribute('href')).toBe('/services/fedspawner-gateway/api/v1/sessions/s-aaaaaaaa/ui/');
    expect(link.target).toBe('_blank');
    // no UI before the driver answers; no idle time before a tunnel was opened
    expect(cells(rows[1])).toEqual(['spark-s-bbbbbbbb', 'regional', '1', 'Starting', '5m', '—', 'Stop']);
    expect(list.size).toBe(2);
  });

  it('ticks ages and idle times from when the answer came', () => {
    const list = new SessionList({ stop: () => Promise.resolve() });
    list.update([session('s-aaaaaaaa')], T0, T0);
    list.tick(T0 + 50_000);
    const row = list.body.querySelector('tr') as Element;
    expect(cells(row).slice(4, 6)).toEqual(['5m', '1m']);
    expect(idleText(session('x', { idle_seconds: 3 }), T0, T0 + 4_000)).toBe('7s');
    expect(sessionAge(session('x', { created: null }), T0)).toBe('');
  });

  it('stops a session from its button, and offers the button again when the stop fails', async () => {
    const asked: string[] = [];
    let fail = true;
    const list = new SessionList({
      stop: id => {
        asked.push(id);
        return fail ? Promise.reject(new Error('no')) : Promise.resolve();
      }
    });
    list.update([session('s-aaaaaaaa')], T0, T0);
    const button = list.body.querySelector('.fs-SessionStop') as HTMLButtonElement;
    button.click();
    expect(button.disabled).toBe(true);
    expect(button.textContent).toBe('Stopping…');
    await Promise.resolve();
    await Promise.resolve();
    expect(button.disabled).toBe(false);
    fail = false;
    button.click();
    expect(asked).toEqual(['s-aaaaaaaa', 's-aaaaaaaa']);
  });
});

describe('FederationPanel sessions', () => {
  it('shows the sessions section only while the user holds a session, next to the jobs', () => {
    const model = new FederationModel();
    const panel = new FederationPanel(model, { openJob: () => undefined, revealOrigin: () => undefined });
    Widget.attach(panel, document.body);
    const section = panel.node.querySelector('.fs-SessionsSection') as HTMLElement;
    expect(section.hidden).toBe(true);
    model.setSessions([session('s-aaaaaaaa')]);
    expect(section.hidden).toBe(false);
    expect(section.previousElementSibling?.classList.contains('fs-JobsSection')).toBe(true);
    expect(panel.node.querySelectorAll('.fs-Sessions tbody tr').length).toBe(1);
    expect([...panel.node.querySelectorAll('.fs-Sessions th')].map(th => th.textContent))
      .toEqual(['Session', 'Cluster', 'Executors', 'Phase', 'Age', 'Idle', '']);
    model.setSessions([]);
    expect(section.hidden).toBe(true);
    panel.dispose();
    document.body.innerHTML = '';
  });
});
