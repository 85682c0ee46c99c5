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

/**
 * The value of a Kubernetes quantity as the gateway reads it (fedspawner/federation/quantity.py):
 * a decimal number (sign, fraction and exponent allowed) and an optional suffix, rounded to 28
 * significant digits as Python's decimal context does. `digits × 10^exponent`, exactly. What a
 * user may write is the option's published `pattern`; this only reads the value.
 */
export interface IQuantity {
  digits: bigint;
  exponent: number;
}

const DECIMAL = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/;
/** Each suffix as a power of ten or of two. */
const SUFFIXES: { [suffix: string]: [number, number] } = {
  '': [0, 0], n: [-9, 0], u: [-6, 0], m: [-3, 0], k: [3, 0], M: [6, 0], G: [9, 0], T: [12, 0], P: [15, 0],
  E: [18, 0], Ki: [0, 10], Mi: [0, 20], Gi: [0, 30], Ti: [0, 40], Pi: [0, 50], Ei: [0, 60]
};
/** Python's default decimal context: significant digits, and the largest adjusted exponent. */
const PRECISION = 28;
const EMAX = 999999;

/** `n` rounded to PRECISION significant digits, half to even: [digits, powers of ten dropped]. */
function rounded(n: bigint): [bigint, number] {
  const drop = n.toString().length - PRECISION;
  if (drop <= 0) {
    return [n, 0];
  }
  const unit = 10n ** BigInt(drop);
  let q = n / unit;
  const twice = 2n * (n % unit);
  if (twice > unit || (twice === unit && q % 2n === 1n)) {
    q += 1n;
  }
  return q.toString().length > PRECISION ? [q / 10n, drop + 1] : [q, drop];
}

/** The suffixes, two-letter ones first (so "Mi" is not read as "M" after "i"). */
const SUFFIX_ORDER = Object.keys(SUFFIXES).filter(Boolean).sort((a, b) => b.length - a.length);

/** A quantity ("500m", "2Gi", "1e3"), or null when the gateway would not read it as one. */
export function parseQuantity(text: string): IQuantity | null {
  const suffix = SUFFIX_ORDER.find(s => text.endsWith(s)) || '';
  const d = DECIMAL.exec(text.slice(0, text.length - suffix.length));
  if (!d || (d[2] + (d[3] || '')) === '') {
    return null;
  }
  const [ten, two] = SUFFIXES[suffix];
  const fraction = d[3] || '';
  const exponent = Number(d[4] || '0') + ten - fraction.length;
  if (/^0*$/.test(d[2] + fraction) || exponent < -4 * EMAX) {
    return { digits: 0n, exponent: 0 };  // zero, or far below what the arithmetic keeps: zero
  }
  if (exponent > 4 * EMAX) {
    return null;
  }
  const sign = d[1] === '-' ? -1n : 1n;
  const [digits, dropped] = rounded(BigInt(d[2] + fraction) * 2n ** BigInt(two));
  const result = { digits: sign * digits, exponent: exponent + dropped };
  if (digits !== 0n && result.exponent + digits.toString().length - 1 > EMAX) {
    return null;  // beyond what the gateway's arithmetic holds: it refuses it as not a quantity
  }
  return result;
}

/** The sign of a - b. */
export function compareQuantities(a: IQuantity, b: IQuantity): number {
  const sign = (q: IQuantity): number => (q.digits > 0n ? 1 : q.digits < 0n ? -1 : 0);
  if (sign(a) !== sign(b) || sign(a) === 0) {
    return sign(a) - sign(b);
  }
  const magnitude = (q: IQuantity): number => q.exponent + (q.digits < 0n ? -q.digits : q.digits).toString().length;
  if (magnitude(a) !== magnitude(b)) {
    return (magnitude(a) > magnitude(b) ? 1 : -1) * sign(a);
  }
  const low = Math.min(a.exponent, b.exponent);
  const x = a.digits * 10n ** BigInt(a.exponent - low);
  const y = b.digits * 10n ** BigInt(b.exponent - low);
  return x > y ? 1 : x < y ? -1 : 0;
}

function lines(text: string): string[] {
  return text.split('\n').map(l => l.trim()).filter(Boolean);
}

/** The checks of one field: [the value the spec would carry, the message when it breaks a rule]. */
type Checked<T> = [T, string | null];

/** An image reference's name: without its digest (`@...`) and its tag (`:...` in the last part). */
function imageName(reference: string): string {
  const name = reference.split('@')[0];
  const slash = name.lastIndexOf('/');
  const colon = name.indexOf(':', slash + 1);
  return colon < 0 ? name : name.slice(0, colon);
}

function checkString(option: IOption, text: string): string | null {
  if (option.max_length !== undefined && text.length > option.max_length) {
    return `${option.label} is longer than ${option.max_length} characters.`;
  }
  if (option.pattern && !new RegExp(option.pattern).test(text)) {
    return `${option.label} "${text}" is not valid (it must match ${option.pattern}).`;
  }
  if (option.name_max_length !== undefined && imageName(text).length > option.name_max_length) {
    return `${option.label}: the name (without tag and digest) is longer than ${option.name_max_length} characters.`;
  }
  return null;
}

