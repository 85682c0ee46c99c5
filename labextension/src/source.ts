/**
 * What "Run on cluster…" sends: the active cell, every code cell of a notebook, or a file,
 * with where it came from (pure, apart from reading the notebook).
 */
import type { NotebookPanel } from '@jupyterlab/notebook';

import { IOrigin } from './types';

/** What to run and where it came from. */
export interface ISource {
  script: string;
  origin: IOrigin;
  /** For the dialog: "cell 3 of analysis.ipynb". */
  what: string;
  /** A kind named by a `%%fedsubmit KIND` first line, if any. */
  kind?: string;
}

/** A cell's source without a leading `%%fedsubmit ...` line (its kind kept). */
export function stripMagic(source: string): { script: string; kind?: string } {
  const match = /^%%fedsubmit[ \t]+([a-z]+)[^\n]*\n?/.exec(source);
  return match ? { script: source.slice(match[0].length), kind: match[1] } : { script: source };
}

/** The active cell of a notebook as a source. */
export function cellSource(panel: NotebookPanel): ISource | null {
  const cell = panel.content.activeCell;
  if (!cell || cell.model.type !== 'code') {
    return null;
  }
  const { script, kind } = stripMagic(cell.model.sharedModel.getSource());
  const index = panel.content.activeCellIndex + 1;
  return { script, kind, origin: { path: panel.context.path, cell: cell.model.id },
    what: `Cell ${index} of ${panel.context.path}` };
}

/** Every code cell of a notebook, in order, as one script (lines starting with % or ! dropped). */
export function notebookSource(panel: NotebookPanel): ISource {
  const parts: string[] = [];
  for (const cell of panel.content.model?.cells ?? []) {
    if (cell.type === 'code') {
      const text = stripMagic(cell.sharedModel.getSource()).script;
      parts.push(text.split('\n').filter(l => !/^\s*[%!]/.test(l)).join('\n'));
    }
  }
  return { script: parts.join('\n\n'), origin: { path: panel.context.path },
    what: `Every code cell of ${panel.context.path}` };
}
