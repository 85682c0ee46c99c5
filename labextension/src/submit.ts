/**
 * "Run on cluster…": the script of the active cell (or the whole notebook, or a file), the
 * dialog rendered from the option schema, and the submission with its origin.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';

import { jsonBody, requestJson } from './api';
import { IFormValues, SubmitForm } from './form';
import { FederationModel } from './model';
import { ISource } from './source';
import { IJob, IPlan } from './types';

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
      serverError ? `${source.what}\n⚠ ${serverError}` : source.what,
      spec => requestJson<IPlan>('jobs/plan', jsonBody('POST', spec)));
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
