/**
 * In-process timing of the wasm middleware host: the sidecar's chain runner on an exchange, batches of requests
 * timed with the nanosecond clock, and the exchanges the requests run on.
 */
import { HeaderOverlay, lowerCaseNames } from '../../middleware-wasm/host/headers.js';
import { MemoryExchange, type HttpExchange, type MemoryExchangeInit } from '../../middleware-wasm/host/index.js';
import type { MiddlewareChain } from '../../proxy/middleware/chain.js';

/** The request every timed exchange starts as: a service invocation with the headers a client usually sends. */
export const benchRequest = {
  method: 'GET',
  uri: '/v1.0/invoke/orders/method/list?page=2',
  requestHeaders: [
    'Host', '127.0.0.1:3500',
    'User-Agent', 'pillion-bench',
    'Accept', 'application/json',
    'X-Tenant', 'acme',
    'Traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  ],
  responseHeaders: ['Content-Type', 'application/json', 'Content-Length', '2'],
  responseBody: new TextEncoder().encode('{}'),
} as const satisfies MemoryExchangeInit;

const EMPTY = new Uint8Array(0);

/** Hands out the exchange each timed request runs on. */
export interface ExchangeSource {
  next(): HttpExchange;
}

/** One exchange reset in place before each request, so building exchanges is not part of what is timed. */
export class ReusedExchange implements HttpExchange, ExchangeSource {
  method = '';
  uri = '';
  readonly protocolVersion = 'HTTP/1.1';
  readonly sourceAddr = '127.0.0.1:40000';
  requestHeaders: HeaderOverlay;
  requestBody = EMPTY;
  statusCode = 200;
  responseHeaders: HeaderOverlay;
  responseBody = EMPTY;
  private readonly requestSnapshot = lowerCaseNames(benchRequest.requestHeaders);
  private readonly responseSnapshot = lowerCaseNames(benchRequest.responseHeaders);

  constructor() {
    this.requestHeaders = new HeaderOverlay(this.requestSnapshot);
    this.responseHeaders = new HeaderOverlay(this.responseSnapshot);
  }

  next(): HttpExchange {
    this.method = benchRequest.method;
    this.uri = benchRequest.uri;
    this.requestBody = EMPTY;
    this.statusCode = 200;
    this.responseBody = benchRequest.responseBody;
    // An overlay cannot forget its changes; one a guest changed is replaced (a small object over the same
    // snapshot, as the front makes per request), an untouched one is kept.
    if (this.requestHeaders.modified) this.requestHeaders = new HeaderOverlay(this.requestSnapshot);
    if (this.responseHeaders.modified) this.responseHeaders = new HeaderOverlay(this.responseSnapshot);
    return this;
  }
}

/** A new MemoryExchange per request: what a caller pays that builds one from wire headers each time. */
export const freshExchanges: ExchangeSource = {
  next: () => new MemoryExchange(benchRequest),
};

export interface BatchPlan {
  readonly batches: number;
  readonly batchSize: number;
  readonly warmupMs: number;
}

/** Median and p99 (nearest rank) of per-batch ns/request, with the fastest batch for reference. */
export interface BatchSummary {
  readonly medianNs: number;
  readonly p99Ns: number;
  readonly minNs: number;
  readonly perBatchNs: readonly number[];
}

/** Nearest-rank quantile of an ascending list. */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/**
 * One request through the sidecar's own chain runner; the app's answer would come between the two calls, and the
 * exchange already carries it.
 */
export function runThrough(chain: MiddlewareChain, exchange: HttpExchange): void {
  chain.enter(exchange).leave(false);
}

function runBatch(chain: MiddlewareChain, source: ExchangeSource, size: number): void {
  for (let i = 0; i < size; i++) runThrough(chain, source.next());
}

/** Warms up for `warmupMs` (at least one batch), then times `batches` batches of `batchSize` requests. */
export function timeBatches(chain: MiddlewareChain, source: ExchangeSource, plan: BatchPlan): BatchSummary {
  const warmEnd = performance.now() + plan.warmupMs;
  do runBatch(chain, source, plan.batchSize);
  while (performance.now() < warmEnd);
  const perBatchNs: number[] = [];
  for (let batch = 0; batch < plan.batches; batch++) {
    const start = process.hrtime.bigint();
    runBatch(chain, source, plan.batchSize);
    perBatchNs.push(Number(process.hrtime.bigint() - start) / plan.batchSize);
  }
  const sorted = perBatchNs.slice().sort((a, b) => a - b);
  return { medianNs: quantile(sorted, 0.5), p99Ns: quantile(sorted, 0.99), minNs: sorted[0]!, perBatchNs };
}
