/**
 * The submit dialog's form, rendered from the gateway's option schema: one field per option
 * that the chosen kind takes, the GPU type with live free numbers, and each field's message
 * from the schema's rules as the user types.
 */
import { Widget } from '@lumino/widgets';

import { fill, h } from './dom';
import { gpuFree, planText } from './format';
import { buildSpec, defaultText, IBuilt, optionsFor, RawValue } from './schema';
import { ICluster, IOption, IPlan, ISchema } from './types';

/** What the form starts with: the kind, and field texts by option name. */
export interface IFormValues {
  kind: string;
  raws: { [name: string]: RawValue };
}

/** Asks the gateway where a spec would go, creating nothing (`POST jobs/plan`). */
export type Planner = (spec: { [key: string]: unknown }) => Promise<IPlan>;

/** The free GPUs of a type over the clusters: "3 free on onprem · up to 2 on cloud". */
export function gpuSummary(type: string, clusters: ICluster[]): string {
  const parts: string[] = [];
  for (const c of clusters) {
    const gpu = c.gpus.find(g => g.type === type);
    if (gpu) {
      parts.push(c.healthy ? `${gpuFree(gpu)} on ${c.name}` : `${c.name} down`);
    }
  }
  return parts.join(' · ') || 'on no healthy cluster';
}

export class SubmitForm extends Widget {
  constructor(private readonly schema: ISchema, private readonly script: string, initial: IFormValues,
    private clusters: ICluster[], readonly what: string, private readonly planner?: Planner) {
    super();
    this.addClass('fs-Form');
    this._kind = initial.kind;
    this._raws = { ...initial.raws };
    this._render();
  }

  /** The spec the fields make, and the message of each field that is wrong. */
  get built(): IBuilt {
    return buildSpec(this.schema, this._kind, this.values().raws, this.script);
  }

  /** The fields as they are now (to reopen the dialog with them). */
  values(): IFormValues {
    this._read();
    return { kind: this._kind, raws: { ...this._raws } };
  }

  /** New cluster data: refresh the live free numbers of the GPU choices. */
  setClusters(clusters: ICluster[]): void {
    this.clusters = clusters;
    this.node.querySelectorAll<HTMLOptionElement>('option[data-gpu-type]').forEach(o => {
      const type = o.dataset.gpuType as string;
      const display = this.schema.gpu_types.find(g => g.name === type)?.display || type;
      o.textContent = `${display} — ${gpuSummary(type, clusters)}`;
    });
  }

  /** Show every field's message; true when there is none. */
  validate(): boolean {
    const { errors } = this.built;
    this.node.querySelectorAll<HTMLElement>('.fs-FieldError').forEach(el => {
      const message = errors[el.dataset.option as string] || '';
      el.textContent = message;
      const input = this.node.querySelector(`[data-input="${el.dataset.option}"]`);
      input?.setAttribute('aria-invalid', message ? 'true' : 'false');
    });
    const ok = Object.keys(errors).length === 0;
    const accept = this.node.closest('.jp-Dialog')?.querySelector<HTMLButtonElement>('.jp-mod-accept');
    if (accept) {
      accept.disabled = !ok;
    }
    return ok;
  }

  protected onAfterAttach(): void {
    this.validate();
    this.node.querySelector<HTMLElement>('select, input')?.focus();
  }

  private _read(): void {
    this.node.querySelectorAll<HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>('[data-input]')
      .forEach(el => {
        const name = el.dataset.input as string;
        if (name === 'gpus') {
          const count = this.node.querySelector<HTMLInputElement>('[data-gpu-count]')?.value ?? '';
          this._raws.gpus = { type: el.value, count };
        } else {
          this._raws[name] = el.value;
        }
      });
  }

  private _render(): void {
    const kinds = this.schema.options.find(o => o.name === 'kind');
    const kind = h('select', {
      'data-kind': '', 'aria-label': 'Kind of job', class: 'fs-Input',
      onchange: () => { this._read(); this._kind = kind.value; this._render(); this.validate(); }
    }, ...this.schema.kinds.map(k => h('option', { value: k, selected: k === this._kind }, k)));
    const rows = optionsFor(this.schema, this._kind).map(o => this._field(o));
    fill(this.node,
      h('p', { class: 'fs-FormWhat' }, this.what),
      this._row('kind', kinds?.label || 'Kind', kinds?.help || '', kind),
      ...rows,
      h('div', { class: 'fs-FieldError', 'data-option': 'script', role: 'alert' }),
      h('div', { class: 'fs-FieldError', 'data-option': 'kind', role: 'alert' }),
      this.planner ? this._planRow() : null);
  }

