import { buildSpec, compareQuantities, defaultText, optionsFor, parseQuantity } from '../src/schema';
import { SCHEMA } from './fixtures';

const option = (name: string) => SCHEMA.options.find(o => o.name === name)!;

describe('optionsFor', () => {
  it('shows each kind only the options it takes', () => {
    expect(optionsFor(SCHEMA, 'spark').map(o => o.name)).toContain('executors');
    expect(optionsFor(SCHEMA, 'spark').map(o => o.name)).not.toContain('nodes');
    expect(optionsFor(SCHEMA, 'pytorch').map(o => o.name)).not.toContain('conf');
    expect(optionsFor(SCHEMA, 'job').map(o => o.name)).not.toContain('kind');
  });

  it('writes defaults as field text, per kind when the default depends on it', () => {
    expect(defaultText(option('image'), 'job')).toBe('python:3.11-slim');
    expect(defaultText(option('image'), 'spark')).toBe('');
    expect(defaultText(option('nodes'), 'job')).toBe('1');
    expect(defaultText(option('env'), 'job')).toBe('');
  });
});

describe('buildSpec', () => {
  it('refuses a removed kind with the gateway\'s own message, and an unknown one with the kinds', () => {
    const removed = { tensorflow: "Kind 'tensorflow' was removed: use kind 'job' or 'pytorch'." };
    expect(buildSpec({ ...SCHEMA, removed_kinds: removed }, 'tensorflow', {}, 'x').errors.kind)
      .toBe(removed.tensorflow);
    expect(buildSpec(SCHEMA, 'ray', {}, 'x').errors.kind).toBe('Kind must be one of pytorch, spark, job.');
  });

  it('turns valid fields into the spec the gateway takes, leaving empty ones out', () => {
    const built = buildSpec(SCHEMA, 'pytorch', {
      name: 'ddp-run', cluster: 'regional, onprem', gpus: { type: 'nvidia-h100-80gb', count: '2' }, nodes: '2',
      image: '', packages: 'numpy>=1.26\n\nrich', env: 'A=1\nB=x=y', memory: '4Gi', language: 'python'
    }, 'print(1)');
    expect(built.errors).toEqual({});
    expect(built.spec).toEqual({
      kind: 'pytorch', script: 'print(1)', name: 'ddp-run', cluster: ['regional', 'onprem'],
      gpus: { type: 'nvidia-h100-80gb', count: 2 }, nodes: 2, packages: ['numpy>=1.26', 'rich'],
      env: { A: '1', B: 'x=y' }, memory: '4Gi', language: 'python'
    });
  });

  it('sends auto or one cluster name as a string', () => {
    expect(buildSpec(SCHEMA, 'job', { cluster: '' }, 'x').spec.cluster).toBe('auto');
    expect(buildSpec(SCHEMA, 'job', { cluster: 'onprem' }, 'x').spec.cluster).toBe('onprem');
  });

  it.each([
    ['name', 'Bad_Name', /must match/],
    ['nodes', '0', /between 1 and 1000/],
    ['nodes', '2.5', /whole number/],
    ['cluster', 'mars', /no cluster "mars"/],
    ['cluster', 'onprem,onprem', /at most once/],
    ['cluster', 'onprem,regional,onprem', /at most 2 clusters/],
    ['packages', 'a\nb\nc\nd', /at most 3 entries/],
    ['packages', '-e .', /not a valid entry/],
    ['env', 'NOEQUALS', /KEY=VALUE/],
    ['env', 'RANK=1', /set by fedspawner/],
    ['env', 'FEDSPAWNER_X=1', /set by fedspawner/],
    ['env', '1A=1', /not a valid name/],
    ['env', 'A=01234567890', /longer than 10/],
    ['memory', 'lots', /not a quantity/],
    ['memory', '32Mi', /at least 64Mi/],
    ['memory', '+1Gi', /not a quantity/],
    ['memory', '1e3Mi', /not a quantity/],
    ['memory', '513Gi', /at most 512Gi/],
    ['image', 'team/' + 'a'.repeat(16) + ':v1', /name \(without tag and digest\) is longer than 20/],
    ['gpus', { type: '', count: '1.5' }, /whole number/],
    ['language', 'bash', /one of python for pytorch/]
  ])('refuses %s = %j', (name, value, message) => {
    const built = buildSpec(SCHEMA, 'pytorch', { [name]: value }, 'print(1)');
    expect(built.errors[name]).toMatch(message);
    expect(Object.keys(built.errors)).toEqual([name]);
  });

  it('applies per-kind limits and kind-only options', () => {
    expect(buildSpec(SCHEMA, 'spark', { memory: '1Gi' }, 'x').errors.memory).toMatch(/1536Mi for spark/);
    expect(buildSpec(SCHEMA, 'spark', { conf: 'spark.master=local' }, 'x').errors.conf)
      .toMatch(/spark.master can't be set on a job. Allowed: spark.sql.\*, spark.default.parallelism/);
    expect(buildSpec(SCHEMA, 'spark', { conf: 'spark.sqlx=1' }, 'x').errors.conf).toMatch(/can't be set/);
    expect(buildSpec(SCHEMA, 'spark', { conf: 'spark.default.parallelism=8' }, 'x').errors).toEqual({});
    expect(buildSpec(SCHEMA, 'spark', { conf: 'spark.sql.shuffle.partitions=4', executors: '3' }, 'x').spec)
      .toMatchObject({ conf: { 'spark.sql.shuffle.partitions': '4' }, executors: 3 });
    expect(buildSpec(SCHEMA, 'job', { executors: '3' }, 'x').spec.executors).toBeUndefined();
  });

  it('measures an image by its name, not its tag or digest', () => {
    const name = 'team/' + 'a'.repeat(15);
    expect(buildSpec(SCHEMA, 'job', { image: `${name}:${'v'.repeat(100)}@sha256:${'0'.repeat(64)}` }, 'x').errors)
      .toEqual({});
    expect(buildSpec(SCHEMA, 'job', { image: `host:5000/${name}` }, 'x').errors.image).toMatch(/longer than 20/);
  });

  it('checks GPU type and count together', () => {
    const gpus = (type: string, count: string) => buildSpec(SCHEMA, 'job', { gpus: { type, count } }, 'x');
    expect(gpus('', '0').spec.gpus).toBeUndefined();
    expect(gpus('', '2').spec.gpus).toEqual({ type: null, count: 2 });
    expect(gpus('nvidia-h100-80gb', '0').errors.gpus).toMatch(/how many/);
    expect(gpus('nvidia-h100-80gb', '65').errors.gpus).toMatch(/between 0 and 64/);
    expect(gpus('amd-mi300x', '1').errors.gpus).toMatch(/No member cluster has GPUs of type amd-mi300x/);
  });

  it('refuses an empty or too large script and an unknown kind', () => {
    expect(buildSpec(SCHEMA, 'job', {}, '  \n').errors.script).toMatch(/empty/);
    expect(buildSpec(SCHEMA, 'job', {}, 'x'.repeat(1001)).errors.script).toMatch(/larger than 1000 bytes/);
    expect(buildSpec(SCHEMA, 'ray', {}, 'x').errors.kind).toMatch(/one of pytorch, spark, job/);
  });

  it('parses Kubernetes quantities exactly, as the gateway does', () => {
    expect(parseQuantity('500m')).toEqual({ digits: 500n, exponent: -3 });
    expect(parseQuantity('2Gi')).toEqual({ digits: 2n * 2n ** 30n, exponent: 0 });
    expect(parseQuantity('1.5')).toEqual({ digits: 15n, exponent: -1 });
    expect(parseQuantity('1e3m')).toEqual({ digits: 1n, exponent: 0 });
    expect(parseQuantity('+.5u')).toEqual({ digits: 5n, exponent: -7 });
    for (const text of ['2 Gi', '1.2.3', '.', '', 'e3', '5e', '1i', '1_000', 'Infinity', '1e9999999']) {
      expect(parseQuantity(text)).toBeNull();
    }
  });

  it('rounds to 28 significant digits and compares exactly', () => {
    const q = (text: string) => parseQuantity(text)!;
    expect(compareQuantities(q('512.00000000000000000000000001'), q('512'))).toBe(0);  // 29 digits: rounded
    expect(compareQuantities(q('512.000000000000000000000001'), q('512'))).toBe(1);
    expect(compareQuantities(q('0.001'), q('1m'))).toBe(0);
    expect(compareQuantities(q('67108863'), q('64Mi'))).toBe(-1);
    expect(compareQuantities(q('-1'), q('0'))).toBe(-1);
    expect(compareQuantities(q('1E'), q('999P'))).toBe(1);
  });
});
