/**
 * The status bar item: my jobs running (and waiting) and the GPUs they hold.
 */
import { Widget } from '@lumino/widgets';

import { usageText } from './format';
import { usage } from './jobs';
import { FederationModel } from './model';

export class UsageItem extends Widget {
  constructor(private readonly model: FederationModel, onClick: () => void) {
    super({ node: document.createElement('button') });
    this.addClass('fs-StatusItem');
    this.node.setAttribute('aria-label', 'My cluster jobs: open the federation panel');
    this.node.addEventListener('click', onClick);
    model.jobsChanged.connect(() => this.update());
    model.configChanged.connect(() => this.update());
    this.update();
  }

  protected onUpdateRequest(): void {
    const u = usage(this.model.jobs, this.model.config?.user ?? null);
    this.node.textContent = usageText(u.running, u.gpus, u.pending);
    this.node.title = 'Jobs on the federated clusters (click for the panel)';
  }
}
