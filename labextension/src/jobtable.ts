/**
 * The panel's jobs table, keyed by job id: a new list of jobs touches only the rows whose
 * job changed (patched in place, so every row keeps its DOM node), adds and removes rows,
 * and moves rows only when the order changed. Thousands of rows stay cheap: rows are
 * cloned from one template, a first fill goes into the table in one insertion, clicks and
 * keys are handled once for the whole table, and the ages tick without touching rows
 * whose age text stays the same.
 */
import { h } from './dom';
import { jobGpu, ranks, shortDuration } from './format';
import { rowChanged } from './jobs';
import { IJobRow, IOrigin } from './types';

export interface IJobTableActions {
  openJob: (id: string) => void;
  revealOrigin: (origin: IOrigin) => void;
}

/** One row: the job it shows and the cells it patches. */
interface IRow {
  job: IJobRow;
  showOwner: boolean;
  el: HTMLTableRowElement;
  name: HTMLTableCellElement;
  kind: HTMLTableCellElement;
  cluster: HTMLTableCellElement;
  gpu: HTMLTableCellElement;
  badge: HTMLElement;
  ranks: HTMLTableCellElement;
  age: HTMLTableCellElement;
  /** Creation time (ms epoch; NaN when unknown), for the ticking age. */
  created: number;
}

/** The column headers, in cell order. */
export const COLUMNS = ['Name', 'Kind', 'Cluster', 'GPU', 'Phase', 'Ranks', 'Age'];

/** A job's age at `now` as the table writes it ("" when its creation time is unknown). */
function ageText(created: number, now: number): string {
  return isNaN(created) ? '' : shortDuration((now - created) / 1000);
}

export class JobTable {
  constructor(private readonly actions: IJobTableActions) {
    this.body.addEventListener('click', event => this._click(event));
    this.body.addEventListener('keydown', event => {
      const row = this._rowOf(event.target);
      if (row && (event as KeyboardEvent).key === 'Enter' && event.target === row.el) {
        this.actions.openJob(row.job.id);
      }
    });
  }

  /** The `<tbody>` the rows live in. */
  readonly body = h('tbody');

  /** How many rows are shown. */
  get size(): number {
    return this._rows.size;
  }

  /** The row element of a job, if shown. */
  rowOf(id: string): HTMLTableRowElement | undefined {
    return this._rows.get(id)?.el;
  }

  /** Show `jobs`, in this order; `showOwner` adds each job's owner to its name. */
  update(jobs: IJobRow[], showOwner: boolean, now: number = Date.now()): void {
    const keep = new Set<string>();
    for (const job of jobs) {
      keep.add(job.id);
    }
    for (const [id, row] of this._rows) {
      if (!keep.has(id)) {
        row.el.remove();
        this._rows.delete(id);
      }
    }
    if (this._rows.size === 0) {
      this._fillEmpty(jobs, showOwner, now);
      return;
    }
    let previous: HTMLTableRowElement | null = null;
    for (const job of jobs) {
      let row = this._rows.get(job.id);
      if (!row) {
        row = this._create(job, showOwner, now);
      } else if (row.showOwner !== showOwner || rowChanged(row.job, job)) {
        this._patch(row, job, showOwner, now);
      } else {
        row.job = job;
      }
      const expected: Element | null = previous ? previous.nextElementSibling : this.body.firstElementChild;
      if (expected !== row.el) {
        if (previous) {
          previous.after(row.el);
        } else {
          this.body.prepend(row.el);
        }
      }
      previous = row.el;
    }
  }

  /** Bring the ages up to `now`, writing only those whose text changed. */
  tick(now: number = Date.now()): void {
    for (const row of this._rows.values()) {
      const text = ageText(row.created, now);
      if (row.age.textContent !== text) {
        row.age.textContent = text;
      }
    }
  }

  /** The first rows (or all rows after a filter emptied the table): one insertion. */
  private _fillEmpty(jobs: IJobRow[], showOwner: boolean, now: number): void {
    const fragment = document.createDocumentFragment();
    for (const job of jobs) {
      fragment.append(this._create(job, showOwner, now).el);
    }
    this.body.append(fragment);
  }

  private _create(job: IJobRow, showOwner: boolean, now: number): IRow {
    const el = this._template.cloneNode(true) as HTMLTableRowElement;
    const cells = el.cells;
    const row: IRow = {
      job, showOwner, el, name: cells[0], kind: cells[1], cluster: cells[2], gpu: cells[3],
      badge: cells[4].firstElementChild as HTMLElement, ranks: cells[5], age: cells[6], created: NaN
    };
    this._patch(row, job, showOwner, now);
    this._rows.set(job.id, row);
    return row;
  }

  /** Write a job into its row, keeping the row's elements. */
  private _patch(row: IRow, job: IJobRow, showOwner: boolean, now: number): void {
    row.job = job;
    row.showOwner = showOwner;
    const el = row.el;
    el.className = `fs-Job fs-phase-${job.phase.toLowerCase()}`;
    el.dataset.job = job.id;
    el.setAttribute('aria-label', `${job.name}: ${job.phase} on ${job.cluster}, open details`);
    row.name.title = job.message || job.id;
    const origin = job.origin;
    row.name.replaceChildren(job.name,
      ...(origin?.path ? [h('button', {
        class: 'fs-Origin', title: `Show ${origin.path}${origin.cell ? ' (the cell)' : ''}`,
        'aria-label': `Show the cell of ${job.name} in ${origin.path}`
      }, '⤴')] : []),
      ...(showOwner ? [h('span', { class: 'fs-Owner' }, ` ${job.owner}`)] : []));
    row.kind.textContent = job.kind;
    row.cluster.textContent = job.cluster;
    row.gpu.textContent = jobGpu(job);
    row.badge.textContent = job.phase;
    row.ranks.textContent = ranks(job);
    row.created = job.created ? Date.parse(job.created) : NaN;
    row.age.dataset.created = job.created || '';
    row.age.textContent = ageText(row.created, now);
  }

  private _rowOf(target: EventTarget | null): IRow | undefined {
    const el = (target as Element | null)?.closest?.('tr[data-job]') as HTMLElement | null;
    return el && this.body.contains(el) ? this._rows.get(el.dataset.job as string) : undefined;
  }

  private _click(event: Event): void {
    const row = this._rowOf(event.target);
    if (!row) {
      return;
    }
    if ((event.target as Element).closest('.fs-Origin') && row.job.origin) {
      event.stopPropagation();
      this.actions.revealOrigin(row.job.origin);
    } else {
      this.actions.openJob(row.job.id);
    }
  }

  /** What every row is cloned from: the cells, empty. */
  private readonly _template = h('tr', { class: 'fs-Job', tabindex: 0 },
    h('td', { class: 'fs-JobName' }), h('td', { class: 'fs-col-kind' }), h('td', { class: 'fs-col-cluster' }),
    h('td', { class: 'fs-col-gpu' }), h('td', { class: 'fs-Phase' }, h('span', { class: 'fs-Badge' })),
    h('td', { class: 'fs-Ranks' }), h('td', { class: 'fs-JobAge fs-col-age' }));

  private _rows = new Map<string, IRow>();
}
