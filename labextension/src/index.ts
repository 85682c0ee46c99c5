/**
 * fedspawner's JupyterLab extension: the federation side panel, "Run on cluster…" for cells,
 * notebooks and files, job viewers with logs, finish notifications and a status bar item.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, Notification, ToolbarButton, WidgetTracker } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';

import { IFormValues } from './form';
import { federationIcon } from './icon';
import { JobView } from './jobview';
import { FederationModel, RefreshPolicy } from './model';
import { FederationPanel } from './panel';
import { UsageItem } from './statusbar';
import { cellSource, ISource, notebookSource } from './source';
import { runOnCluster } from './submit';
import { IJobRow, IOrigin } from './types';

const PLUGIN_ID = 'fedspawner-lab:plugin';

namespace CommandIDs {
  export const openPanel = 'fedspawner:open-panel';
  export const submitCell = 'fedspawner:submit-cell';
  export const submitDocument = 'fedspawner:submit-document';
  export const openJob = 'fedspawner:open-job';
  export const refresh = 'fedspawner:refresh';
}

/** The settings the extension reads (schema/plugin.json). */
interface ISettings {
  refresh: RefreshPolicy;
  hiddenInterval: number;
  defaultCluster: string;
  defaultKind: string;
  notifications: boolean;
  logLines: number;
}

const DEFAULTS: ISettings = {
  refresh: 'background', hiddenInterval: 30, defaultCluster: 'auto', defaultKind: 'job',
  notifications: true, logLines: 5000
};

