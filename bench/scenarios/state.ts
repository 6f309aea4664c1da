import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { commonOptionSpec, positiveInteger, resolveCommon, UsageError, type CommonSettings } from '../lib/cli.js';
import { findExecutable } from '../lib/executables.js';
import { probe } from '../lib/http-probe.js';
import { hostInfo, repoRoot, writeResults } from '../lib/layout.js';
import { LoadWorker } from '../lib/load-client.js';
import type { LoadOutcome, PacedOperationsJob, PacedOutcome } from '../lib/load-protocol.js';
import { pinSelf } from '../lib/pinning.js';
import { cpuBetween, cpuResolutionMicros, peakRssBytes, snapshotCpu, type CpuSnapshot } from '../lib/procfs.js';
import { ProcessCrashError, ProcessGroup } from '../lib/processes.js';
import type { Scenario } from '../lib/scenario.js';
import { startSidecar, type Sidecar } from '../lib/sidecar.js';
import { makeTempDir, removeTempDir } from '../lib/tempdir.js';
import { runWrkScript } from '../lib/wrk.js';
import {
  createPostgresTables,
  deleteRedisKeys,
  dropPostgresTables,
  saveBody,
  stateKey,
  stateValue,
  type MetadataValues,
  type StateOperationsConfig,
  type StateTarget,
  type StateWorkload,
} from './state-clients.js';
import {
  checkRedisTarget,
  deriveRows,
  renderStateTable,
  stateStores,
  type SidecarLatency,
  type StateSaturation,
  type StateStore,
  type StoreMeasurement,
} from './state-report.js';

const clientsModuleUrl = new URL('./state-clients.js', import.meta.url).href;
const valueBytes = 1024;
/** --quick runs six measured paths of three kinds; shorter windows keep the whole run well under a minute. */
const quickDurationMs = 2000;

interface StateSettings extends CommonSettings {
  readonly stores: readonly StateStore[];
  /** Operations (each a save and a get) per second in the latency runs. */
  readonly rate: number;
  readonly connections: number;
  readonly saturationConnections: number;
  readonly keyCount: number;
  readonly redisHost: string;
  readonly postgresConnection: string;
}

const usage = `  --stores LIST       comma-separated subset of ${stateStores.join(',')} (default: all)
  --rate N            operations (save + get) per second of the latency runs (default 1000)
  --connections N     connections of the latency runs (default 16)
  --sat-connections N connections of the saturation run (default 32)
  --keys N            distinct keys the operations cycle over (default 1000)
  --redis HOST:PORT   Redis for state.redis and the direct calls (default 127.0.0.1:6379)
  --postgres CONN     PostgreSQL connection string (default "host=127.0.0.1 user=postgres dbname=test sslmode=disable")
  (with --quick and no --duration, each measurement here lasts ${quickDurationMs / 1000} s)`;

function parseStores(text: string | undefined): StateStore[] {
  if (text === undefined) return [...stateStores];
  const chosen = new Set<StateStore>();
  for (const raw of text.split(',')) {
    const name = raw.trim();
    if (!(stateStores as readonly string[]).includes(name)) throw new UsageError(`unknown store "${raw}"; known: ${stateStores.join(', ')}`);
    chosen.add(name as StateStore);
  }
  return stateStores.filter((store) => chosen.has(store));
}

function parseSettings(args: readonly string[]): StateSettings {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        ...commonOptionSpec,
        stores: { type: 'string' },
        rate: { type: 'string' },
        connections: { type: 'string' },
        'sat-connections': { type: 'string' },
        keys: { type: 'string' },
        redis: { type: 'string' },
        postgres: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const common = resolveCommon(values);
  const connections = positiveInteger('connections', values.connections, 16);
  const keyCount = positiveInteger('keys', values.keys, 1000);
  if (keyCount < connections) throw new UsageError(`--keys (${keyCount}) must be at least --connections (${connections}) so lanes in step never share a key`);
  return {
    ...common,
    durationMs: common.quick && values.duration === undefined ? quickDurationMs : common.durationMs,
    stores: parseStores(values.stores),
    rate: positiveInteger('rate', values.rate, 1000),
    connections,
    saturationConnections: positiveInteger('sat-connections', values['sat-connections'], 32),
    keyCount,
    redisHost: values.redis ?? '127.0.0.1:6379',
    postgresConnection: values.postgres ?? 'host=127.0.0.1 user=postgres dbname=test sslmode=disable',
  };
}

/** What one run shares between the stores. */
interface RunContext {
  readonly settings: StateSettings;
  readonly scratch: string;
  readonly registryDir: string;
  readonly appId: string;
  readonly value: string;
  readonly wrkPath: string | undefined;
}