  /** "Where would it go?": the gateway's dry run of the spec as it is now, shown under the fields. */
  async plan(): Promise<void> {
    const out = this.node.querySelector<HTMLElement>('.fs-Plan');
    if (!this.planner || !out) {
      return;
    }
    if (!this.validate()) {
      out.textContent = 'Fix the fields marked above first.';
      return;
    }
    out.textContent = 'Asking the gateway…';
    try {
      out.textContent = planText(await this.planner(this.built.spec));
    } catch (error) {
      out.textContent = `The gateway could not say: ${(error as Error).message}`;
    }
  }

  private _planRow(): HTMLElement {
    return h('div', { class: 'fs-PlanRow' },
      h('button', {
        type: 'button', class: 'jp-mod-styled fs-PlanButton',
        title: 'Where the job would go now and why, creating nothing',
        onclick: () => { void this.plan(); }
      }, 'Where would it go?'),
      h('pre', { class: 'fs-Plan', role: 'status', 'aria-live': 'polite' }));
  }

  private _row(name: string, label: string, help: string, ...inputs: HTMLElement[]): HTMLElement {
    const id = `fs-field-${name}`;
    inputs[0].id = id;
    inputs[0].setAttribute('aria-describedby', `${id}-help`);
    return h('div', { class: 'fs-Field', 'data-field': name },
      h('label', { for: id }, label),
      h('div', { class: 'fs-FieldInputs' }, ...inputs),
      h('div', { class: 'fs-FieldHelp', id: `${id}-help` }, help),
      h('div', { class: 'fs-FieldError', 'data-option': name, role: 'alert' }));
  }

  private _field(option: IOption): HTMLElement {
    const raw = this._raws[option.name];
    const text = typeof raw === 'string' ? raw : defaultText(option, this._kind);
    const onInput = (): void => { this.validate(); };
    const common = { 'data-input': option.name, class: 'fs-Input', oninput: onInput, onchange: onInput };
    if (option.type === 'gpus') {
      const gpus = (raw && typeof raw === 'object') ? raw : { type: '', count: '0' };
      const type = h('select', { ...common, 'aria-label': 'GPU type' },
        h('option', { value: '' }, 'No GPU / any type'),
        ...(option.choices || []).map(t => h('option', { value: t, 'data-gpu-type': t, selected: t === gpus.type }, t)));
      const count = h('input', {
        type: 'number', class: 'fs-Input fs-Count', 'data-gpu-count': '', 'aria-label': 'GPUs per node',
        min: option.count_minimum ?? 0, max: option.count_maximum ?? '', value: gpus.count,
        oninput: onInput, onchange: onInput
      });
      const row = this._row(option.name, option.label, option.help, type, count);
      queueMicrotask(() => this.setClusters(this.clusters));
      return row;
    }
    if (option.type === 'enum') {
      const choices = option.choices_by_kind?.[this._kind] ?? option.choices ?? [];
      const current = text || String(option.default ?? '');
      return this._row(option.name, option.label, option.help, h('select', { ...common, 'aria-label': option.label },
        ...choices.map(c => h('option', { value: c, selected: c === current }, c))));
    }
    if (option.type === 'list' || option.type === 'mapping') {
      const hint = option.type === 'list' ? 'one per line' : 'KEY=VALUE, one per line';
      return this._row(option.name, option.label, `${option.help} (${hint})`,
        h('textarea', { ...common, rows: 2, placeholder: hint, 'aria-label': option.label }, text));
    }
    if (option.type === 'clusters') {
      const names = (option.choices || []).filter(c => c !== (option.auto || 'auto'));
      const listId = 'fs-cluster-choices';
      return this._row(option.name, option.label, `${option.help} Members: ${names.join(', ')}.`,
        h('input', { ...common, type: 'text', list: listId, value: text || option.auto || 'auto',
          'aria-label': option.label, placeholder: 'auto, or names in failover order' }),
        h('datalist', { id: listId }, ...(option.choices || []).map(c => h('option', { value: c }))));
    }
    const placeholder = defaultText(option, this._kind);
    return this._row(option.name, option.label, option.help, h('input', {
      ...common, type: option.type === 'integer' ? 'number' : 'text', 'aria-label': option.label,
      value: typeof raw === 'string' ? raw : '', placeholder,
      min: option.minimum as number | undefined, max: option.maximum as number | undefined
    }));
  }

  private _kind: string;
  private _raws: { [name: string]: RawValue };
}
