import { Widget } from '@lumino/widgets';

import { gpuSummary, SubmitForm } from '../src/form';
import { ICluster } from '../src/types';
import { SCHEMA } from './fixtures';

const CLUSTERS: ICluster[] = [
  { name: 'onprem', healthy: true, gpus: [{ type: 'nvidia-h100-80gb', display: 'H100', free: 3, upper_bound: null, total: 8 }] },
  { name: 'cloud', healthy: true, gpus: [{ type: 'nvidia-h100-80gb', display: 'H100', free: null, upper_bound: 16, total: 16 }] },
  { name: 'regional', healthy: false, gpus: [{ type: 'nvidia-h100-80gb', display: 'H100', free: 0, upper_bound: null, total: 4 }] }
];

function mount(kind = 'pytorch', raws = {}): SubmitForm {
  const form = new SubmitForm(SCHEMA, 'print(1)', { kind, raws }, CLUSTERS, 'Cell 1 of a.ipynb');
  Widget.attach(form, document.body);
  return form;
}

function input(form: SubmitForm, name: string): HTMLInputElement {
  return form.node.querySelector(`[data-input="${name}"]`) as HTMLInputElement;
}

afterEach(() => { document.body.innerHTML = ''; });

describe('SubmitForm', () => {
  it('renders one labelled, described field per option of the kind', () => {
    const form = mount('pytorch');
    const fields = [...form.node.querySelectorAll('[data-field]')].map(f => (f as HTMLElement).dataset.field);
    expect(fields).toEqual(['kind', 'name', 'cluster', 'gpus', 'nodes', 'image', 'packages', 'env', 'memory', 'language']);
    for (const el of form.node.querySelectorAll('[data-input]')) {
      expect(form.node.querySelector(`label[for="${el.id}"]`)).not.toBeNull();
      expect(el.getAttribute('aria-describedby')).toBe(`${el.id}-help`);
    }
    expect(input(form, 'image').placeholder).toBe('pytorch/pytorch:2');
  });

  it('switches fields with the kind and keeps what was typed', () => {
    const form = mount('pytorch');
    input(form, 'name').value = 'keep-me';
    const kind = form.node.querySelector('[data-kind]') as HTMLSelectElement;
    kind.value = 'spark';
    kind.dispatchEvent(new Event('change'));
    expect(form.node.querySelector('[data-field="executors"]')).not.toBeNull();
    expect(form.node.querySelector('[data-field="nodes"]')).toBeNull();
    expect(input(form, 'name').value).toBe('keep-me');
    expect(form.built.spec).toMatchObject({ kind: 'spark', name: 'keep-me' });
  });

  it('shows the schema rules\' messages next to the field as the user types', () => {
    const form = mount('job');
    const nodes = input(form, 'nodes');
    nodes.value = '0';
    nodes.dispatchEvent(new Event('input'));
    const error = form.node.querySelector('.fs-FieldError[data-option="nodes"]')!;
    expect(error.textContent).toMatch(/between 1 and 1000/);
    expect(nodes.getAttribute('aria-invalid')).toBe('true');
    nodes.value = '2';
    nodes.dispatchEvent(new Event('input'));
    expect(error.textContent).toBe('');
    expect(form.validate()).toBe(true);
    expect(form.built.spec).toMatchObject({ nodes: 2, kind: 'job' });
  });

  it('lists GPU types with live free numbers, exact and "up to"', async () => {
    const form = mount('pytorch', { gpus: { type: 'nvidia-h100-80gb', count: '1' } });
    await Promise.resolve();
    const option = form.node.querySelector('option[data-gpu-type="nvidia-h100-80gb"]')!;
    expect(option.textContent).toBe('H100 — 3 free on onprem · up to 16 free on cloud · regional down');
    form.setClusters([{ ...CLUSTERS[0], gpus: [{ ...CLUSTERS[0].gpus[0], free: 1 }] }]);
    expect(option.textContent).toBe('H100 — 1 free on onprem');
    expect(form.built.spec.gpus).toEqual({ type: 'nvidia-h100-80gb', count: 1 });
  });

  it('summarises a type nobody has', () => {
    expect(gpuSummary('amd-mi300x', CLUSTERS)).toBe('on no healthy cluster');
  });

  it('asks where the job would go with the spec as typed, and shows the answer', async () => {
    const asked: { [key: string]: unknown }[] = [];
    const form = new SubmitForm(SCHEMA, 'print(1)', { kind: 'pytorch', raws: { nodes: '2' } }, CLUSTERS, 'Cell 1',
      async spec => { asked.push(spec); return { cluster: 'onprem', candidates: [{ cluster: 'onprem', reason: 'fits' }] }; });
    Widget.attach(form, document.body);
    (form.node.querySelector('.fs-PlanButton') as HTMLButtonElement).click();
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(asked).toEqual([form.built.spec]);
    expect(asked[0].nodes).toBe(2);
    expect(form.node.querySelector('.fs-Plan')?.textContent)
      .toBe('Would go to onprem (dry run: nothing was created).\n1. onprem: fits');
  });

  it('asks nothing while a field is wrong, and says the gateway\'s refusal', async () => {
    let calls = 0;
    const form = new SubmitForm(SCHEMA, 'print(1)', { kind: 'pytorch', raws: { nodes: '0' } }, CLUSTERS, 'Cell 1',
      async () => { calls += 1; throw new Error('Unknown cluster "nowhere"'); });
    Widget.attach(form, document.body);
    await form.plan();
    expect(calls).toBe(0);
    expect(form.node.querySelector('.fs-Plan')?.textContent).toBe('Fix the fields marked above first.');
    input(form, 'nodes').value = '1';
    await form.plan();
    expect(calls).toBe(1);
    expect(form.node.querySelector('.fs-Plan')?.textContent).toBe('The gateway could not say: Unknown cluster "nowhere"');
  });

  it('has no dry-run button without a planner', () => {
    expect(mount().node.querySelector('.fs-PlanButton')).toBeNull();
  });
});

