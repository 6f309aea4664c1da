import { existsSync, mkdirSync } from 'node:fs';
import { cpus as cpuList, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { apiChainDescription, middlewareDirOf, missingChainGuests, writeApiChain, type ApiChainFiles } from '../lib/api-chain.js';
import { commonOptionSpec, positiveInteger, resolveCommon, UsageError, type CommonSettings } from '../lib/cli.js';
import { findExecutable } from '../lib/executables.js';
import { probeUntil } from '../lib/http-probe.js';
import { hostInfo, repoRoot, writeResults } from '../lib/layout.js';
import { LoadWorker } from '../lib/load-client.js';
import { makeBody, type LoadOutcome, type PacedOutcome } from '../lib/load-protocol.js';
import { startNginx } from '../lib/nginx.js';
import { pinSelf } from '../lib/pinning.js';
import { freePorts } from '../lib/ports.js';
import { cpuBetween, cpuResolutionMicros, peakRssBytes, snapshotCpu, type CpuSnapshot } from '../lib/procfs.js';
import { ProcessGroup, type ManagedProcess } from '../lib/processes.js';
import type { Scenario } from '../lib/scenario.js';
import { startSidecar } from '../lib/sidecar.js';
import { makeTempDir, removeTempDir } from '../lib/tempdir.js';
import { runWrk } from '../lib/wrk.js';
import {
  checkTargets,
  combineRounds,
  deriveChainCosts,
  derivePathFigures,
  invokePaths,
  renderChainTable,
  renderPathTable,
  renderTargets,
  type InvokePath,
  type LatencyMeasurement,
  type PathMeasurement,
  type ProcessUse,
  type SaturationGenerator,
  type ServerRole,
} from './invoke-report.js';

const echoServerScript = fileURLToPath(new URL('../apps/echo-server.js', import.meta.url));
const bodyBytes = 1024;
const preflightDeadlineMs = 15_000;
const pathWidth = Math.max(...invokePaths.map((path) => path.length));

interface InvokeSettings extends CommonSettings {
  readonly paths: readonly InvokePath[];
  readonly rate: number;
  readonly rounds: number;
  readonly connections: number;
  readonly saturationConnections: number;
  /** Forced saturation generator; undefined = wrk when installed, else autocannon. */
  readonly saturationGenerator: SaturationGenerator | undefined;
}

const usage = `  --paths LIST        comma-separated subset of ${invokePaths.join(',')} (default: all);
                      a +3mw path repeats its path through sidecars with a 3-middleware chain on the API pipeline
  --rate N            fixed request rate of the latency run (default 1000)
  --rounds N          latency runs per path, taking turns across the paths; each percentile is the
                      median over the rounds, which keeps one burst of outside load from deciding it (default 1)
  --connections N     connections of the latency run (default 16)
  --sat-connections N connections of the saturation run (default 32)
  --sat-generator G   wrk or autocannon (default: wrk when installed)`;

function parsePaths(text: string | undefined): InvokePath[] {
  if (text === undefined) return [...invokePaths];
  const chosen = new Set<InvokePath>();
  for (const raw of text.split(',')) {
    const name = raw.trim().replace(/^caller-callee/, 'caller->callee');
    if (!(invokePaths as readonly string[]).includes(name)) {
      throw new UsageError(`unknown path "${raw}"; known: ${invokePaths.join(', ')}`);
    }
    chosen.add(name as InvokePath);
  }
  // Keep the canonical order so direct, the baseline, is measured first.
  return invokePaths.filter((path) => chosen.has(path));
}

function parseGenerator(text: string | undefined): SaturationGenerator | undefined {
  if (text === undefined || text === 'wrk' || text === 'autocannon') return text;
  throw new UsageError(`--sat-generator wants wrk or autocannon, got "${text}"`);
}

function parseSettings(args: readonly string[]): InvokeSettings {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        ...commonOptionSpec,
        paths: { type: 'string' },
        rate: { type: 'string' },
        rounds: { type: 'string' },
        connections: { type: 'string' },
        'sat-connections': { type: 'string' },
        'sat-generator': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  return {
    ...resolveCommon(values),
    paths: parsePaths(values.paths),
    rate: positiveInteger('rate', values.rate, 1000),
    rounds: positiveInteger('rounds', values.rounds, 1),
    connections: positiveInteger('connections', values.connections, 16),
    saturationConnections: positiveInteger('sat-connections', values['sat-connections'], 32),
    saturationGenerator: parseGenerator(values['sat-generator']),
  };
}

interface Servers {
  readonly roles: ReadonlyMap<ServerRole, ManagedProcess>;
  readonly targets: readonly PathMeasurement[];
}

const invokeUrl = (port: number, appId: string): string => `http://127.0.0.1:${port}/v1.0/invoke/${appId}/method/echo`;

async function startServers(group: ProcessGroup, settings: InvokeSettings, scratch: string): Promise<Servers> {
  const roles = new Map<ServerRole, ManagedProcess>();
  const targets: PathMeasurement[] = [];
  const wants = (path: InvokePath): boolean => settings.paths.includes(path);
  const cpus = settings.pin.servers;

  const [appPort, nginxPort] = (await freePorts(2)) as [number, number];
  roles.set('app', group.launch({ name: 'echo app', command: process.execPath, args: [echoServerScript, String(appPort)], cpus }));
  await group.guard(probeUntil(`http://127.0.0.1:${appPort}/healthz`, {}, (res) => res.status === 200, 10_000));
  if (wants('direct')) targets.push({ path: 'direct', url: `http://127.0.0.1:${appPort}/echo`, proxies: [] });

  const wantsChain = wants('self-invoke+3mw') || wants('caller->callee+3mw');
  if (wantsChain || wants('self-invoke') || wants('caller->callee')) {
    if (!existsSync(settings.sidecarCli)) {
      throw new Error(`sidecar CLI not found at ${settings.sidecarCli}: run \`npm run build\` first (or pass --sidecar PATH)`);
    }
    // A fresh registry per run: sidecars of an earlier or concurrent run are never found.
    const registryDir = join(scratch, 'registry');
    mkdirSync(registryDir);
    const launch = { cliPath: settings.sidecarCli, cwd: repoRoot, registryDir, cpus };
    const chain = wantsChain ? prepareApiChain(settings, scratch) : undefined;
    // One plain callee serves both callers, so caller->callee+3mw differs from caller->callee by the caller's chain only.
    const callee = await startSidecar(group, { ...launch, appId: 'callee', appPort });
    roles.set('callee', callee.process);
    if (wants('self-invoke')) targets.push({ path: 'self-invoke', url: invokeUrl(callee.httpPort, 'callee'), proxies: ['callee'] });
    if (wants('caller->callee')) {
      const caller = await startSidecar(group, { ...launch, appId: 'caller' });
      roles.set('caller', caller.process);
      targets.push({ path: 'caller->callee', url: invokeUrl(caller.httpPort, 'callee'), proxies: ['caller', 'callee'] });
    }
    if (chain !== undefined && wants('self-invoke+3mw')) {
      const chained = await startSidecar(group, { ...launch, ...chain, appId: 'callee-3mw', appPort });
      roles.set('callee+3mw', chained.process);
      targets.push({ path: 'self-invoke+3mw', url: invokeUrl(chained.httpPort, 'callee-3mw'), proxies: ['callee+3mw'] });
    }
    if (chain !== undefined && wants('caller->callee+3mw')) {
      const chained = await startSidecar(group, { ...launch, ...chain, appId: 'caller-3mw' });
      roles.set('caller+3mw', chained.process);
      targets.push({ path: 'caller->callee+3mw', url: invokeUrl(chained.httpPort, 'callee'), proxies: ['caller+3mw', 'callee'] });
    }
  }

  if (wants('nginx')) {
    const nginxPath = findExecutable('nginx');
    if (nginxPath === undefined) {
      printBanner('nginx NOT FOUND: skipping the nginx path and every ratio to it. Install it with .ci/install-bench-tools.');
    } else {
      const nginx = await startNginx(group, { nginxPath, listenPort: nginxPort, upstreamPort: appPort, dir: join(scratch, 'nginx'), cpus });
      roles.set('nginx', nginx);
      targets.push({ path: 'nginx', url: `http://127.0.0.1:${nginxPort}/echo`, proxies: ['nginx'] });
    }
  }
  targets.sort((a, b) => invokePaths.indexOf(a.path) - invokePaths.indexOf(b.path));
  return { roles, targets };
}

/** The chain's files for the sidecars under test, or undefined (and a banner) when its guests were never built. */
function prepareApiChain(settings: InvokeSettings, scratch: string): ApiChainFiles | undefined {
  const middlewareDir = middlewareDirOf(settings.sidecarCli);
  const missing = missingChainGuests(middlewareDir);
  if (missing.length > 0) {
    printBanner(`middleware NOT BUILT (${missing.join(', ')}): skipping the +3mw paths. Run \`npm run build\` first.`);
    return undefined;
  }
  return writeApiChain(join(scratch, 'api-chain'), middlewareDir);
}

function printBanner(message: string): void {
  const rule = '!'.repeat(Math.min(100, message.length + 8));
  console.log(`\n${rule}\n!!! ${message}\n${rule}\n`);
}

/** Every path must echo the body before anything is measured; sidecars may need a moment to find each other. */
async function preflight(group: ProcessGroup, targets: readonly PathMeasurement[]): Promise<void> {
  const body = makeBody(bodyBytes);
  const init = { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } };
  for (const target of targets) {
    await group.guard(
      probeUntil(target.url, init, (res) => res.status === 200 && res.body.equals(body), preflightDeadlineMs),
    );
  }
}

