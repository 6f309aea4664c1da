// Reading the app's answer to an event the way daprd does (contract §6.3): an empty or non-JSON 2xx is SUCCESS,
// `{"status": ...}` decides otherwise, 404 drops, anything else retries.

import type { AppResponse } from '../appchannel/http-pool.js';

export type DeliveryOutcome = 'success' | 'retry' | 'drop';

export interface DeliveryResult {
  outcome: DeliveryOutcome;
  /** Why a retry or drop happened, for the log. */
  reason: string;
}

const SUCCESS: DeliveryResult = Object.freeze({ outcome: 'success', reason: '' });

const STATUS_OUTCOMES: Readonly<Record<string, DeliveryOutcome>> = { SUCCESS: 'success', '': 'success', RETRY: 'retry', DROP: 'drop' };

/** The `status` field of a JSON answer, or undefined when the body is not a JSON object carrying one. */
function statusOf(body: Buffer): unknown {
  if (body.length === 0 || body[0] !== 0x7b) return undefined;
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)['status'] : undefined;
  } catch {
    return undefined;
  }
}

export function eventResult(res: AppResponse): DeliveryResult {
  if (res.status === 404) return { outcome: 'drop', reason: 'the app answered 404' };
  if (res.status < 200 || res.status > 299) return { outcome: 'retry', reason: `the app answered ${res.status}` };
  const status = statusOf(res.body);
  if (status === undefined) return SUCCESS;
  const outcome = typeof status === 'string' ? STATUS_OUTCOMES[status] : undefined;
  if (outcome === undefined) return { outcome: 'retry', reason: `unknown status ${JSON.stringify(status)} in the app's answer` };
  return outcome === 'success' ? SUCCESS : { outcome, reason: `the app answered status ${status}` };
}

/**
 * Per-entry outcomes of a bulk delivery. A 404 drops every entry, another non-2xx retries every entry; in a 2xx
 * answer an entry without a (known) status counts as RETRY.
 */
export function bulkResults(res: AppResponse, entryIds: readonly string[]): Map<string, DeliveryResult> {
  const results = new Map<string, DeliveryResult>();
  const all = (result: DeliveryResult): Map<string, DeliveryResult> => {
    for (const id of entryIds) results.set(id, result);
    return results;
  };
  if (res.status === 404) return all({ outcome: 'drop', reason: 'the app answered 404' });
  if (res.status < 200 || res.status > 299) return all({ outcome: 'retry', reason: `the app answered ${res.status}` });
  let statuses: unknown;
  try {
    statuses = (JSON.parse(res.body.toString('utf8')) as Record<string, unknown> | null)?.['statuses'];
  } catch {
    statuses = undefined;
  }
  const missing: DeliveryResult = { outcome: 'retry', reason: 'no status for the entry in the app\'s answer' };
  all(missing);
  if (!Array.isArray(statuses)) return results;
  for (const item of statuses) {
    if (typeof item !== 'object' || item === null) continue;
    const { entryId, status } = item as Record<string, unknown>;
    if (typeof entryId !== 'string' || !results.has(entryId)) continue;
    const outcome = typeof status === 'string' ? STATUS_OUTCOMES[status] : undefined;
    results.set(
      entryId,
      outcome === undefined
        ? { outcome: 'retry', reason: `unknown status ${JSON.stringify(status)} for the entry` }
        : outcome === 'success'
          ? SUCCESS
          : { outcome, reason: `the app answered status ${status as string} for the entry` },
    );
  }
  return results;
}