/** How one store is declared, called directly, and cleaned up. */
interface StorePlan {
  readonly componentType: string;
  readonly metadata: MetadataValues;
  readonly direct?: { readonly target: StateTarget; prepare?(): Promise<void> };
  /** Removes whatever the run left in the store; the scratch dir goes with the run. */
  cleanup?(): Promise<void>;
}

function planStore(store: StateStore, ctx: RunContext): StorePlan {
  const { settings, appId } = ctx;
  switch (store) {
    case 'in-memory':
      return { componentType: 'state.in-memory', metadata: {} };
    case 'sqlite':
      return { componentType: 'state.sqlite', metadata: { connectionString: join(ctx.scratch, 'state.db') } };
    case 'redis': {
      const metadata = { redisHost: settings.redisHost };
      return {
        componentType: 'state.redis',
        metadata,
        // The sidecar stores "<appId>||<key>"; the direct calls use their own prefix next to it.
        direct: { target: { via: 'redis', metadata, keyPrefix: `${appId}-direct||` } },
        cleanup: async () => {
          await deleteRedisKeys(metadata, `${appId}*`);
        },
      };
    }
    case 'postgresql': {
      const table = appId.replace(/-/g, '_');
      const metadata = { connectionString: settings.postgresConnection, tableName: table, metadataTableName: `${table}_metadata` };
      const directMetadata = { ...metadata, tableName: `${table}_direct` };
      return {
        componentType: 'state.postgresql',
        metadata,
        direct: {
          target: { via: 'postgresql', metadata: directMetadata, keyPrefix: `${appId}||` },
          prepare: () => createPostgresTables(directMetadata),
        },
        cleanup: () => dropPostgresTables(metadata, [metadata.tableName, directMetadata.tableName, metadata.metadataTableName]),
      };
    }
  }
}

const storeUrlOf = (sidecar: Sidecar, store: StateStore): string => `http://127.0.0.1:${sidecar.httpPort}/v1.0/state/${store}`;

function writeComponent(dir: string, store: StateStore, plan: StorePlan): void {
  mkdirSync(dir, { recursive: true });
  const component = {
    apiVersion: 'dapr.io/v1alpha1',
    kind: 'Component',
    metadata: { name: store },
    spec: {
      type: plan.componentType,
      version: 'v1',
      metadata: Object.entries(plan.metadata).map(([name, value]) => ({ name, value })),
    },
  };
  writeFileSync(join(dir, `${store}.yaml`), stringify(component));
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The sidecar's own words on why it did not start (its last error log line), else the error's first line. */
function startFailureReason(error: unknown): string {
  if (error instanceof ProcessCrashError) {
    const errorLines = error.message.split('\n').filter((line) => line.includes('level=error') || line.includes('level=fatal'));
    const logged = /msg="((?:[^"\\]|\\.)*)"/.exec(errorLines.at(-1) ?? '');
    if (logged !== null) return logged[1]!.replace(/\\(.)/g, '$1');
  }
  return message(error).split('\n')[0]!;
}

/** One save and one get through the sidecar; answers the length of the value as the store gives it back. */
async function preflight(storeUrl: string, value: string): Promise<number> {
  const key = stateKey(0);
  const saved = await probe(storeUrl, {
    method: 'POST',
    body: Buffer.from(saveBody(key, value)),
    headers: { 'content-type': 'application/json' },
    timeoutMs: 5000,
  });
  if (saved.status !== 204) throw new Error(`save answered HTTP ${saved.status} ${saved.body.toString('utf8', 0, 300)}`);
  const read = await probe(`${storeUrl}/${key}`, { timeoutMs: 5000 });
  if (read.status !== 200) throw new Error(`get answered HTTP ${read.status} ${read.body.toString('utf8', 0, 300)}`);
  let answered: unknown;
  try {
    answered = JSON.parse(read.body.toString('utf8'));
  } catch {
    throw new Error(`get answered something that is not JSON: ${read.body.toString('utf8', 0, 100)}`);
  }
  if (!isDeepStrictEqual(answered, JSON.parse(value))) throw new Error('get answered another value than the one saved');
  return read.body.length;
}

/** CPU of one process over the window a load job reports as measured. */
class ProcessCpu {
  private start: CpuSnapshot | undefined;

  constructor(private readonly pid: number) {}

  readonly begin = (): void => {
    this.start = snapshotCpu([this.pid]);
  };

