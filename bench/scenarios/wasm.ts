/**
 * The wasm scenario: the http-wasm middleware host measured in-process, without HTTP. It times ns per request
 * (handle_request, then handle_response where the guest's is not empty) for a no-op guest (the host's floor), the
 * SDK's template middleware and a chain of three guests, and the cold start of a guest: compile + instantiate +
 * first request.
 *
 * The timed cases run in several processes, one after another. Which functions V8 inlines into which depends on
 * the order its compiler threads finish in, and that order differs from process to process: over 14 processes, one
 * build timed the template between 282 and 367 ns/request. A single process's figure says more about its luck than
 * about the code, so the figure reported is the median of the processes' medians, next to their range.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MiddlewareChain } from '../../proxy/middleware/chain.js';
import { WasmMiddleware } from '../../middleware-wasm/host/index.js';
import { positiveInteger, resolveCommon, type CommonSettings } from '../lib/cli.js';
import { chooseSubset, parseScenarioOptions } from '../lib/options.js';
import { pinSelf } from '../lib/pinning.js';
import type { Scenario } from '../lib/scenario.js';
import { writeScenarioResults } from '../lib/scenario-results.js';
import { renderTable } from '../lib/table.js';
import { makeTempDir, removeTempDir } from '../lib/tempdir.js';
import { renderTargets, type TargetCheck } from './invoke-report.js';
import { caseNames, type CaseName, type CaseResult, type WorkerTask } from './wasm-cases.js';
import { distinctCopy, loadBenchGuests, writeGuests } from './wasm-guests.js';
import { benchRequest, runThrough, quantile, ReusedExchange, type BatchPlan } from './wasm-timing.js';

const run = promisify(execFile);
const workerScript = fileURLToPath(new URL('./wasm-worker.js', import.meta.url));

const defaults = { batches: 30, batchSize: 20_000, coldRuns: 30, warmupMs: 1000, processes: 5 };
/** --quick keeps the whole run (building the template included) within a few seconds. */
const quickDefaults = { batches: 30, batchSize: 2_000, coldRuns: 5, warmupMs: 200, processes: 1 };
/** A fresh exchange is reported as differing "much" from a reused one past this ratio of the reused figure. */
const notableFreshRatio = 0.2;

interface WasmSettings extends CommonSettings, BatchPlan {
  readonly cases: readonly CaseName[];
  readonly coldRuns: number;
  readonly processes: number;
}

const usage = `  --cases LIST        comma-separated subset of ${caseNames.join(',')} (default: all)
  --processes N       processes the cases are timed in, one after another (default ${defaults.processes}, --quick ${quickDefaults.processes})
  --batches N         timed batches per case (default ${defaults.batches})
  --batch-size N      requests per batch (default ${defaults.batchSize}, --quick ${quickDefaults.batchSize})
  --cold-runs N       cold starts timed per guest (default ${defaults.coldRuns}, --quick ${quickDefaults.coldRuns})
  (--warmup is per case, default ${defaults.warmupMs / 1000} s, --quick ${quickDefaults.warmupMs / 1000} s; --duration and --sidecar are not used;
   the harness runs on the load CPU, --load-cpus)`;

