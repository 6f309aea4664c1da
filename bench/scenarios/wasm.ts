/**
 * The wasm scenario: the http-wasm middleware host measured in-process, without HTTP. It times ns per request
 * (handle_request + handle_response) for a no-op guest (the host's floor), the SDK's template middleware and a
 * chain of three guests, and the cold start of a guest: compile + instantiate + first request.
 */
import { randomBytes } from 'node:crypto';
import { MiddlewareChain } from '../../proxy/middleware/chain.js';
import { WasmMiddleware, type HttpExchange } from '../../middleware-wasm/host/index.js';
import { positiveInteger, resolveCommon, type CommonSettings } from '../lib/cli.js';
import { chooseSubset, parseScenarioOptions } from '../lib/options.js';
import { pinSelf } from '../lib/pinning.js';
import type { Scenario } from '../lib/scenario.js';
import { writeScenarioResults } from '../lib/scenario-results.js';
import { renderTable } from '../lib/table.js';
import { renderTargets, type TargetCheck } from './invoke-report.js';
import { distinctCopy, loadBenchGuests, type BenchGuests } from './wasm-guests.js';
import {
  benchRequest,
  freshExchanges,
  runThrough,
  quantile,
  ReusedExchange,
  timeBatches,
  type BatchPlan,
  type BatchSummary,
  type ExchangeSource,
} from './wasm-timing.js';

const defaults = { batches: 30, batchSize: 20_000, coldRuns: 30, warmupMs: 1000 };
/** --quick keeps the whole run (building the template included) within a few seconds. */
const quickDefaults = { batches: 30, batchSize: 2_000, coldRuns: 5, warmupMs: 200 };
/** A fresh exchange is reported as differing "much" from a reused one past this ratio of the reused figure. */
const notableFreshRatio = 0.2;

const caseNames = ['floor', 'template', 'chain'] as const;
type CaseName = (typeof caseNames)[number];

interface WasmSettings extends CommonSettings, BatchPlan {
  readonly cases: readonly CaseName[];
  readonly coldRuns: number;
}

const usage = `  --cases LIST        comma-separated subset of ${caseNames.join(',')} (default: all)
  --batches N         timed batches per case (default ${defaults.batches})
  --batch-size N      requests per batch (default ${defaults.batchSize}, --quick ${quickDefaults.batchSize})
  --cold-runs N       cold starts timed per guest (default ${defaults.coldRuns}, --quick ${quickDefaults.coldRuns})
  (--warmup is per case, default ${defaults.warmupMs / 1000} s, --quick ${quickDefaults.warmupMs / 1000} s; --duration and --sidecar are not used;
   the harness runs on the load CPU, --load-cpus)`;

function parseSettings(args: readonly string[]): WasmSettings {
  const values = parseScenarioOptions(args, {
    cases: { type: 'string' },
    batches: { type: 'string' },
    'batch-size': { type: 'string' },
    'cold-runs': { type: 'string' },
  });
  const common = resolveCommon(values);
  const fallback = common.quick ? quickDefaults : defaults;
  return {
    ...common,
    warmupMs: values.warmup === undefined ? fallback.warmupMs : common.warmupMs,
    cases: chooseSubset('cases', values.cases, caseNames),
    batches: positiveInteger('batches', values.batches, fallback.batches),
    batchSize: positiveInteger('batch-size', values['batch-size'], fallback.batchSize),
    coldRuns: positiveInteger('cold-runs', values['cold-runs'], fallback.coldRuns),
  };
}

interface BenchCase {
  readonly name: CaseName;
  readonly description: string;
  readonly chain: MiddlewareChain;
  /** Throws unless the guests did to the exchange what they are meant to: a bench of a no-op is no bench. */
  check(exchange: HttpExchange): void;
}

interface CaseResult {
  readonly name: CaseName;
  readonly description: string;
  readonly reused: BatchSummary;
  readonly fresh: BatchSummary;
}

