// Retries of what components deliver to the app (pub/sub messages, input binding events) under the component's
// inbound resiliency policy. Without a policy the sidecar does not retry: the broker or binding does.

import { setTimeout as sleep } from 'node:timers/promises';
import { componentInboundPolicy, retryDelay, type Resiliency } from '../resources/index.js';

export interface InboundPolicy {
  /** Per attempt; 0: none. */
  timeoutMs: number;
  /** -1: until stopped. */
  maxRetries: number;
  retryDelayMs(attempt: number): number;
}

export function inboundPolicy(resiliencies: readonly Resiliency[], componentName: string, kind: 'Pubsub' | 'Bindings'): InboundPolicy | null {
  const policy = componentInboundPolicy(resiliencies, componentName, kind);
  if (policy.retry === null && policy.timeoutMs === 0) return null;
  return {
    timeoutMs: policy.timeoutMs,
    maxRetries: policy.retry?.maxRetries ?? 0,
    retryDelayMs: policy.retry === null ? () => 0 : retryDelay(policy.retry),
  };
}

export interface InboundAttempts<R> {
  /** One delivery; must not reject (a failure is a result that asks for a retry). */
  attempt(): Promise<R>;
  failed(result: R): boolean;
  /** Shutdown: no further attempt starts. */
  stopped(): boolean;
  onRetry(result: R): void;
}

/** The first result that did not fail, or the last failed one once the policy gives up or delivery stopped. */
export async function deliverWithRetries<R>(policy: InboundPolicy | null, attempts: InboundAttempts<R>): Promise<R> {
  for (let attempt = 0; ; attempt++) {
    const result = await attempts.attempt();
    if (!attempts.failed(result) || policy === null || attempts.stopped()) return result;
    if (policy.maxRetries >= 0 && attempt >= policy.maxRetries) return result;
    attempts.onRetry(result);
    await sleep(policy.retryDelayMs(attempt + 1));
    if (attempts.stopped()) return result;
  }
}
