/**
 * The panel's jobs table, keyed by job id: a new list of jobs touches only the rows whose
 * job changed (patched in place, so every row keeps its DOM node), adds and removes rows,
 * and moves rows only when the order changed. Thousands of rows stay cheap: rows are
 * cloned from one template, a first fill goes into the table in one insertion, clicks and
 * keys are handled once for the whole table, the ages tick without touching rows whose age
 * text stays the same, and the stylesheet lays rows out as fixed grids that are skipped
 * while out of view.
 */
import { h } from './dom';
import { clusterText, jobGpu, queueText, ranks, shortDuration } from './format';
import { rowChanged } from './jobs';
import { IJobRow, IOrigin } from './types';

export interface IJobTableActions {
  openJob: (id: string) => void;
  revealOrigin: (origin: IOrigin) => void;
}

/** One row: the job it shows, and the text nodes and elements it patches. */
interface IRow {
  job: IJobRow;
  showOwner: boolean;
  el: HTMLTableRowElement;
  nameCell: HTMLTableCellElement;
  name: Text;
  origin: HTMLElement | null;
  owner: HTMLElement | null;
  kind: Text;
  cluster: Text;
  gpu: Text;
  phase: Text;
  ranks: Text;
  age: Text;
  /** Creation time (ms epoch; NaN when unknown), for the ticking age. */
  created: number;
}

/** Write `value` into a text node, unless it holds it already (no mutation, no relayout). */
function setText(node: Text, value: string): void {
  if (node.data !== value) {
    node.data = value;
  }
}

/** Set an attribute unless it has that value already. */
function setAttr(el: Element, name: string, value: string): void {
  if (el.getAttribute(name) !== value) {
    el.setAttribute(name, value);
  }
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

  /** The `<tbody>` the rows live in (roles kept: the table is laid out as a grid). */
  readonly body = h('tbody', { role: 'rowgroup' });

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
      setText(row.age, ageText(row.created, now));
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
    const text = (i: number): Text => (i === 4 ? cells[i].firstChild as Element : cells[i]).firstChild as Text;
    const row: IRow = {
      job, showOwner, el, nameCell: cells[0], name: text(0), origin: null, owner: null, kind: text(1),
      cluster: text(2), gpu: text(3), phase: text(4), ranks: text(5), age: text(6), created: NaN
    };
    this._patch(row, job, showOwner, now);
    this._rows.set(job.id, row);
    return row;
  }

  /** Write a job into its row, keeping the row's elements (and leaving alone what did not change). */
  private _patch(row: IRow, job: IJobRow, showOwner: boolean, now: number): void {
    row.job = job;
    row.showOwner = showOwner;
    const el = row.el;
    const className = `fs-Job fs-phase-${job.phase.toLowerCase()}`;
    if (el.className !== className) {
      el.className = className;
    }
    setAttr(el, 'data-job', job.id);
    setAttr(el, 'aria-label', `${job.name}: ${job.phase} on ${job.cluster}, open details`);
    setAttr(row.nameCell, 'title', [job.message, queueText(job)].filter(Boolean).join('\n') || job.id);
    setText(row.name, job.name);
    const origin = job.origin;
    if (origin?.path) {
      // before the name: a long name is cut off at the cell's end, the button never is
      row.origin = row.origin || row.nameCell.insertBefore(this._origin.cloneNode(true) as HTMLElement, row.name);
      setAttr(row.origin, 'title', `Show ${origin.path}${origin.cell ? ' (the cell)' : ''}`);
      setAttr(row.origin, 'aria-label', `Show the cell of ${job.name} in ${origin.path}`);
    } else if (row.origin) {
      row.origin.remove();
      row.origin = null;
    }
    if (showOwner) {
      row.owner = row.owner || row.nameCell.appendChild(h('span', { class: 'fs-Owner' }, ''));
      setText(row.owner.firstChild as Text, ` ${job.owner}`);
    } else if (row.owner) {
      row.owner.remove();
      row.owner = null;
    }
    setText(row.kind, job.kind);
    setText(row.cluster, clusterText(job));
    setText(row.gpu, jobGpu(job));
    setText(row.phase, job.phase);
    setText(row.ranks, ranks(job));
    row.created = job.created ? Date.parse(job.created) : NaN;
    setText(row.age, ageText(row.created, now));
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

  /** What every row is cloned from: the cells, each with an empty text node to write into. */
  private readonly _template = h('tr', { class: 'fs-Job', tabindex: 0, role: 'row' },
    ...['fs-JobName', 'fs-col-kind', 'fs-col-cluster', 'fs-col-gpu', 'fs-Phase', 'fs-Ranks', 'fs-JobAge fs-col-age']
      .map(name => h('td', { class: name, role: 'cell' }, name === 'fs-Phase' ? h('span', { class: 'fs-Badge' }, '') : '')));

  /** The link back to a job's cell, cloned into the rows of jobs that have one. */
  private readonly _origin = h('button', { class: 'fs-Origin' }, '⤴');

  private _rows = new Map<string, IRow>();
}
