import { Widget } from '@lumino/widgets';

import { JobTable } from '../src/jobtable';
import { FederationModel } from '../src/model';
import { FederationPanel } from '../src/panel';
import { IJobRow, IJobsFeed, IOrigin } from '../src/types';
import { row } from './fixtures';

/** `n` jobs, newest first, as the feed lists them. */
function jobs(n: number): IJobRow[] {
  return Array.from({ length: n }, (_, i) => row(`j${i}`, {
    phase: i % 3 ? 'Running' : 'Pending', origin: i % 2 ? { path: 'a.ipynb', cell: `c${i}` } : null
  }));
}

/** The model's feed handler, as the long poll calls it with an answer. */
function feed(model: FederationModel, list: IJobRow[], version = String(Math.random())): void {
  (model as unknown as { _setJobs: (f: IJobsFeed) => void })._setJobs({ version, jobs: list });
}

function rows(panel: FederationPanel): HTMLTableRowElement[] {
  return [...panel.node.querySelectorAll<HTMLTableRowElement>('tbody tr[data-job]')];
}

/** Every node a change touched (targets of attribute, text and child list mutations). */
function touched(observer: MutationObserver): Node[] {
  return observer.takeRecords().map(r => r.target);
}

describe('FederationPanel jobs table', () => {
  let model: FederationModel;
  let panel: FederationPanel;
  let opened: string[];
  let revealed: IOrigin[];
  let observer: MutationObserver;

  beforeEach(() => {
    model = new FederationModel();
    opened = [];
    revealed = [];
    panel = new FederationPanel(model, { openJob: id => opened.push(id), revealOrigin: o => revealed.push(o) });
    Widget.attach(panel, document.body);
    observer = new MutationObserver(() => undefined);
  });

  afterEach(() => {
    observer.disconnect();
    panel.dispose();
    document.body.innerHTML = '';
  });

  const watch = (): void => observer.observe(panel.node.querySelector('tbody') as Node,
    { subtree: true, childList: true, attributes: true, characterData: true });

  it('shows a feed answer at once, every job in the feed order, with its cells', () => {
    feed(model, jobs(200));
    const shown = rows(panel);
    expect(shown.map(r => r.dataset.job)).toEqual(jobs(200).map(j => j.id));
    expect(panel.rowCount).toBe(200);
    expect([...shown[1].cells].map(c => c.textContent)).toEqual(
      ['⤴job-j1', 'pytorch', 'onprem', '—', 'Running', '0/2', expect.stringMatching(/^\d+[smhd]$/)]);
    expect(shown[0].classList.contains('fs-phase-pending')).toBe(true);
    expect(shown[0].querySelector('.fs-Origin')).toBeNull();
  });

  it('touches only the row of a changed job, and keeps every row node', () => {
    const before = jobs(200);
    feed(model, before);
    const nodes = rows(panel);
    watch();
    const after = before.map(j => j.id === 'j7' ? { ...j, phase: 'Succeeded', ranks: { ready: 2, total: 2 } } : j);
    feed(model, after);
    const targets = touched(observer);
    expect(targets.length).toBeGreaterThan(0);
    const changed = nodes[7];
    expect(targets.every(t => changed.contains(t))).toBe(true);
    expect(rows(panel)).toEqual(nodes);  // same nodes, same order: the changed row patched in place
    expect(changed.classList.contains('fs-phase-succeeded')).toBe(true);
    expect(changed.querySelector('.fs-Badge')?.textContent).toBe('Succeeded');
    expect(changed.cells[5].textContent).toBe('2/2');
  });

  it('touches nothing when an answer changes no row', () => {
    feed(model, jobs(50));
    watch();
    feed(model, jobs(50).map(j => ({ ...j })));
    expect(touched(observer)).toEqual([]);
  });

  it('inserts a new job and removes a gone one without moving the other rows', () => {
    const before = jobs(20);
    feed(model, before);
    const nodes = rows(panel);
    watch();
    const added = row('new', { phase: 'Pending' });
    feed(model, [added, ...before.filter(j => j.id !== 'j5')]);
    const records = observer.takeRecords();
    expect(records.every(r => r.type === 'childList' || nodes.every(n => !n.contains(r.target)))).toBe(true);
    const inserted = records.flatMap(r => [...r.addedNodes]);
    const removed = records.flatMap(r => [...r.removedNodes]);
    expect(inserted.map(n => (n as HTMLElement).dataset.job)).toEqual(['new']);
    expect(removed).toEqual([nodes[5]]);
    const shown = rows(panel);
    expect(shown.slice(1)).toEqual(nodes.filter((_, i) => i !== 5));
  });

  it('keeps row nodes when the order changes', () => {
    const before = jobs(10);
    feed(model, before);
    const byId = new Map(rows(panel).map(r => [r.dataset.job, r]));
    const reversed = [...before].reverse();
    feed(model, reversed);
    expect(rows(panel)).toEqual(reversed.map(j => byId.get(j.id)));
  });

  it('filters by state and shows every row again, same nodes for the rows kept', () => {
    feed(model, jobs(30));
    const running = rows(panel).filter(r => r.classList.contains('fs-phase-running'));
    const filter = panel.node.querySelector('.fs-Filter') as HTMLSelectElement;
    filter.value = 'running';
    filter.dispatchEvent(new Event('change'));
    expect(rows(panel)).toEqual(running);
    filter.value = '';
    filter.dispatchEvent(new Event('change'));
    expect(rows(panel).map(r => r.dataset.job)).toEqual(jobs(30).map(j => j.id));
  });

  it('shows owners for every user\'s jobs, and drops them again', () => {
    feed(model, jobs(3));
    const nodes = rows(panel);
    model.showAll = true;
    feed(model, jobs(3));
    expect(nodes.every(r => r.querySelector('.fs-Owner')?.textContent === ' ada')).toBe(true);
    model.showAll = false;
    feed(model, jobs(3));
    expect(rows(panel)).toEqual(nodes);
    expect(panel.node.querySelector('.fs-Owner')).toBeNull();
  });

  it('opens a job on click or Enter, and its cell from the origin button', () => {
    feed(model, jobs(4));
    const [, second, third] = rows(panel);
    second.querySelector('.fs-Badge')?.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    third.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    third.dispatchEvent(new KeyboardEvent('keydown', { key: 'a', bubbles: true }));
    (second.querySelector('.fs-Origin') as HTMLElement).click();
    expect(opened).toEqual(['j1', 'j2']);
    expect(revealed).toEqual([{ path: 'a.ipynb', cell: 'c1' }]);
  });

  it('follows a changed origin of a kept row', () => {
    feed(model, jobs(2));
    const [first] = rows(panel);
    feed(model, jobs(2).map(j => j.id === 'j0' ? { ...j, origin: { path: 'b.ipynb', cell: 'x' } } : j));
    (first.querySelector('.fs-Origin') as HTMLElement).click();
    expect(revealed).toEqual([{ path: 'b.ipynb', cell: 'x' }]);
  });
});

describe('JobTable ages', () => {
  it('writes only the ages whose text changed', () => {
    const table = new JobTable({ openJob: () => undefined, revealOrigin: () => undefined });
    const created = Date.parse('2026-01-01T00:00:00Z');
    table.update([row('old', { created: '2025-12-01T00:00:00Z' }), row('new', { created: '2026-01-01T00:00:00Z' })],
      false, created + 5_000);
    const ages = () => [...table.body.querySelectorAll('.fs-JobAge')].map(td => td.textContent);
    expect(ages()).toEqual(['31d', '5s']);
    const observer = new MutationObserver(() => undefined);
    observer.observe(table.body, { subtree: true, childList: true, characterData: true });
    table.tick(created + 6_000);
    const targets = observer.takeRecords().map(r => r.target);
    expect(ages()).toEqual(['31d', '6s']);
    expect(targets.length).toBeGreaterThan(0);
    expect(targets.every(t => table.rowOf('new')?.contains(t))).toBe(true);
    observer.disconnect();
  });
});