  finish(): { cpuMicros: number; wallSeconds: number } {
    if (this.start === undefined) throw new Error('measured window never began');
    const usage = cpuBetween(this.start, snapshotCpu([this.pid]));
    return { cpuMicros: usage.cpuMicros.get(this.pid) ?? 0, wallSeconds: usage.wallSeconds };
  }
}

function describeFailures(outcome: LoadOutcome | PacedOutcome): string {
  const wrong = 'wrongBodies' in outcome ? outcome.wrongBodies : 0;
  if (outcome.errors + outcome.non2xx + wrong === 0) return '';
  return `  !! ${outcome.errors} errors, ${outcome.non2xx} non-2xx${'wrongBodies' in outcome ? `, ${wrong} unexpected answers` : ''}`;
}

function latencyLine(label: string, outcome: PacedOutcome): string {
  const l = outcome.latency;
  return (
    `  ${label.padEnd(22)} p50 ${(l.p50Us / 1000).toFixed(3)} ms  p90 ${(l.p90Us / 1000).toFixed(3)} ms  p99 ${(l.p99Us / 1000).toFixed(3)} ms` +
    `  (${outcome.requests} ops, ${outcome.lateSends} late)${describeFailures(outcome)}`
  );
}

function pacedJob(ctx: RunContext, config: StateOperationsConfig): Omit<PacedOperationsJob, 'kind'> {
  const { settings } = ctx;
  return {
    moduleUrl: clientsModuleUrl,
    config,
    rate: settings.rate,
    connections: settings.connections,
    warmupMs: settings.warmupMs,
    durationMs: settings.durationMs,
  };
}