/** Measures CPU of all server processes over the window a load job reports as measured. */
class CpuWindow {
  private start: CpuSnapshot | undefined;

  constructor(private readonly roles: ReadonlyMap<ServerRole, ManagedProcess>) {}

  readonly begin = (): void => {
    this.start = snapshotCpu(this.pids());
  };

  finish(requests: number): ProcessUse[] {
    if (this.start === undefined) throw new Error('measured window never began');
    const usage = cpuBetween(this.start, snapshotCpu(this.pids()));
    return [...this.roles].map(([role, member]) => {
      const cpuMicros = usage.cpuMicros.get(member.pid) ?? 0;
      return {
        role,
        cpuMicros,
        cores: cpuMicros / 1e6 / usage.wallSeconds,
        cpuMicrosPerRequest: requests > 0 ? cpuMicros / requests : 0,
      };
    });
  }

  private pids(): number[] {
    return [...this.roles.values()].map((member) => member.pid);
  }
}

function describeFailures(outcome: LoadOutcome | PacedOutcome): string {
  const wrong = 'wrongBodies' in outcome ? outcome.wrongBodies : 0;
  const failed = outcome.errors + outcome.non2xx + wrong;
  return failed === 0
    ? ''
    : `  !! ${outcome.errors} errors, ${outcome.non2xx} non-2xx${'wrongBodies' in outcome ? `, ${wrong} wrong bodies` : ''}`;
}

