/**
 * The timed cases of the wasm scenario: what each runs, how its result is checked, and the timing of one case in
 * the process it runs in.
 */
import { MiddlewareChain } from '../../proxy/middleware/chain.js';
import { WasmMiddleware, type HttpExchange } from '../../middleware-wasm/host/index.js';
import type { BenchGuests } from './wasm-guests.js';
import { freshExchanges, runThrough, ReusedExchange, timeBatches, type BatchPlan, type BatchSummary, type ExchangeSource } from './wasm-timing.js';

export const caseNames = ['floor', 'template', 'chain'] as const;
export type CaseName = (typeof caseNames)[number];

interface BenchCase {
  readonly name: CaseName;
  readonly description: string;
  readonly chain: MiddlewareChain;
  /** Throws unless the guests did to the exchange what they are meant to: a bench of a no-op is no bench. */
  check(exchange: HttpExchange): void;
}

/** One case timed in one process. */
export interface CaseResult {
  readonly name: CaseName;
  readonly description: string;
  readonly reused: BatchSummary;
  readonly fresh: BatchSummary;
}

function headerValue(exchange: HttpExchange, kind: 'request' | 'response', name: string): string | undefined {
  const values: string[] = [];
  const headers = kind === 'request' ? exchange.requestHeaders : exchange.responseHeaders;
  return headers.collectValues(name, values) === 1 ? values[0] : undefined;
}

const expectedUri = '/tenants/acme/v1.0/invoke/orders/method/list?page=2';

function checkTemplate(exchange: HttpExchange): void {
  if (exchange.uri !== expectedUri || headerValue(exchange, 'request', 'x-tenant-routed') !== 'true') {
    throw new Error(`the template middleware did not route the request (uri "${exchange.uri}")`);
  }
}

function checkServedBy(exchange: HttpExchange): void {
  if (headerValue(exchange, 'response', 'x-served-by') !== 'pillion') throw new Error('the response-header guest did not stamp the response');
}

async function prepareCases(guests: BenchGuests): Promise<BenchCase[]> {
  const load = (bytes: Uint8Array, name: string): Promise<WasmMiddleware> => WasmMiddleware.load(bytes, { name });
  const noop = await load(guests.noop, 'noop');
  const template = await load(guests.template, 'template');
  // Each middleware of a chain has its own instance, as separate entries of a pipeline do.
  const chain = [await load(guests.noop, 'chain-noop'), await load(guests.template, 'chain-template'), await load(guests.responseHeader, 'chain-response-header')];
  return [
    { name: 'floor', description: 'no-op guest: handle_request (next); its handle_response is empty, which the host does not call', chain: new MiddlewareChain([noop]), check: () => undefined },
    { name: 'template', description: 'SDK template: header read + URI rewrite + header set', chain: new MiddlewareChain([template]), check: checkTemplate },
    {
      name: 'chain',
      description: 'no-op -> template -> response header, request through all three, response through the last (the others\' handle_response is empty)',
      chain: new MiddlewareChain(chain),
      check: (exchange) => {
        checkTemplate(exchange);
        checkServedBy(exchange);
      },
    },
  ];
}

function measureCase(benchCase: BenchCase, plan: BatchPlan): CaseResult {
  const reusedExchange = new ReusedExchange();
  const sources: [ExchangeSource, ExchangeSource] = [reusedExchange, freshExchanges];
  for (const source of sources) {
    const exchange = source.next();
    runThrough(benchCase.chain, exchange);
    benchCase.check(exchange);
  }
  const reused = timeBatches(benchCase.chain, reusedExchange, plan);
  const fresh = timeBatches(benchCase.chain, freshExchanges, plan);
  return { name: benchCase.name, description: benchCase.description, reused, fresh };
}

/** Times `cases`, in the order of `caseNames`, in this process. */
export async function measureCases(guests: BenchGuests, cases: readonly CaseName[], plan: BatchPlan): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const benchCase of await prepareCases(guests)) {
    if (cases.includes(benchCase.name)) results.push(measureCase(benchCase, plan));
  }
  return results;
}

/** What one timing process is asked to do (its argument, as JSON). */
export interface WorkerTask {
  /** Where `writeGuests` put the guests. */
  readonly guestDir: string;
  readonly cases: readonly CaseName[];
  readonly plan: BatchPlan;
}