/** A whole number as the spec carries it; text that is not one is sent (and refused) as it is. */
function checkInteger(option: IOption, text: string, min = option.minimum, max = option.maximum
): Checked<number | string> {
  if (!/^-?[0-9]+$/.test(text)) {
    return [text, `${option.label} must be a whole number, not "${text}".`];
  }
  const n = parseInt(text, 10);
  if ((min !== undefined && n < Number(min)) || (max !== undefined && n > Number(max))) {
    return [n, `${option.label} must be between ${min ?? '-∞'} and ${max ?? '∞'}, not ${n}.`];
  }
  return [n, null];
}

function checkList(option: IOption, text: string): Checked<string[]> {
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

function checkEntry(option: IOption, key: string, value: string): string | null {
  if ((option.key_max_length !== undefined && key.length > option.key_max_length) ||
      (option.key_pattern && !new RegExp(option.key_pattern).test(key))) {
    return `${option.label}: "${key}" is not a valid name.`;
  }
  if ((option.reserved_keys || []).includes(key) ||
      (option.reserved_prefixes || []).some(p => key.startsWith(p))) {
    return `${option.label}: ${key} is set by fedspawner itself; choose another name.`;
  }
  if (option.allowed_keys || option.allowed_prefixes) {
    const keys = option.allowed_keys || [];
    const prefixes = option.allowed_prefixes || [];
    if (!keys.includes(key) && !prefixes.some(p => key.startsWith(p))) {
      return `${option.label}: ${key} can't be set on a job. Allowed: ${prefixes.map(p => `${p}*`).join(', ')}` +
        `${prefixes.length && keys.length ? ', ' : ''}${keys.join(', ')}.`;
    }
  }
  if (option.value_max_length !== undefined && value.length > option.value_max_length) {
    return `${option.label}: the value of ${key} is longer than ${option.value_max_length} characters.`;
  }
  return null;
}

/** KEY=VALUE lines as a mapping (a key given twice: the last value). */
function checkMapping(option: IOption, text: string): Checked<{ [k: string]: string }> {
  const out: { [k: string]: string } = {};
  let error: string | null = null;
  for (const line of lines(text)) {
    const eq = line.indexOf('=');
    if (eq <= 0) {
      error = error || `${option.label}: "${line}" is not KEY=VALUE (one per line).`;
      continue;
    }
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1);
    error = error || checkEntry(option, key, value);
    out[key] = value;
  }
  const count = Object.keys(out).length;
  if (!error && option.max_items !== undefined && count > option.max_items) {
    error = `${option.label}: at most ${option.max_items} entries.`;
  }
  return [out, error];
}

function checkQuantity(option: IOption, text: string, kind: string): string | null {
  const written = !option.pattern || new RegExp(option.pattern).test(text);
  const q = written ? parseQuantity(text) : null;
  if (q === null || q.digits < 0n) {
    return `${option.label} "${text}" is not a quantity (like 500m, 2 or 4Gi).`;
  }
  const min = option.minimum_by_kind?.[kind] ?? option.minimum;
  const lowest = min === undefined ? null : parseQuantity(String(min));
  if (min !== undefined && lowest && compareQuantities(q, lowest) < 0) {
    return `${option.label} must be at least ${min} for ${kind} jobs.`;
  }
  const highest = option.maximum === undefined ? null : parseQuantity(String(option.maximum));
  if (highest && compareQuantities(q, highest) > 0) {
    return `${option.label} must be at most ${option.maximum}.`;
  }
  return null;
}

function checkClusters(option: IOption, text: string): Checked<unknown> {
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

function checkGpus(option: IOption, raw: { type: string; count: string }): Checked<unknown> {
  const type = raw.type || null;
  const text = raw.count.trim() || '0';
  if (option.string_pattern && !new RegExp(option.string_pattern).test(type ? `${type}:${text}` : text)) {
    return [{ type, count: text }, `${option.label} must be a whole number, not "${text}".`];
  }
  const [count, error] = checkInteger(option, text, option.count_minimum, option.count_maximum);
  if (error) {
    return [{ type, count }, error];
  }
  if (raw.type && option.choices && !option.choices.includes(raw.type)) {
    return [{ type, count }, `No member cluster has GPUs of type ${raw.type}; choose from ${option.choices.join(', ')}.`];
  }
  if (raw.type && count === 0) {
    return [{ type, count }, `Give how many ${raw.type} GPUs per node (or choose no GPU type).`];
  }
  return [{ type, count }, null];
}

/**
 * One field's text as the spec's value, with a message when it breaks the schema's rules (the
 * value is then what the spec would carry without the check: the gateway refuses it too);
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

/** Only what the gateway strips as blank (Python's whitespace, which differs from JavaScript's). */
const PY_BLANK = /^[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The spec of a job of `kind` running `script`, from the form's fields (by option name). */
export function buildSpec(schema: ISchema, kind: string, raws: { [name: string]: RawValue }, script: string
): IBuilt {
  const built: IBuilt = { spec: { kind, script }, errors: {} };
  if (!schema.kinds.includes(kind)) {
    built.errors.kind = schema.removed_kinds?.[kind] ?? `Kind must be one of ${schema.kinds.join(', ')}.`;
  }
  if (PY_BLANK.test(script)) {
    built.errors.script = 'The cell (or file) is empty: there is nothing to run.';
  } else if (LONE_SURROGATE.test(script)) {
    built.errors.script = 'The script holds characters that cannot be sent as UTF-8 (lone surrogates); remove them.';
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