async function measureLatency(worker: LoadWorker, servers: Servers, settings: InvokeSettings): Promise<void> {
  const runs = new Map<PathMeasurement, LatencyMeasurement[]>(servers.targets.map((target) => [target, []]));
  for (let round = 1; round <= settings.rounds; round++) {
    for (const target of servers.targets) {
      const window = new CpuWindow(servers.roles);
      const outcome = await worker.paced(
        {
          url: target.url,
          rate: settings.rate,
          connections: settings.connections,
          bodyBytes,
          warmupMs: settings.warmupMs,
          durationMs: settings.durationMs,
        },
        window.begin,
      );
      runs.get(target)!.push({ outcome, processes: window.finish(outcome.requests) });
      const l = outcome.latency;
      console.log(
        `  latency    ${target.path.padEnd(pathWidth)} p50 ${(l.p50Us / 1000).toFixed(3)} ms  p90 ${(l.p90Us / 1000).toFixed(3)} ms  ` +
          `p99 ${(l.p99Us / 1000).toFixed(3)} ms  (${outcome.requests} req, ${outcome.lateSends} late sends)${describeFailures(outcome)}` +
          (settings.rounds > 1 ? `  round ${round}/${settings.rounds}` : ''),
      );
    }
  }
  for (const [target, rounds] of runs) {
    target.latency = combineRounds(rounds);
    if (rounds.length > 1) target.latencyRounds = rounds;
  }
}

