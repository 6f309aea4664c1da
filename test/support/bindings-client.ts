// Calling the output-bindings API of a running sidecar the way an app does: `POST /v1.0/bindings/{name}`.

import { http, type HttpResult } from './http.js';
import type { SidecarProcess } from './sidecar.js';

export interface BindingCall {
  operation: string;
  /** Any JSON value; sent as the body's `data` field. */
  data?: unknown;
  metadata?: Record<string, string>;
}

export function invokeBinding(sidecar: SidecarProcess, name: string, call: BindingCall): Promise<HttpResult> {
  return http(sidecar.url(`/v1.0/bindings/${encodeURIComponent(name)}`), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(call),
  });
}

/** The `metadata.*` response headers as a name -> value map (names lower-cased, as HTTP delivers them). */
export function responseMetadata(result: HttpResult): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers)) {
    if (name.startsWith('metadata.') && typeof value === 'string') out[name.slice('metadata.'.length)] = value;
  }
  return out;
}