function activate(app: JupyterFrontEnd, docManager: IDocumentManager, notebooks: INotebookTracker,
  restorer: ILayoutRestorer | null, settingRegistry: ISettingRegistry | null, statusBar: IStatusBar | null,
  palette: ICommandPalette | null): void {
  const model = new FederationModel();
  const settings: ISettings = { ...DEFAULTS };
  const tracker = new WidgetTracker<MainAreaWidget<JobView>>({ namespace: 'fedspawner-job' });

  const openJob = (id: string): void => {
    const open = tracker.find(w => w.content.jobId === id);
    if (open) {
      app.shell.activateById(open.id);
      return;
    }
    const view = new JobView(id, model, {
      opened: newId => openJob(newId),
      revealOrigin: job => job.origin && void revealOrigin(job.origin)
    }, settings.logLines);
    const widget = new MainAreaWidget({ content: view });
    widget.id = `fedspawner-job-${id}`;
    widget.title.icon = federationIcon;
    void tracker.add(widget);
    app.shell.add(widget, 'main');
    app.shell.activateById(widget.id);
  };

  const revealOrigin = async (origin: IOrigin): Promise<void> => {
    const widget = docManager.openOrReveal(origin.path);
    if (!widget) {
      Notification.error(`Cannot open ${origin.path}: it may have been moved or deleted.`, { autoClose: 6000 });
      return;
    }
    await widget.context.ready;
    if (!(widget instanceof NotebookPanel) || !origin.cell) {
      return;
    }
    await widget.revealed;
    const cells = widget.content.widgets;
    const index = cells.findIndex(c => c.model.id === origin.cell);
    if (index < 0) {
      Notification.warning(`The cell this job came from is no longer in ${origin.path}.`, { autoClose: 6000 });
      return;
    }
    widget.content.activeCellIndex = index;
    await widget.content.scrollToItem(index, 'center');
    const node = cells[index].node;
    node.classList.add('fs-mod-revealed');
    window.setTimeout(() => node.classList.remove('fs-mod-revealed'), 2500);
  };

  const panel = new FederationPanel(model, { openJob, revealOrigin: o => void revealOrigin(o) });
  panel.title.icon = federationIcon;
  app.shell.add(panel, 'left', { rank: 700 });
  restorer?.add(panel, 'fedspawner-panel');

  const submit = async (source: ISource | null): Promise<void> => {
    if (!source) {
      Notification.warning('Select a code cell to run on a cluster.', { autoClose: 4000 });
      return;
    }
    if (!model.config?.configured) {
      Notification.error(model.config?.hint || 'No jobs gateway is configured.', { autoClose: 8000 });
      return;
    }
    const defaults: IFormValues = { kind: settings.defaultKind, raws: { cluster: settings.defaultCluster } };
    try {
      const job = await runOnCluster(model, source, defaults);
      if (job) {
        Notification.info(`Submitted ${job.name} (${job.id}) to ${job.cluster}.`, {
          autoClose: 5000, actions: [{ label: 'Show logs', callback: () => openJob(job.id) }]
        });
        model.refresh();
      }
    } catch (error) {
      Notification.error(`Could not submit: ${(error as Error).message}`, { autoClose: 8000 });
    }
  };

  const notify = (job: IJobRow): void => {
    if (!settings.notifications || (model.config?.user && job.owner !== model.config.user)) {
      return;
    }
    const text = `${job.name} ${job.phase.toLowerCase()} on ${job.cluster}` +
      (job.message && job.phase === 'Failed' ? `: ${job.message}` : '.');
    const options = { autoClose: 10000, actions: [{ label: 'Show logs', callback: () => openJob(job.id) }] };
    if (job.phase === 'Succeeded') {
      Notification.success(text, options);
    } else {
      Notification.error(text, options);
    }
  };
  model.jobsChanged.connect((_, diff) => diff.finished.forEach(notify));

  app.commands.addCommand(CommandIDs.openPanel, {
    label: 'Show the federation panel', icon: federationIcon, execute: () => app.shell.activateById(panel.id)
  });
  app.commands.addCommand(CommandIDs.submitCell, {
    label: 'Run on cluster…', caption: 'Run the active cell as a job on a federated cluster',
    isEnabled: () => !!notebooks.currentWidget,
    execute: () => submit(notebooks.currentWidget ? cellSource(notebooks.currentWidget) : null)
  });
  app.commands.addCommand(CommandIDs.submitDocument, {
    label: 'Run notebook or file on cluster…', caption: 'Run the whole notebook or file as a job',
    execute: () => {
      const current = app.shell.currentWidget;
      if (current instanceof NotebookPanel) {
        return submit(notebookSource(current));
      }
      const context = current ? docManager.contextForWidget(current) : undefined;
      if (!context) {
        return submit(null);
      }
      const bash = /\.(sh|bash)$/.test(context.path);
      return submit({ script: context.model.toString(), origin: { path: context.path },
        what: `The file ${context.path}`, kind: bash ? 'job' : undefined });
    }
  });
  app.commands.addCommand(CommandIDs.openJob, {
    label: args => `Job ${args.id ?? ''}`, execute: args => openJob(String(args.id))
  });
  app.commands.addCommand(CommandIDs.refresh, { label: 'Refresh the federation panel', execute: () => model.refresh() });
  for (const command of Object.values(CommandIDs).filter(c => c !== CommandIDs.openJob)) {
    palette?.addItem({ command, category: 'Federated clusters' });
  }
  app.contextMenu.addItem({ command: CommandIDs.submitCell, selector: '.jp-Notebook .jp-CodeCell', rank: 30 });

  app.docRegistry.addWidgetExtension('Notebook', {
    createNew: (nb: NotebookPanel) => {
      const button = new ToolbarButton({
        label: 'Run on cluster…', tooltip: 'Run the active cell as a job on a federated cluster',
        icon: federationIcon, className: 'fs-ToolbarRun',
        onClick: () => void submit(cellSource(nb))
      });
      nb.toolbar.insertItem(10, 'fedspawner-run', button);
      return button;
    }
  });

  if (statusBar) {
    statusBar.registerStatusItem('fedspawner:usage', {
      item: new UsageItem(model, () => app.shell.activateById(panel.id)), align: 'left', rank: 50,
      isActive: () => !!model.config?.configured
    });
  }
  if (restorer) {
    void restorer.restore(tracker, {
      command: CommandIDs.openJob, args: w => ({ id: w.content.jobId }), name: w => w.content.jobId
    });
  }

  const apply = (composite: Partial<ISettings>): void => {
    Object.assign(settings, DEFAULTS, composite);
    model.setPolicy(settings.refresh, settings.hiddenInterval);
  };
  if (settingRegistry) {
    void settingRegistry.load(PLUGIN_ID).then(loaded => {
      apply(loaded.composite as Partial<ISettings>);
      loaded.changed.connect(() => apply(loaded.composite as Partial<ISettings>));
    }).catch(() => apply({}));
  }
  model.setVisible(panel.isVisible);
  void model.start();
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Federated clusters, jobs and logs in JupyterLab.',
  autoStart: true,
  requires: [IDocumentManager, INotebookTracker],
  optional: [ILayoutRestorer, ISettingRegistry, IStatusBar, ICommandPalette],
  activate
};

export default plugin;
