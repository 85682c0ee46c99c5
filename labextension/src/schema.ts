/**
 * The option schema's rules, applied in the browser (pure): which options a kind of job
 * takes, how a form's text becomes the spec the gateway accepts, and the same limits the
 * gateway checks (it checks again on submission; this only says it earlier).
 */
import { IOption, ISchema } from './types';

/** What a form field holds: text, or a GPU type and count. */
export type RawValue = string | { type: string; count: string };

/** A spec the gateway's `POST jobs` accepts, or the message of each field that is wrong. */
export interface IBuilt {
  spec: { [key: string]: unknown };
  errors: { [name: string]: string };
}

/** The options shown for a kind of job, in schema order (the kind itself excluded). */
export function optionsFor(schema: ISchema, kind: string): IOption[] {
  return schema.options.filter(o => o.name !== 'kind' && o.kinds.includes(kind));
}

/** The default of an option for a kind, as text for a form field. */
export function defaultText(option: IOption, kind: string): string {
  const value = option.default;
  if (value === null || value === undefined) {
    return '';
  }
  if (option.type === 'list') {
    return (value as string[]).join('\n');
  }
  if (option.type === 'mapping') {
    return Object.entries(value as object).map(([k, v]) => `${k}=${v}`).join('\n');
  }
  if (typeof value === 'object') {
    const byKind = (value as { [k: string]: unknown })[kind];
    return byKind === undefined ? '' : String(byKind);
  }
  return String(value);
}

const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const FACTORS: { [suffix: string]: number } = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60
};

/** A Kubernetes quantity ("500m", "2Gi") as a number, or null when it is not one. */
export function parseQuantity(text: string): number | null {
  const m = QUANTITY.exec(text.trim());
  return m ? parseFloat(m[1]) * FACTORS[m[2] || ''] : null;
}

function lines(text: string): string[] {
  return text.split('\n').map(l => l.trim()).filter(Boolean);
}

function checkString(option: IOption, text: string): string | null {
  if (option.max_length !== undefined && text.length > option.max_length) {
    return `${option.label} is longer than ${option.max_length} characters.`;
  }
  if (option.pattern && !new RegExp(option.pattern).test(text)) {
    return `${option.label} "${text}" is not valid (it must match ${option.pattern}).`;
  }
  return null;
}

function checkInteger(option: IOption, text: string): [number | null, string | null] {
  if (!/^-?[0-9]+$/.test(text)) {
    return [null, `${option.label} must be a whole number, not "${text}".`];
  }
  const n = parseInt(text, 10);
  const min = option.minimum as number | undefined;
  const max = option.maximum as number | undefined;
  if ((min !== undefined && n < min) || (max !== undefined && n > max)) {
    return [null, `${option.label} must be between ${min ?? '-∞'} and ${max ?? '∞'}, not ${n}.`];
  }
  return [n, null];
}

function checkList(option: IOption, text: string): [string[], string | null] {
  const items = lines(text);
  if (option.max_items !== undefined && items.length > option.max_items) {
    return [items, `${option.label}: at most ${option.max_items} entries.`];
  }
  for (const item of items) {
    if (option.item_max_length !== undefined && item.length > option.item_max_length) {
      return [items, `${option.label}: "${item.slice(0, 40)}…" is longer than ${option.item_max_length} characters.`];
    }
    if (option.item_pattern && !new RegExp(option.item_pattern).test(item)) {
      return [items, `${option.label}: "${item}" is not a valid entry.`];
    }
  }
  return [items, null];
}

function checkMapping(option: IOption, text: string): [{ [k: string]: string }, string | null] {
  const out: { [k: string]: string } = {};
  const entries = lines(text);
  if (option.max_items !== undefined && entries.length > option.max_items) {
    return [out, `${option.label}: at most ${option.max_items} entries.`];
  }
  for (const line of entries) {
    const eq = line.indexOf('=');
    if (eq <= 0) {
      return [out, `${option.label}: "${line}" is not KEY=VALUE (one per line).`];
    }
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1);
    if ((option.key_max_length !== undefined && key.length > option.key_max_length) ||
        (option.key_pattern && !new RegExp(option.key_pattern).test(key))) {
      return [out, `${option.label}: "${key}" is not a valid name.`];
    }
    if ((option.reserved_keys || []).includes(key) ||
        (option.reserved_prefixes || []).some(p => key.startsWith(p))) {
      return [out, `${option.label}: ${key} is set by fedspawner itself; choose another name.`];
    }
    if (option.value_max_length !== undefined && value.length > option.value_max_length) {
      return [out, `${option.label}: the value of ${key} is longer than ${option.value_max_length} characters.`];
    }
    out[key] = value;
  }
  return [out, null];
}