async function measureSaturation(
  group: ProcessGroup,
  worker: LoadWorker,
  servers: Servers,
  settings: InvokeSettings,
  generator: { readonly kind: SaturationGenerator; readonly wrkPath: string | undefined },
  scratch: string,
): Promise<void> {
  for (const target of servers.targets) {
    const window = new CpuWindow(servers.roles);
    const job = {
      url: target.url,
      connections: settings.saturationConnections,
      bodyBytes,
      warmupMs: Math.min(settings.warmupMs, 2000),
      durationMs: settings.durationMs,
    };
    const outcome =
      generator.wrkPath !== undefined
        ? await runWrk(group, { ...job, wrkPath: generator.wrkPath, cpus: settings.pin.load, scratchDir: scratch }, window.begin)
        : await worker.saturate(job, window.begin);
    const requestsPerSecond = outcome.requests / outcome.wallSeconds;
    const generatorCores = outcome.generatorCpuMicros / 1e6 / outcome.wallSeconds;
    target.saturation = {
      generator: generator.kind,
      outcome,
      requestsPerSecond,
      generatorCores,
      processes: window.finish(outcome.requests),
    };
    console.log(
      `  saturation ${target.path.padEnd(pathWidth)} ${Math.round(requestsPerSecond)} req/s  ` +
        `(${generator.kind} used ${generatorCores.toFixed(2)} cores)${describeFailures(outcome)}`,
    );
  }
}

function readPeakRss(roles: ReadonlyMap<ServerRole, ManagedProcess>): Partial<Record<ServerRole, number>> {
  const peaks: Partial<Record<ServerRole, number>> = {};
  for (const [role, member] of roles) peaks[role] = peakRssBytes(member.pid);
  return peaks;
}