interface ColdStart {
  readonly guest: string;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly minMs: number;
  readonly runsMs: readonly number[];
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
    { name: 'floor', description: 'no-op guest: handle_request (next) + handle_response', chain: new MiddlewareChain([noop]), check: () => undefined },
    { name: 'template', description: 'SDK template: header read + URI rewrite + header set', chain: new MiddlewareChain([template]), check: checkTemplate },
    {
      name: 'chain',
      description: 'no-op -> template -> response header, request and response through all three',
      chain: new MiddlewareChain(chain),
      check: (exchange) => {
        checkTemplate(exchange);
        checkServedBy(exchange);
      },
    },
  ];
}

function measureCase(benchCase: BenchCase, settings: WasmSettings): CaseResult {
  const reusedExchange = new ReusedExchange();
  const sources: [ExchangeSource, ExchangeSource] = [reusedExchange, freshExchanges];
  for (const source of sources) {
    const exchange = source.next();
    runThrough(benchCase.chain, exchange);
    benchCase.check(exchange);
  }
  const reused = timeBatches(benchCase.chain, reusedExchange, settings);
  const fresh = timeBatches(benchCase.chain, freshExchanges, settings);
  console.log(
    `  ${benchCase.name.padEnd(9)} reused exchange ${ns(reused.medianNs)} ns/req (p99 ${ns(reused.p99Ns)})  ` +
      `fresh exchange ${ns(fresh.medianNs)} ns/req (p99 ${ns(fresh.p99Ns)})`,
  );
  return { name: benchCase.name, description: benchCase.description, reused, fresh };
}

/** Compile + instantiate + one request and response, each run on bytes V8 has not compiled before. */
async function measureColdStart(guest: string, bytes: Uint8Array, runs: number, runTag: string): Promise<ColdStart> {
  const runsMs: number[] = [];
  for (let run = 0; run < runs; run++) {
    const distinct = distinctCopy(bytes, `${runTag}-${guest}-${run}`);
    const exchange = new ReusedExchange().next();
    const start = process.hrtime.bigint();
    const middleware = await WasmMiddleware.load(distinct, { name: `cold-${guest}` });
    runThrough(new MiddlewareChain([middleware]), exchange);
    runsMs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const sorted = runsMs.slice().sort((a, b) => a - b);
  const summary = { guest, medianMs: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), minMs: sorted[0]!, runsMs };
  console.log(`  cold ${guest.padEnd(9)} median ${ms(summary.medianMs)} ms (p99 ${ms(summary.p99Ms)}, min ${ms(summary.minMs)})`);
  return summary;
}

const ns = (value: number): string => value.toFixed(1);
const ms = (value: number): string => value.toFixed(3);

function renderCaseTable(results: readonly CaseResult[]): string {
  const rows = results.map((r) => {
    const extra = r.fresh.medianNs - r.reused.medianNs;
    const notable = extra > notableFreshRatio * r.reused.medianNs ? ' (!)' : '';
    return [r.name, ns(r.reused.medianNs), ns(r.reused.p99Ns), ns(r.reused.minNs), ns(r.fresh.medianNs), ns(r.fresh.p99Ns), `${extra >= 0 ? '+' : ''}${ns(extra)}${notable}`, r.description];
  });
  return renderTable(
    ['case', 'ns/req p50', 'p99', 'min', 'fresh p50', 'fresh p99', 'fresh - reused', 'what one request runs'],
    rows,
    ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
  );
}

function renderColdTable(cold: readonly ColdStart[]): string {
  const rows = cold.map((c) => [c.guest, ms(c.medianMs), ms(c.p99Ms), ms(c.minMs), String(c.runsMs.length)]);
  return renderTable(['cold start', 'ms p50', 'p99', 'min', 'runs'], rows, ['left', 'right', 'right', 'right', 'right']);
}

