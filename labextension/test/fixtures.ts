/** Shared test data: job rows and an option schema shaped as the gateway publishes them. */
import { IJobRow, ISchema } from '../src/types';

export function row(id: string, over: Partial<IJobRow> = {}): IJobRow {
  return {
    id, name: `job-${id}`, kind: 'pytorch', owner: 'ada', cluster: 'onprem', gpu_type: null,
    gpus_per_node: 0, nodes: 2, phase: 'Pending', message: null, ranks: { ready: 0, total: 2 },
    created: '2026-01-01T00:00:00Z', origin: null, ...over
  };
}

export const SCHEMA: ISchema = {
  version: 'v1',
  kinds: ['pytorch', 'spark', 'job'],
  clusters: ['onprem', 'regional'],
  gpu_types: [{ name: 'nvidia-h100-80gb', display: 'H100', clusters: ['onprem'] }],
  max_script_bytes: 1000,
  limits: { nodes: 1000, executors: 1000, gpus_per_node: 64, cpu: '512', memory: '512Gi' },
  options: [
    { name: 'kind', label: 'Kind', type: 'enum', help: 'What runs', default: null, kinds: ['pytorch', 'spark', 'job'],
      required: true, flag: null, choices: ['pytorch', 'spark', 'job'] },
    { name: 'name', label: 'Name', type: 'string', help: 'Job name', default: null, kinds: ['pytorch', 'spark', 'job'],
      required: false, flag: '--name', pattern: '^[a-z]([-a-z0-9]*[a-z0-9])?$', max_length: 40 },
    { name: 'cluster', label: 'Cluster', type: 'clusters', help: 'Where', default: 'auto',
      kinds: ['pytorch', 'spark', 'job'], required: false, flag: '--cluster', auto: 'auto', max_items: 2,
      pattern: '^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$', choices: ['auto', 'onprem', 'regional'] },
    { name: 'gpus', label: 'GPUs per node', type: 'gpus', help: 'GPUs', default: { type: null, count: 0 },
      kinds: ['pytorch', 'spark', 'job'], required: false, flag: '--gpus', count_minimum: 0, count_maximum: 64,
      string_pattern: '^\\s*(?:([A-Za-z0-9][A-Za-z0-9._-]{0,62}):)?([0-9]+)\\s*$', choices: ['nvidia-h100-80gb'] },
    { name: 'nodes', label: 'Nodes', type: 'integer', help: 'Pods', default: 1, kinds: ['pytorch', 'job'],
      required: false, flag: '--nodes', minimum: 1, maximum: 1000 },
    { name: 'image', label: 'Image', type: 'string', help: 'Image', default: { pytorch: 'pytorch/pytorch:2', job: 'python:3.11-slim' },
      kinds: ['pytorch', 'spark', 'job'], required: false, flag: '--image', pattern: '^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$', max_length: 500,
      name_max_length: 20 },
    { name: 'packages', label: 'pip packages', type: 'list', help: 'pip', default: [], kinds: ['pytorch', 'spark', 'job'],
      required: false, flag: '--pip', item_pattern: '^[A-Za-z0-9][A-Za-z0-9._\\-\\[\\],<>=!~ +:/@#%]*$', max_items: 3, item_max_length: 200 },
    { name: 'env', label: 'Environment', type: 'mapping', help: 'Env', default: {}, kinds: ['pytorch', 'spark', 'job'],
      required: false, flag: '--env', key_pattern: '^[A-Za-z_][A-Za-z0-9_]*$', max_items: 100, value_max_length: 10,
      reserved_keys: ['RANK'], reserved_prefixes: ['FEDSPAWNER_'] },
    { name: 'executors', label: 'Executors', type: 'integer', help: 'Spark executors', default: 2, kinds: ['spark'],
      required: false, flag: '--executors', minimum: 1, maximum: 1000 },
    { name: 'conf', label: 'Spark configuration', type: 'mapping', help: 'Spark', default: {}, kinds: ['spark'],
      required: false, flag: '--conf', key_pattern: '^spark\\.[A-Za-z0-9_\\-]+(\\.[A-Za-z0-9_\\-]+)*$', max_items: 200,
      allowed_keys: ['spark.default.parallelism'], allowed_prefixes: ['spark.sql.'] },
    { name: 'memory', label: 'Memory per pod', type: 'quantity', help: 'Memory', default: '2Gi',
      kinds: ['pytorch', 'spark', 'job'], required: false, flag: '--memory', minimum: '64Mi', minimum_by_kind: { spark: '1536Mi' }, maximum: '512Gi',
      pattern: '^([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$' },
    { name: 'language', label: 'Language', type: 'enum', help: 'Language', default: 'python', kinds: ['pytorch', 'spark', 'job'],
      required: false, flag: '--language', choices: ['python', 'bash'], choices_by_kind: { pytorch: ['python'], job: ['python', 'bash'] } }
  ]
};