function checkQuantity(option: IOption, text: string, kind: string): string | null {
  const n = parseQuantity(text);
  if (n === null) {
    return `${option.label} "${text}" is not a quantity (like 500m, 2 or 4Gi).`;
  }
  const min = option.minimum_by_kind?.[kind] ?? option.minimum;
  if (min !== undefined && n < (parseQuantity(String(min)) as number)) {
    return `${option.label} must be at least ${min} for ${kind} jobs.`;
  }
  if (option.maximum !== undefined && n > (parseQuantity(String(option.maximum)) as number)) {
    return `${option.label} must be at most ${option.maximum}.`;
  }
  return null;
}

function checkClusters(option: IOption, text: string): [unknown, string | null] {
  const auto = option.auto || 'auto';
  if (text === '' || text === auto) {
    return [auto, null];
  }
  const names = text.split(/[\s,]+/).filter(Boolean);
  if (option.max_items !== undefined && names.length > option.max_items) {
    return [names, `${option.label}: at most ${option.max_items} clusters.`];
  }
  const known = (option.choices || []).filter(c => c !== auto);
  for (const name of names) {
    if (!known.includes(name)) {
      return [names, `There is no cluster "${name}"; choose from ${known.join(', ')} or ${auto}.`];
    }
  }
  if (new Set(names).size !== names.length) {
    return [names, `${option.label}: each cluster at most once.`];
  }
  return [names.length === 1 ? names[0] : names, null];
}

function checkGpus(option: IOption, raw: { type: string; count: string }): [unknown, string | null] {
  const [count, error] = checkInteger(
    { ...option, minimum: option.count_minimum, maximum: option.count_maximum }, raw.count.trim() || '0');
  if (error) {
    return [null, error];
  }
  if (raw.type && option.choices && !option.choices.includes(raw.type)) {
    return [null, `No member cluster has GPUs of type ${raw.type}; choose from ${option.choices.join(', ')}.`];
  }
  if (raw.type && count === 0) {
    return [null, `Give how many ${raw.type} GPUs per node (or choose no GPU type).`];
  }
  return [{ type: raw.type || null, count }, null];
}

/**
 * One field's text as the spec's value, with a message when it breaks the schema's rules;
 * `undefined` value: leave the option out (empty, so the gateway's default applies).
 */
export function parseField(option: IOption, raw: RawValue, kind: string): [unknown, string | null] {
  if (option.type === 'gpus') {
    const gpus = raw as { type: string; count: string };
    return gpus.type === '' && (gpus.count.trim() === '' || gpus.count.trim() === '0')
      ? [undefined, null] : checkGpus(option, gpus);
  }
  const text = (raw as string).trim();
  if (text === '' && option.type !== 'clusters') {
    return [undefined, option.required ? `${option.label} is required.` : null];
  }
  switch (option.type) {
    case 'integer':
      return checkInteger(option, text);
    case 'list':
      return checkList(option, raw as string);
    case 'mapping':
      return checkMapping(option, raw as string);
    case 'quantity':
      return [text, checkQuantity(option, text, kind)];
    case 'clusters':
      return checkClusters(option, text);
    case 'enum': {
      const choices = option.choices_by_kind?.[kind] ?? option.choices ?? [];
      return choices.includes(text) ? [text, null]
        : [text, `${option.label} must be one of ${choices.join(', ')} for ${kind} jobs.`];
    }
    default:
      return [text, checkString(option, text)];
  }
}

/** The spec of a job of `kind` running `script`, from the form's fields (by option name). */
export function buildSpec(schema: ISchema, kind: string, raws: { [name: string]: RawValue }, script: string
): IBuilt {
  const built: IBuilt = { spec: { kind, script }, errors: {} };
  if (!schema.kinds.includes(kind)) {
    built.errors.kind = `Kind must be one of ${schema.kinds.join(', ')}.`;
  }
  if (!script.trim()) {
    built.errors.script = 'The cell (or file) is empty: there is nothing to run.';
  } else if (schema.max_script_bytes && new TextEncoder().encode(script).length > schema.max_script_bytes) {
    built.errors.script = `The script is larger than ${schema.max_script_bytes} bytes.`;
  }
  for (const option of optionsFor(schema, kind)) {
    if (!(option.name in raws)) {
      continue;
    }
    const [value, error] = parseField(option, raws[option.name], kind);
    if (error) {
      built.errors[option.name] = error;
    } else if (value !== undefined) {
      built.spec[option.name] = value;
    }
  }
  return built;
}
