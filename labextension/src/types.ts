/**
 * Shapes of the server extension's REST answers (see fedspawner/lab/handlers.py).
 */

/** `GET config`: whether a gateway is configured and who this server acts for. */
export interface IConfig {
  configured: boolean;
  gateway_url: string | null;
  user: string | null;
  is_admin: boolean;
  reachable: boolean | null;
  message: string | null;
  hint: string | null;
  version: string;
}

/** GPU availability of one canonical type on one cluster. */
export interface IGpu {
  type: string;
  display: string;
  free: number | null;
  upper_bound: number | null;
  best_known_free?: number | null;
  total: number;
  max_per_node?: number;
  largest_free?: number | null;
  note?: string | null;
}

/** One member cluster as the gateway shows it to this user. */
export interface ICluster {
  name: string;
  display_name?: string;
  site?: string | null;
  owner?: string | null;
  healthy: boolean;
  usable?: boolean;
  reason?: string;
  taken_at?: number | null;
  gpus: IGpu[];
}

export interface IClustersFeed {
  version: string;
  clusters: ICluster[];
}

/** Where a job came from: the notebook (relative path) and cell id. */
export interface IOrigin {
  path: string;
  cell?: string | null;
}

/** One row of the jobs feed. */
export interface IJobRow {
  id: string;
  name: string;
  kind: string;
  owner: string;
  cluster: string;
  backend?: string | null;
  gpu_type: string | null;
  gpu_display?: string | null;
  gpus_per_node: number;
  nodes: number;
  phase: string;
  message?: string | null;
  ranks: { ready: number; total: number };
  created: string | null;
  started?: string | null;
  finished?: string | null;
  origin?: IOrigin | null;
  queue?: IQueue | null;
}

/** Where a job stands in a member cluster's Kueue queue (the gateway's ``Queue``). */
export interface IQueue {
  name: string;
  cluster: string;
  state: 'queued' | 'admitted' | 'finished';
  position?: number | null;
  pending?: number | null;
  reason?: string | null;
  admitted?: string | null;
  /** On a MultiKueue manager: the worker cluster the job was dispatched to (its pods run there). */
  dispatched_to?: string | null;
  text: string;
}

export interface IJobsFeed {
  version: string;
  jobs: IJobRow[];
  unavailable?: { cluster: string; reason: string }[];
}

/** One pod (rank) of a job's detail. */
export interface IPod {
  name: string;
  rank: number;
  role: string;
  phase: string;
  node: string | null;
  restarts: number;
  ready: boolean;
  reason: string | null;
}

/** `GET jobs/{id}`: the full job, plus the submitted spec (for resubmit). */
export interface IJob extends Omit<IJobRow, 'ranks'> {
  ranks?: { ready: number; total: number };
  pods: IPod[];
  /** The pods the job runs when everything is up, as its kind counts them. */
  expected_pods?: number;
  /** How its kind names rank 0, whose log shows progress ('rank 0', 'driver'). */
  leader?: string;
  progress?: { step: number; total: number; [k: string]: unknown } | null;
  ui_url?: string | null;
  history?: string[];
  executors?: number | null;
  image?: string | null;
}

/** One option of the option schema. */
export interface IOption {
  name: string;
  label: string;
  type: string;
  help: string;
  default: unknown;
  kinds: string[];
  required: boolean;
  flag: string | null;
  choices?: string[];
  choices_by_kind?: { [kind: string]: string[] };
  minimum?: number | string;
  maximum?: number | string;
  minimum_by_kind?: { [kind: string]: string };
  pattern?: string;
  max_length?: number;
  item_pattern?: string;
  max_items?: number;
  item_max_length?: number;
  key_pattern?: string;
  key_max_length?: number;
  value_max_length?: number;
  reserved_keys?: string[];
  reserved_prefixes?: string[];
  allowed_keys?: string[];
  allowed_prefixes?: string[];
  name_max_length?: number;
  string_pattern?: string;
  count_minimum?: number;
  count_maximum?: number;
  type_pattern?: string;
  auto?: string;
  unit?: string;
}

export interface IGpuType {
  name: string;
  display: string;
  clusters: string[];
}

/** `GET options`: the option schema. */
export interface ISchema {
  version: string;
  options: IOption[];
  kinds: string[];
  /** Kinds the gateway refuses, each with what to use instead (e.g. a removed kind). */
  removed_kinds?: { [kind: string]: string };
  clusters: string[];
  gpu_types: IGpuType[];
  max_script_bytes?: number;
  limits?: ILimits;
}

/** The administrators' limits on one job, as the schema publishes them (also each option's maximum). */
export interface ILimits {
  nodes: number;
  executors: number;
  gpus_per_node: number;
  cpu: string;
  memory: string;
}

/** One interactive Spark session of the user (`GET sessions`: the gateway's `Session`). */
export interface ISession {
  id: string;
  name: string | null;
  owner: string | null;
  cluster: string;
  executors: number | null;
  cpu?: string | null;
  memory?: string | null;
  phase: string;
  message: string;
  created: string | null;
  connections?: number;
  /** Seconds since its tunnel last carried traffic, when the answer was made. */
  idle_seconds: number | null;
  /** The Spark UI: a path on the hub's origin. */
  ui_url?: string | null;
}

export interface ISessionsAnswer {
  sessions: ISession[];
}

/** The phases a job ends in. */
export const FINISHED_PHASES = ['Succeeded', 'Failed', 'Cancelled'];

/** One cluster of a dry run (`POST jobs/plan`), best first. */
export interface IPlanCandidate {
  cluster: string;
  gpu_type?: string | null;
  reason?: string;
  queue?: string | null;
  queue_reason?: string | null;
  refused?: string | null;
  predicted_wait?: number | null;
}

/** Where a job would go and why, with nothing created. */
export interface IPlan {
  cluster: string | null;
  candidates: IPlanCandidate[];
}