function checkTargets(results: readonly CaseResult[], cold: readonly ColdStart[]): TargetCheck[] {
  const check = (goal: string, value: number | undefined, limit: number, format: (v: number) => string): TargetCheck => ({
    goal,
    measured: value === undefined ? 'not measured' : format(value),
    met: value === undefined ? undefined : value <= limit,
  });
  const median = (name: CaseName): number | undefined => results.find((r) => r.name === name)?.reused.medianNs;
  const nanos = (v: number): string => `${ns(v)} ns/req`;
  return [
    check('host floor (no-op guest) p50 <= 50 ns/req', median('floor'), 50, nanos),
    check('header read + URI rewrite + header set p50 <= 300 ns/req', median('template'), 300, nanos),
    check('3-middleware chain p50 <= 1 µs/req', median('chain'), 1000, nanos),
    check('cold start (template) p50 <= 3 ms', cold.find((c) => c.guest === 'template')?.medianMs, 3, (v) => `${ms(v)} ms`),
  ];
}

async function runWasm(args: readonly string[]): Promise<void> {
  const settings = parseSettings(args);
  const startedAt = new Date();
  pinSelf(settings.pin);
  const pinning = settings.pin.load === undefined ? settings.pin.description : `harness (all its threads) on CPU ${settings.pin.load}`;

  console.log(
    `wasm middleware benchmark: in-process, no HTTP; ${settings.batches} batches of ${settings.batchSize} requests per case ` +
      `after ${settings.warmupMs / 1000} s warm-up; ${settings.coldRuns} cold starts per guest`,
  );
  console.log(`  pinning: ${pinning}`);
  console.log('  one request = handle_request then handle_response of every guest in the chain; per-batch ns/request from process.hrtime.bigint()');
  const buildStart = performance.now();
  const guests = await loadBenchGuests();
  console.log(`  guests: noop.wat and response-header.wat (wabt), template built with the SDK's release preset (${Math.round(performance.now() - buildStart)} ms)\n`);

  const results: CaseResult[] = [];
  for (const benchCase of await prepareCases(guests)) {
    if (settings.cases.includes(benchCase.name)) results.push(measureCase(benchCase, settings));
  }
  const runTag = randomBytes(4).toString('hex');
  const cold = [
    await measureColdStart('noop', guests.noop, settings.coldRuns, runTag),
    await measureColdStart('template', guests.template, settings.coldRuns, runTag),
  ];
  const targets = checkTargets(results, cold);

  console.log(`\n${renderCaseTable(results)}`);
  console.log('  ns/req: median, p99 and fastest of the per-batch means with one exchange reset in place per request;');
  console.log(`  fresh: a new MemoryExchange per request, built from ${benchRequest.requestHeaders.length / 2} wire headers; (!) marks a difference over ${notableFreshRatio * 100}% of the reused figure.`);
  console.log(`  p99 over ${settings.batches} batches is close to the slowest batch.`);
  console.log(`\n${renderColdTable(cold)}`);
  console.log('  cold start: compile (WebAssembly.compile of bytes never compiled before) + instantiate + _start + first request and response.');
  console.log(`\n${renderTargets(targets)}`);

  const file = writeScenarioResults(
    'wasm',
    startedAt,
    settings,
    { batches: settings.batches, batchSize: settings.batchSize, coldRuns: settings.coldRuns },
    {
      method: {
        hot: 'in-process; warm-up, then batches of N requests timed with process.hrtime.bigint(); per-batch ns/request, median and nearest-rank p99',
        reused: 'one exchange reset in place per request (header overlays replaced only when a guest changed them)',
        fresh: 'new MemoryExchange per request from a flat wire header list',
        coldStart: 'WasmMiddleware.load (compile + instantiate + _start) of bytes made distinct by a custom section, then one request and response',
      },
      request: benchRequest,
      cases: results,
      coldStart: cold,
      targets,
    },
  );
  console.log(`\nfull results: ${file}`);
}

export const wasmScenario: Scenario = {
  name: 'wasm',
  summary: 'http-wasm middleware host in-process: ns/request for a no-op guest, the SDK template, a 3-guest chain; cold start',
  usage,
  run: runWasm,
};
