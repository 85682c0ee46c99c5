/**
 * Calls to the server extension under `{base_url}fedspawner/`, with the browser's Jupyter
 * authentication (cookie + XSRF header, through ServerConnection).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** An error answer of the server extension: `{message, reason}` and the HTTP status. */
export class ApiError extends Error {
  constructor(message: string, readonly status: number, readonly reason: string) {
    super(message);
  }

  /** Worth retrying later (gateway down or restarting, network trouble). */
  get transient(): boolean {
    return this.status === 0 || this.reason === 'unreachable' || this.status >= 502;
  }
}

const settings = ServerConnection.makeSettings();

/** The absolute URL of a route (with a query built from `query`). */
export function apiUrl(path: string, query: { [k: string]: string | number | boolean | null | undefined } = {}
): string {
  const params = Object.entries(query)
    .filter(([, v]) => v !== null && v !== undefined && v !== false && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v === true ? '1' : String(v))}`)
    .join('&');
  const url = URLExt.join(settings.baseUrl, 'fedspawner', path);
  return params ? `${url}?${params}` : url;
}

/** A raw response of a route; throws ApiError for an error status or a network failure. */
export async function requestRaw(url: string, init: RequestInit = {}): Promise<Response> {
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    if ((error as Error).name === 'AbortError') {
      throw error;
    }
    throw new ApiError(`The notebook server did not answer (${(error as Error).message}).`, 0, 'network');
  }
  if (!response.ok) {
    let message = response.statusText;
    let reason = 'error';
    try {
      const body = await response.json();
      message = body.message || message;
      reason = body.reason || reason;
    } catch {
      // not JSON: keep the status text
    }
    throw new ApiError(message, response.status, reason);
  }
  return response;
}

/** The JSON answer of a route. */
export async function requestJson<T>(path: string, init: RequestInit = {},
  query: { [k: string]: string | number | boolean | null | undefined } = {}): Promise<T> {
  const response = await requestRaw(apiUrl(path, query), init);
  return (await response.json()) as T;
}

/** A JSON body for POST. */
export function jsonBody(method: string, body: unknown): RequestInit {
  return { method, body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } };
}
