/**
 * "Run on cluster…": the script of the active cell (or the whole notebook, or a file), the
 * dialog rendered from the option schema, and the submission with its origin.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { NotebookPanel } from '@jupyterlab/notebook';

import { jsonBody, requestJson } from './api';
import { IFormValues, SubmitForm } from './form';
import { FederationModel } from './model';
import { IJob, IOrigin } from './types';

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

/**
 * Show the dialog until the user submits valid options or gives up; submit; the created job.
 * Reopens with the same values when the gateway refuses, showing its message.
 */
export async function runOnCluster(model: FederationModel, source: ISource, defaults: IFormValues
): Promise<IJob | null> {
  const schema = await model.schema();
  let values: IFormValues = { ...defaults, kind: source.kind || defaults.kind };
  let serverError = '';
  for (;;) {
    const form = new SubmitForm(schema, source.script, values, model.clusters,
      serverError ? `${source.what}\n⚠ ${serverError}` : source.what);
    const track = (): void => form.setClusters(model.clusters);
    model.clustersChanged.connect(track);
    const answer = await showDialog({
      title: 'Run on cluster',
      body: form,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Submit' })],
      focusNodeSelector: 'select'
    });
    model.clustersChanged.disconnect(track);
    values = form.values();
    if (!answer.button.accept) {
      return null;
    }
    const built = form.built;
    if (Object.keys(built.errors).length) {
      serverError = Object.values(built.errors)[0];
      continue;
    }
    try {
      const { job } = await requestJson<{ job: IJob }>('jobs',
        jsonBody('POST', { ...built.spec, origin: source.origin }));
      return job;
    } catch (error) {
      serverError = (error as Error).message;
    }
  }
}