function parseSettings(args: readonly string[]): WasmSettings {
  const values = parseScenarioOptions(args, {
    cases: { type: 'string' },
    processes: { type: 'string' },
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
    processes: positiveInteger('processes', values.processes, fallback.processes),
    batches: positiveInteger('batches', values.batches, fallback.batches),
    batchSize: positiveInteger('batch-size', values['batch-size'], fallback.batchSize),
    coldRuns: positiveInteger('cold-runs', values['cold-runs'], fallback.coldRuns),
  };
}

/** One case over every process: the median of the per-process figures, and the range of their medians. */
interface CaseFigures {
  readonly name: CaseName;
  readonly description: string;
  readonly medianNs: number;
  readonly p99Ns: number;
  readonly processMinNs: number;
  readonly processMaxNs: number;
  readonly freshMedianNs: number;
  readonly freshP99Ns: number;
  /** Per process, in the order they ran. */
  readonly processes: readonly CaseResult[];
}

interface ColdStart {
  readonly guest: string;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly minMs: number;
  readonly runsMs: readonly number[];
}

/** Times the cases in a process of their own, which inherits this one's CPU pinning. */
async function timeInProcess(task: WorkerTask): Promise<CaseResult[]> {
  const { stdout } = await run(process.execPath, [workerScript, JSON.stringify(task)], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as CaseResult[];
}

const median = (values: readonly number[]): number => quantile(values.slice().sort((a, b) => a - b), 0.5);

function combine(perProcess: readonly (readonly CaseResult[])[]): CaseFigures[] {
  return perProcess[0]!.map((first, index) => {
    const processes = perProcess.map((results) => results[index]!);
    const medians = processes.map((r) => r.reused.medianNs);
    return {
      name: first.name,
      description: first.description,
      medianNs: median(medians),
      p99Ns: median(processes.map((r) => r.reused.p99Ns)),
      processMinNs: Math.min(...medians),
      processMaxNs: Math.max(...medians),
      freshMedianNs: median(processes.map((r) => r.fresh.medianNs)),
      freshP99Ns: median(processes.map((r) => r.fresh.p99Ns)),
      processes,
    };
  });
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

function renderCaseTable(figures: readonly CaseFigures[]): string {
  const rows = figures.map((f) => {
    const extra = f.freshMedianNs - f.medianNs;
    const notable = extra > notableFreshRatio * f.medianNs ? ' (!)' : '';
    return [f.name, ns(f.medianNs), `${ns(f.processMinNs)}-${ns(f.processMaxNs)}`, ns(f.p99Ns), ns(f.freshMedianNs), ns(f.freshP99Ns), `${extra >= 0 ? '+' : ''}${ns(extra)}${notable}`, f.description];
  });
  return renderTable(
    ['case', 'ns/req p50', 'processes', 'p99', 'fresh p50', 'fresh p99', 'fresh - reused', 'what one request runs'],
    rows,
    ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
  );
}

function renderColdTable(cold: readonly ColdStart[]): string {
  const rows = cold.map((c) => [c.guest, ms(c.medianMs), ms(c.p99Ms), ms(c.minMs), String(c.runsMs.length)]);
  return renderTable(['cold start', 'ms p50', 'p99', 'min', 'runs'], rows, ['left', 'right', 'right', 'right', 'right']);
}

function checkTargets(figures: readonly CaseFigures[], cold: readonly ColdStart[]): TargetCheck[] {
  const check = (goal: string, value: number | undefined, limit: number, format: (v: number) => string): TargetCheck => ({
    goal,
    measured: value === undefined ? 'not measured' : format(value),
    met: value === undefined ? undefined : value <= limit,
  });
  const medianOf = (name: CaseName): number | undefined => figures.find((f) => f.name === name)?.medianNs;
  const nanos = (v: number): string => `${ns(v)} ns/req`;
  return [
    check('host floor (no-op guest) p50 <= 50 ns/req', medianOf('floor'), 50, nanos),
    check('header read + URI rewrite + header set p50 <= 300 ns/req', medianOf('template'), 300, nanos),
    check('3-middleware chain p50 <= 1 µs/req', medianOf('chain'), 1000, nanos),
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
      `after ${settings.warmupMs / 1000} s warm-up, in each of ${settings.processes} processes; ${settings.coldRuns} cold starts per guest`,
  );
  console.log(`  pinning: ${pinning}`);
  console.log('  one request = handle_request then handle_response of every guest in the chain; per-batch ns/request from process.hrtime.bigint()');
  const buildStart = performance.now();
  const guests = await loadBenchGuests();
  console.log(`  guests: noop.wat and response-header.wat (wabt), template built with the SDK's release preset (${Math.round(performance.now() - buildStart)} ms)\n`);

  const guestDir = makeTempDir('wasm-guests');
  const perProcess: CaseResult[][] = [];
  try {
    writeGuests(guests, guestDir);
    const task: WorkerTask = { guestDir, cases: settings.cases, plan: { batches: settings.batches, batchSize: settings.batchSize, warmupMs: settings.warmupMs } };
    for (let index = 1; index <= settings.processes; index++) {
      const results = await timeInProcess(task);
      perProcess.push(results);
      const line = results.map((r) => `${r.name} ${ns(r.reused.medianNs)} (fresh ${ns(r.fresh.medianNs)})`).join(', ');
      console.log(`  process ${index}/${settings.processes}: ns/req ${line}`);
    }
  } finally {
    removeTempDir(guestDir);
  }
  const figures = combine(perProcess);
  const runTag = randomBytes(4).toString('hex');
  const cold = [
    await measureColdStart('noop', guests.noop, settings.coldRuns, runTag),
    await measureColdStart('template', guests.template, settings.coldRuns, runTag),
  ];
  const targets = checkTargets(figures, cold);

  console.log(`\n${renderCaseTable(figures)}`);
  console.log(`  ns/req: per process, the median of the per-batch means with one exchange reset in place per request; the table gives`);
  console.log(`  the median over the ${settings.processes} processes and their range ("processes"). p99 (nearest rank over ${settings.batches} batches, close to the slowest) is`);
  console.log('  likewise the median over the processes.');
  console.log(`  fresh: a new MemoryExchange per request, built from ${benchRequest.requestHeaders.length / 2} wire headers; (!) marks a difference over ${notableFreshRatio * 100}% of the reused figure.`);
  console.log(`\n${renderColdTable(cold)}`);
  console.log('  cold start: compile (WebAssembly.compile of bytes never compiled before) + instantiate + _start + first request and response.');
  console.log(`\n${renderTargets(targets)}`);

  const file = writeScenarioResults(
    'wasm',
    startedAt,
    settings,
    { batches: settings.batches, batchSize: settings.batchSize, coldRuns: settings.coldRuns, processes: settings.processes },
    {
      method: {
        hot: 'per process: warm-up, then batches of N requests timed with process.hrtime.bigint(); per-batch ns/request, median and nearest-rank p99; reported: the median over the processes',
        processes: 'the cases run in several processes one after another, each inheriting the harness pinning; V8 inlines differently from process to process',
        reused: 'one exchange reset in place per request (header overlays replaced only when a guest changed them)',
        fresh: 'new MemoryExchange per request from a flat wire header list',
        coldStart: 'WasmMiddleware.load (compile + instantiate + _start) of bytes made distinct by a custom section, then one request and response',
      },
      request: benchRequest,
      cases: figures,
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