/** A wrk script that alternates a save (POST) and a get (GET) of k0, k1, ... in turn: one operation per pair. */
function writeWrkScript(ctx: RunContext, store: StateStore): string {
  const path = `/v1.0/state/${store}`;
  const pairs: string[] = [];
  for (let i = 0; i < ctx.settings.keyCount; i++) {
    const body = saveBody(stateKey(i), ctx.value);
    // Lua single-quoted strings take the body as it is as long as it holds no quote, backslash or newline.
    if (/['\\\n]/.test(body)) throw new Error('the saved value cannot be written into the wrk script');
    pairs.push(`  { "${stateKey(i)}", '${body}' },`);
  }
  const script = [
    `local path = "${path}"`,
    'local saves = {',
    ...pairs,
    '}',
    'local requests = {}',
    'local nextRequest = 1',
    'function init(args)',
    '  local headers = { ["Content-Type"] = "application/json" }',
    '  for i, save in ipairs(saves) do',
    '    requests[2 * i - 1] = wrk.format("POST", path, headers, save[2])',
    '    requests[2 * i] = wrk.format("GET", path .. "/" .. save[1])',
    '  end',
    'end',
    'function request()',
    '  local r = requests[nextRequest]',
    '  nextRequest = nextRequest % #requests + 1',
    '  return r',
    'end',
    '',
  ].join('\n');
  const file = join(ctx.scratch, `save-get-${store}.lua`);
  writeFileSync(file, script);
  return file;
}

/** A sidecar with the store's component, proven to save and get; answers the value's length as the store gives it back. */
async function startStoreSidecar(
  group: ProcessGroup,
  store: StateStore,
  ctx: RunContext,
  plan: StorePlan,
): Promise<{ sidecar: Sidecar; answerBytes: number }> {
  const resourcesPath = join(ctx.scratch, `resources-${store}`);
  writeComponent(resourcesPath, store, plan);
  const sidecar = await startSidecar(group, {
    cliPath: ctx.settings.sidecarCli,
    cwd: repoRoot,
    appId: ctx.appId,
    registryDir: ctx.registryDir,
    cpus: ctx.settings.pin.servers,
    resourcesPath,
  });
  const answerBytes = await group.guard(preflight(storeUrlOf(sidecar, store), ctx.value));
  return { sidecar, answerBytes };
}

async function measureDirect(
  worker: LoadWorker,
  ctx: RunContext,
  store: StateStore,
  direct: NonNullable<StorePlan['direct']>,
  workload: StateWorkload,
  measurement: StoreMeasurement,
): Promise<void> {
  try {
    await direct.prepare?.();
    measurement.direct = await worker.pacedOperations(pacedJob(ctx, { target: direct.target, workload }), () => undefined);
    console.log(latencyLine(`${store} direct`, measurement.direct));
  } catch (error) {
    if (error instanceof ProcessCrashError) throw error;
    measurement.gaps.push(`direct calls: ${message(error)}`);
    console.log(`  !!! ${store} direct calls not measured: ${message(error)}`);
  }
}

async function measureSidecarLatency(
  worker: LoadWorker,
  ctx: RunContext,
  store: StateStore,
  sidecar: Sidecar,
  workload: StateWorkload,
): Promise<SidecarLatency> {
  const cpu = new ProcessCpu(sidecar.process.pid);
  const target: StateTarget = { via: 'sidecar', storeUrl: storeUrlOf(sidecar, store) };
  const outcome = await worker.pacedOperations(pacedJob(ctx, { target, workload }), cpu.begin);
  const used = cpu.finish();
  const sidecarCores = used.cpuMicros / 1e6 / used.wallSeconds;
  console.log(`${latencyLine(`${store} via sidecar`, outcome)}  sidecar ${sidecarCores.toFixed(3)} cores`);
  return { outcome, sidecarCpuMicros: used.cpuMicros, sidecarCores };
}

async function measureSaturation(
  group: ProcessGroup,
  ctx: RunContext,
  store: StateStore,
  sidecar: Sidecar,
  wrkPath: string,
): Promise<StateSaturation> {
  const { settings } = ctx;
  const cpu = new ProcessCpu(sidecar.process.pid);
  const outcome = await runWrkScript(
    group,
    {
      wrkPath,
      url: `http://127.0.0.1:${sidecar.httpPort}/`,
      connections: settings.saturationConnections,
      warmupMs: Math.min(settings.warmupMs, 2000),
      durationMs: settings.durationMs,
      cpus: settings.pin.load,
      script: writeWrkScript(ctx, store),
    },
    cpu.begin,
  );
  const used = cpu.finish();
  const operations = outcome.requests / 2;
  const saturation: StateSaturation = {
    generator: 'wrk',
    outcome,
    operationsPerSecond: operations / outcome.wallSeconds,
    generatorCores: outcome.generatorCpuMicros / 1e6 / outcome.wallSeconds,
    sidecarCpuMicrosPerOperation: operations > 0 ? used.cpuMicros / operations : 0,
  };
  console.log(
    `  ${`${store} saturation`.padEnd(22)} ${Math.round(saturation.operationsPerSecond)} ops/s  ` +
      `sidecar ${saturation.sidecarCpuMicrosPerOperation.toFixed(1)} µs/op  ` +
      `(wrk used ${saturation.generatorCores.toFixed(2)} cores)${describeFailures(outcome)}`,
  );
  return saturation;
}

async function measureStore(store: StateStore, ctx: RunContext, plan: StorePlan, measurement: StoreMeasurement): Promise<void> {
  const group = new ProcessGroup();
  try {
    let started: { sidecar: Sidecar; answerBytes: number };
    try {
      started = await startStoreSidecar(group, store, ctx, plan);
    } catch (error) {
      measurement.skipped = startFailureReason(error);
      console.log(`  !!! skipped ${store}: ${measurement.skipped}`);
      return;
    }
    const { sidecar, answerBytes } = started;
    measurement.answerBytes = answerBytes;
    const workload: StateWorkload = { keyCount: ctx.settings.keyCount, value: ctx.value, answerBytes };
    const worker = LoadWorker.start(group, ctx.settings.pin.load);
    if (plan.direct !== undefined) await measureDirect(worker, ctx, store, plan.direct, workload, measurement);
    measurement.sidecar = await measureSidecarLatency(worker, ctx, store, sidecar, workload);
    if (ctx.wrkPath === undefined) measurement.gaps.push('saturation: wrk is not installed');
    else measurement.saturation = await measureSaturation(group, ctx, store, sidecar, ctx.wrkPath);
    measurement.peakRssBytes = peakRssBytes(sidecar.process.pid);
  } finally {
    await group.close();
  }
}

async function cleanUp(store: StateStore, plan: StorePlan, measurement: StoreMeasurement): Promise<void> {
  try {
    await plan.cleanup?.();
  } catch (error) {
    // A store that never worked usually cannot be reached for cleanup either, and holds nothing of this run.
    if (measurement.skipped !== undefined) return;
    measurement.gaps.push(`cleanup: ${message(error)}`);
    console.log(`  !!! ${store}: cleanup failed: ${message(error)}`);
  }
}

async function runStore(store: StateStore, ctx: RunContext): Promise<StoreMeasurement> {
  const plan = planStore(store, ctx);
  const measurement: StoreMeasurement = { store, componentType: plan.componentType, gaps: [] };
  console.log(`\n${store} (${plan.componentType})`);
  try {
    await measureStore(store, ctx, plan, measurement);
  } catch (error) {
    measurement.failed = message(error);
    console.log(`  !!! ${store} FAILED: ${measurement.failed}`);
  }
  await cleanUp(store, plan, measurement);
  return measurement;
}

async function runState(args: readonly string[]): Promise<void> {
  const settings = parseSettings(args);
  const startedAt = new Date();
  pinSelf(settings.pin);
  if (!existsSync(settings.sidecarCli)) {
    throw new Error(`sidecar CLI not found at ${settings.sidecarCli}: run \`npm run build\` first (or pass --sidecar PATH)`);
  }
  const wrkPath = findExecutable('wrk');

  console.log(`state benchmark: stores ${settings.stores.join(', ')}; ${settings.durationMs / 1000} s per measurement after ${settings.warmupMs / 1000} s warm-up`);
  console.log(`  pinning: ${settings.pin.description} (Redis and PostgreSQL servers are not pinned)`);
  console.log(
    `  operation: save (POST) then get (GET) of one key, ${valueBytes} B JSON value, ${settings.keyCount} keys in turn; ` +
      `${settings.rate} ops/s evenly paced over ${settings.connections} connections; latency per operation, nanosecond clock`,
  );
  console.log('  direct: the same operations from the load process with the component\'s own client library, scripts and SQL');
  const saturation =
    wrkPath === undefined
      ? 'NOT MEASURED: wrk not found (install it with .ci/install-bench-tools)'
      : `wrk -t1 -c${settings.saturationConnections}, saves and gets alternating`;
  console.log(`  saturation: ${saturation}`);
  console.log(`  process CPU from /proc/<pid>/stat (resolution ${cpuResolutionMicros / 1000} ms per reading)`);

  const scratch = makeTempDir('state');
  const registryDir = join(scratch, 'registry');
  mkdirSync(registryDir);
  const ctx: RunContext = { settings, scratch, registryDir, appId: `statebench-${process.pid}`, value: stateValue(valueBytes), wrkPath };
  const measurements: StoreMeasurement[] = [];
  try {
    for (const store of settings.stores) measurements.push(await runStore(store, ctx));
  } finally {
    removeTempDir(scratch);
  }

  const rows = deriveRows(measurements);
  const redisTarget = checkRedisTarget(rows);
  console.log(`\n${renderStateTable(rows, redisTarget, settings.rate)}`);
  console.log('  latency: one operation = save + get. +pXX: added over the direct row of the same store.');
  console.log(`  sidecar CPU per operation at saturation; cores: sidecar CPU seconds per second at ${settings.rate} ops/s; RSS: VmHWM.`);
  if (!rows.some((row) => row.store === 'redis' && row.via === 'sidecar')) console.log(`  target ${redisTarget.goal}: not measured`);
  for (const m of measurements) {
    if (m.skipped !== undefined) console.log(`!!! skipped ${m.store}: ${m.skipped}`);
    if (m.failed !== undefined) console.log(`!!! FAILED ${m.store}: ${m.failed}`);
    for (const gap of m.gaps) console.log(`!!! ${m.store}: ${gap}`);
  }

  const file = writeResults('state', startedAt, {
    scenario: 'state',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    host: hostInfo(),
    settings: {
      quick: settings.quick,
      durationMs: settings.durationMs,
      warmupMs: settings.warmupMs,
      rate: settings.rate,
      connections: settings.connections,
      saturationConnections: settings.saturationConnections,
      keyCount: settings.keyCount,
      valueBytes,
      stores: settings.stores,
      sidecarCli: settings.sidecarCli,
    },
    pinning: settings.pin,
    generators: {
      latency: 'paced open loop, one operation = save (POST) then get (GET) of the same key on one keep-alive connection per lane, hrtime per operation',
      direct: 'same pacing from the load process: ioredis with the state.redis scripts, pg with the state.postgresql SQL',
      saturation: wrkPath === undefined ? 'not measured (no wrk)' : 'wrk -t1, Lua script alternating POST and GET; two requests per operation',
    },
    latencyResolutionUs: 0.1,
    cpuResolutionUs: cpuResolutionMicros,
    stores: measurements,
    rows,
    targets: [redisTarget],
  });
  console.log(`\nfull results: ${file}`);
  const failed = measurements.filter((m) => m.failed !== undefined).map((m) => m.store);
  if (failed.length > 0) throw new Error(`measuring ${failed.join(', ')} failed (see above); the other stores' results are in ${file}`);
}

export const stateScenario: Scenario = {
  name: 'state',
  summary: 'state API save + get per store (in-memory, sqlite, redis, postgresql), sidecar vs direct client (latency, saturation, CPU, RSS)',
  usage,
  run: runState,
};