async function runInvoke(args: readonly string[]): Promise<void> {
  const settings = parseSettings(args);
  const startedAt = new Date();
  pinSelf(settings.pin);
  const wrkPath = settings.saturationGenerator === 'autocannon' ? undefined : findExecutable('wrk');
  if (settings.saturationGenerator === 'wrk' && wrkPath === undefined) throw new Error('--sat-generator wrk: wrk is not installed');
  const generator = { kind: (wrkPath === undefined ? 'autocannon' : 'wrk') as SaturationGenerator, wrkPath };

  console.log(`invoke benchmark: paths ${settings.paths.join(', ')}; ${settings.durationMs / 1000} s per measurement after ${settings.warmupMs / 1000} s warm-up`);
  console.log(`  pinning: ${settings.pin.description}`);
  console.log(
    `  latency: ${settings.rate} req/s evenly paced over ${settings.connections} connections, ${bodyBytes} B POST; ` +
      'per-request nanosecond clock, reported with microsecond resolution' +
      (settings.rounds > 1 ? `; ${settings.rounds} rounds, median of each percentile` : ''),
  );
  console.log(`  saturation: ${generator.kind === 'wrk' ? `wrk -t1 -c${settings.saturationConnections}` : `autocannon, ${settings.saturationConnections} connections, no rate limit`}`);
  if (wrkPath === undefined && settings.saturationGenerator === undefined) printBanner('wrk NOT FOUND: saturation falls back to autocannon (a slower generator). Install it with .ci/install-bench-tools.');
  if (settings.paths.some((path) => path.endsWith('+3mw'))) console.log(`  +3mw: API pipeline chain ${apiChainDescription}, every request passed through`);
  console.log(`  process CPU from /proc/<pid>/stat (resolution ${cpuResolutionMicros / 1000} ms per reading)`);
  // Outside work on the measured CPUs moves tail latencies by milliseconds, far more than what the paths differ by.
  const loadBefore = loadavg()[0]!;
  console.log(`  load average before the run: ${loadBefore.toFixed(2)} on ${cpuList().length} CPUs${loadBefore >= 1 ? ' (the machine was busy: tail latencies may swing)' : ''}`);

  const group = new ProcessGroup();
  const scratch = makeTempDir('invoke');
  try {
    const servers = await startServers(group, settings, scratch);
    if (servers.targets.length === 0) throw new Error('no path left to measure');
    await preflight(group, servers.targets);
    const worker = LoadWorker.start(group, settings.pin.load);
    await measureLatency(worker, servers, settings);
    await measureSaturation(group, worker, servers, settings, generator, scratch);

    const peaks = readPeakRss(servers.roles);
    const figures = derivePathFigures(servers.targets, peaks);
    const chainCosts = deriveChainCosts(figures);
    const targets = checkTargets(figures, chainCosts);
    console.log(`\n${renderPathTable(figures, servers.targets, settings.rate)}`);
    console.log('  +pXX: latency added over direct. proxy CPU: sidecars (caller+callee) or nginx, per request at saturation.');
    console.log(`  cores: proxy CPU seconds per second during the ${settings.rate} req/s run. RSS: VmHWM (caller/callee).\n`);
    if (chainCosts.length > 0) {
      console.log(`3-middleware chain on the API pipeline (${apiChainDescription}), without and with:\n`);
      console.log(renderChainTable(chainCosts, settings.rate));
      console.log('  chain adds: the +3mw row minus the row above it; CPU per request at saturation, cores during the fixed-rate run.\n');
    }
    console.log(renderTargets(targets));

    const file = writeResults('invoke', startedAt, {
      scenario: 'invoke',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      host: hostInfo(),
      settings: {
        quick: settings.quick,
        durationMs: settings.durationMs,
        warmupMs: settings.warmupMs,
        rate: settings.rate,
        rounds: settings.rounds,
        connections: settings.connections,
        saturationConnections: settings.saturationConnections,
        bodyBytes,
        sidecarCli: settings.sidecarCli,
        apiChain: apiChainDescription,
      },
      pinning: settings.pin,
      loadAverage: { before: loadBefore, after: loadavg()[0] },
      generators: {
        latency: 'paced open loop (lean HTTP/1.1 keep-alive client, one connection per lane, hrtime per request)',
        saturation: generator.kind,
      },
      latencyResolutionUs: 0.1,
      cpuResolutionUs: cpuResolutionMicros,
      paths: servers.targets,
      figures,
      chainCosts: chainCosts.map((cost) => ({
        without: cost.without.path,
        with: cost.with.path,
        addedDelta: cost.addedDelta,
        cpuMicrosPerRequestDelta: cost.cpuMicrosPerRequestDelta,
        coresDelta: cost.coresDelta,
      })),
      peakRssBytes: peaks,
      targets,
    });
    console.log(`\nfull results: ${file}`);
  } finally {
    await group.close();
    removeTempDir(scratch);
  }
}

export const invokeScenario: Scenario = {
  name: 'invoke',
  summary: 'service invocation: direct vs self-invoke vs caller->callee vs nginx, the sidecar paths also with a 3-middleware API chain (latency, saturation, CPU, RSS)',
  usage,
  run: runInvoke,
};
