import type { LatencySummary } from '../lib/latency-summary.js';
import type { LoadOutcome, PacedOutcome } from '../lib/load-protocol.js';
import { renderTable, type Align } from '../lib/table.js';

// Each +3mw path follows the path it repeats with the middleware chain, so the two are measured close in time.
export const invokePaths = ['direct', 'self-invoke', 'self-invoke+3mw', 'caller->callee', 'caller->callee+3mw', 'nginx'] as const;
export type InvokePath = (typeof invokePaths)[number];

/** Paths measured again through sidecars whose API pipeline holds a 3-middleware chain: [without, with]. */
export const chainedPaths = [
  ['self-invoke', 'self-invoke+3mw'],
  ['caller->callee', 'caller->callee+3mw'],
] as const satisfies readonly (readonly [InvokePath, InvokePath])[];

/** The measured server processes, by role; a +3mw role is a sidecar with the chain on its API pipeline. */
export type ServerRole = 'app' | 'callee' | 'caller' | 'callee+3mw' | 'caller+3mw' | 'nginx';

/** CPU one server process used during one measured window. */
export interface ProcessUse {
  readonly role: ServerRole;
  readonly cpuMicros: number;
  /** CPU seconds per wall second over the window. */
  readonly cores: number;
  readonly cpuMicrosPerRequest: number;
}

export interface LatencyMeasurement {
  readonly outcome: PacedOutcome;
  readonly processes: readonly ProcessUse[];
}

export type SaturationGenerator = 'wrk' | 'autocannon';

export interface SaturationMeasurement {
  readonly generator: SaturationGenerator;
  readonly outcome: LoadOutcome;
  readonly requestsPerSecond: number;
  /** The generator's own CPU seconds per wall second; near 1.0 means it, not the path, was the limit. */
  readonly generatorCores: number;
  readonly processes: readonly ProcessUse[];
}

export interface PathMeasurement {
  readonly path: InvokePath;
  readonly url: string;
  /** Processes whose CPU is the cost of the path's hop(s): the sidecars it crosses, or nginx. */
  readonly proxies: readonly ServerRole[];
  latency?: LatencyMeasurement;
  /** Each latency run when there were several; `latency` combines them (see combineRounds). */
  latencyRounds?: LatencyMeasurement[];
  saturation?: SaturationMeasurement;
}

function median(values: number[]): number {
  values.sort((a, b) => a - b);
  const mid = values.length >> 1;
  return values.length % 2 === 1 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
}

/**
 * Several latency runs of one path as one: each percentile is the median over the runs, so a burst of load from
 * something else on the machine moves one run rather than the figure. Counts add up; CPU is over all runs.
 */
export function combineRounds(rounds: readonly LatencyMeasurement[]): LatencyMeasurement {
  if (rounds.length === 1) return rounds[0]!;
  const outcomes = rounds.map((round) => round.outcome);
  const sum = (pick: (outcome: PacedOutcome) => number): number => outcomes.reduce((total, outcome) => total + pick(outcome), 0);
  const middle = (pick: (summary: LatencySummary) => number): number => median(outcomes.map((outcome) => pick(outcome.latency)));
  const count = sum((o) => o.latency.count);
  const latency: LatencySummary = {
    count,
    minUs: Math.min(...outcomes.map((o) => o.latency.minUs)),
    meanUs: count === 0 ? 0 : Math.round((sum((o) => o.latency.meanUs * o.latency.count) / count) * 10) / 10,
    p50Us: middle((l) => l.p50Us),
    p75Us: middle((l) => l.p75Us),
    p90Us: middle((l) => l.p90Us),
    p99Us: middle((l) => l.p99Us),
    p999Us: middle((l) => l.p999Us),
    maxUs: Math.max(...outcomes.map((o) => o.latency.maxUs)),
  };
  const requests = sum((o) => o.requests);
  const wallSeconds = sum((o) => o.wallSeconds);
  const outcome: PacedOutcome = {
    requests,
    errors: sum((o) => o.errors),
    non2xx: sum((o) => o.non2xx),
    wallSeconds,
    generatorCpuMicros: sum((o) => o.generatorCpuMicros),
    latency,
    lateSends: sum((o) => o.lateSends),
    wrongBodies: sum((o) => o.wrongBodies),
  };
  const processes = rounds[0]!.processes.map(({ role }): ProcessUse => {
    const cpuMicros = rounds.reduce((total, round) => total + (round.processes.find((use) => use.role === role)?.cpuMicros ?? 0), 0);
    return { role, cpuMicros, cores: cpuMicros / 1e6 / wallSeconds, cpuMicrosPerRequest: requests > 0 ? cpuMicros / requests : 0 };
  });
  return { outcome, processes };
}

export interface AddedLatency {
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
}

/** Everything derived from the raw measurements that the table and the targets show. */
export interface PathFigures {
  readonly path: InvokePath;
  readonly latency?: LatencySummary;
  /** Over the direct path in the same run. */
  readonly added?: AddedLatency;
  readonly requestsPerSecond?: number;
  /** Saturation throughput relative to nginx in the same run. */
  readonly ratioToNginx?: number;
  /** Proxy CPU per request at saturation, per proxy process and summed. */
  readonly proxyCpuMicrosPerRequest?: { readonly total: number; readonly byRole: Partial<Record<ServerRole, number>> };
  /** Proxy cores during the fixed-rate run, per proxy process. */
  readonly proxyCores?: Partial<Record<ServerRole, number>>;
  readonly proxyPeakRssBytes: Partial<Record<ServerRole, number>>;
}

function byRole(uses: readonly ProcessUse[], roles: readonly ServerRole[], pick: (use: ProcessUse) => number): Partial<Record<ServerRole, number>> {
  const picked: Partial<Record<ServerRole, number>> = {};
  for (const use of uses) if (roles.includes(use.role)) picked[use.role] = pick(use);
  return picked;
}

export function derivePathFigures(
  measurements: readonly PathMeasurement[],
  peakRssBytes: Partial<Record<ServerRole, number>>,
): PathFigures[] {
  const direct = measurements.find((m) => m.path === 'direct')?.latency?.outcome.latency;
  const nginxRps = measurements.find((m) => m.path === 'nginx')?.saturation?.requestsPerSecond;
  return measurements.map((m) => {
    const latency = m.latency?.outcome.latency;
    const added =
      latency !== undefined && direct !== undefined && m.path !== 'direct'
        ? { p50Us: latency.p50Us - direct.p50Us, p90Us: latency.p90Us - direct.p90Us, p99Us: latency.p99Us - direct.p99Us }
        : undefined;
    const rps = m.saturation?.requestsPerSecond;
    const hasProxies = m.proxies.length > 0;
    let proxyCpu: PathFigures['proxyCpuMicrosPerRequest'];
    if (m.saturation !== undefined && hasProxies) {
      const parts = byRole(m.saturation.processes, m.proxies, (use) => use.cpuMicrosPerRequest);
      proxyCpu = { total: Object.values(parts).reduce((sum, value) => sum + value, 0), byRole: parts };
    }
    const rss: Partial<Record<ServerRole, number>> = {};
    for (const role of m.proxies) if (peakRssBytes[role] !== undefined) rss[role] = peakRssBytes[role];
    return {
      path: m.path,
      latency,
      added,
      requestsPerSecond: rps,
      ratioToNginx: rps !== undefined && nginxRps !== undefined && nginxRps > 0 ? rps / nginxRps : undefined,
      proxyCpuMicrosPerRequest: proxyCpu,
      proxyCores: m.latency !== undefined && hasProxies ? byRole(m.latency.processes, m.proxies, (use) => use.cores) : undefined,
      proxyPeakRssBytes: rss,
    };
  });
}

const dash = '-';
const ms = (us: number): string => (us / 1000).toFixed(3);
const signedMs = (us: number): string => `${us >= 0 ? '+' : '-'}${Math.abs(us / 1000).toFixed(3)}`;
const megabytes = (bytes: number): string => (bytes / 1e6).toFixed(1);

/** Values of several proxy processes, in the order of the path's hops. */
function joined(values: Partial<Record<ServerRole, number>> | undefined, roles: readonly ServerRole[], format: (value: number) => string, separator: string): string {
  if (values === undefined) return dash;
  const parts = roles.filter((role) => values[role] !== undefined).map((role) => format(values[role]!));
  return parts.length === 0 ? dash : parts.join(separator);
}

export function renderPathTable(figures: readonly PathFigures[], measurements: readonly PathMeasurement[], rate: number): string {
  const headers = [
    'path', 'p50 ms', 'p90 ms', 'p99 ms', '+p50', '+p90', '+p99',
    'sat req/s', 'vs nginx', 'proxy CPU µs/req', `cores @${rate}/s`, 'peak RSS MB',
  ];
  const align: Align[] = ['left', ...Array<Align>(headers.length - 1).fill('right')];
  const rows = figures.map((f, index) => {
    const proxies = measurements[index]!.proxies;
    const cpu = f.proxyCpuMicrosPerRequest;
    const cpuText =
      cpu === undefined ? dash : proxies.length > 1 ? `${cpu.total.toFixed(1)} (${joined(cpu.byRole, proxies, (v) => v.toFixed(1), '+')})` : cpu.total.toFixed(1);
    return [
      f.path,
      f.latency === undefined ? dash : ms(f.latency.p50Us),
      f.latency === undefined ? dash : ms(f.latency.p90Us),
      f.latency === undefined ? dash : ms(f.latency.p99Us),
      f.added === undefined ? dash : signedMs(f.added.p50Us),
      f.added === undefined ? dash : signedMs(f.added.p90Us),
      f.added === undefined ? dash : signedMs(f.added.p99Us),
      f.requestsPerSecond === undefined ? dash : String(Math.round(f.requestsPerSecond)),
      f.ratioToNginx === undefined ? dash : `${f.ratioToNginx.toFixed(2)}x`,
      cpuText,
      joined(f.proxyCores, proxies, (v) => v.toFixed(3), '+'),
      joined(f.proxyPeakRssBytes, proxies, megabytes, '/'),
    ];
  });
  return renderTable(headers, rows, align);
}

/** What the API middleware chain cost one path: the difference of the same figures with and without it. */
export interface ChainCost {
  readonly without: PathFigures;
  readonly with: PathFigures;
  /** Added latency with the chain minus without it; both are over direct, so this is the chain's own share. */
  readonly addedDelta?: AddedLatency;
  /** Proxy CPU per request at saturation, with minus without. */
  readonly cpuMicrosPerRequestDelta?: number;
  /** Proxy cores during the fixed-rate run (all of the path's sidecars), with minus without. */
  readonly coresDelta?: number;
}

const totalCores = (f: PathFigures): number | undefined =>
  f.proxyCores === undefined ? undefined : Object.values(f.proxyCores).reduce((sum, value) => sum + value, 0);

const difference = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined ? undefined : a - b);

/** One entry per path of `chainedPaths` measured both with and without the chain. */
export function deriveChainCosts(figures: readonly PathFigures[]): ChainCost[] {
  const costs: ChainCost[] = [];
  for (const [plainPath, chainedPath] of chainedPaths) {
    const plain = figures.find((f) => f.path === plainPath);
    const chained = figures.find((f) => f.path === chainedPath);
    if (plain === undefined || chained === undefined) continue;
    const a = chained.added;
    const b = plain.added;
    costs.push({
      without: plain,
      with: chained,
      addedDelta: a === undefined || b === undefined ? undefined : { p50Us: a.p50Us - b.p50Us, p90Us: a.p90Us - b.p90Us, p99Us: a.p99Us - b.p99Us },
      cpuMicrosPerRequestDelta: difference(chained.proxyCpuMicrosPerRequest?.total, plain.proxyCpuMicrosPerRequest?.total),
      coresDelta: difference(totalCores(chained), totalCores(plain)),
    });
  }
  return costs;
}

/** Each chained path under the path it repeats, then their difference. */
export function renderChainTable(costs: readonly ChainCost[], rate: number): string {
  const signed = (value: number | undefined, digits: number): string =>
    value === undefined ? dash : `${value >= 0 ? '+' : '-'}${Math.abs(value).toFixed(digits)}`;
  const row = (label: string, added: AddedLatency | undefined, cpu: number | undefined, cores: number | undefined, delta: boolean): string[] => [
    label,
    added === undefined ? dash : signedMs(added.p50Us),
    added === undefined ? dash : signedMs(added.p90Us),
    added === undefined ? dash : signedMs(added.p99Us),
    delta ? signed(cpu, 1) : cpu === undefined ? dash : cpu.toFixed(1),
    delta ? signed(cores, 3) : cores === undefined ? dash : cores.toFixed(3),
  ];
  const rows = costs.flatMap((cost) => [
    row(cost.without.path, cost.without.added, cost.without.proxyCpuMicrosPerRequest?.total, totalCores(cost.without), false),
    row(cost.with.path, cost.with.added, cost.with.proxyCpuMicrosPerRequest?.total, totalCores(cost.with), false),
    row('  chain adds', cost.addedDelta, cost.cpuMicrosPerRequestDelta, cost.coresDelta, true),
  ]);
  const headers = ['path', '+p50', '+p90', '+p99', 'proxy CPU µs/req', `cores @${rate}/s`];
  return renderTable(headers, rows, ['left', 'right', 'right', 'right', 'right', 'right']);
}

/** One of the goals next to what this run measured. */
export interface TargetCheck {
  readonly goal: string;
  readonly measured: string;
  /** undefined when the run did not measure it. */
  readonly met: boolean | undefined;
}

export function checkTargets(figures: readonly PathFigures[], chainCosts: readonly ChainCost[]): TargetCheck[] {
  const of = (path: InvokePath): PathFigures | undefined => figures.find((f) => f.path === path);
  const pair = of('caller->callee');
  const self = of('self-invoke');
  const checks: TargetCheck[] = [];
  const check = (goal: string, value: number | undefined, limit: number, format: (v: number) => string, atMost = true): void => {
    checks.push({
      goal,
      measured: value === undefined ? 'not measured' : format(value),
      met: value === undefined ? undefined : atMost ? value <= limit : value >= limit,
    });
  };
  check('caller->callee added p50 <= 0.150 ms', pair?.added?.p50Us, 150, (v) => `${ms(v)} ms`);
  check('caller->callee added p99 <= 0.500 ms', pair?.added?.p99Us, 500, (v) => `${ms(v)} ms`);
  const coreReadings: [string, number][] = [];
  for (const f of [pair, self]) {
    if (f?.proxyCores === undefined) continue;
    for (const [role, cores] of Object.entries(f.proxyCores)) coreReadings.push([`${role} (${f.path})`, cores]);
  }
  checks.push({
    goal: 'each sidecar <= 0.05 cores at 1000 req/s',
    measured: coreReadings.length === 0 ? 'not measured' : coreReadings.map(([who, cores]) => `${who} ${cores.toFixed(3)}`).join(', '),
    met: coreReadings.length === 0 ? undefined : coreReadings.every(([, cores]) => cores <= 0.05),
  });
  check('self-invoke saturation >= 0.80x nginx', self?.ratioToNginx, 0.8, (v) => `${v.toFixed(2)}x`, false);
  check('caller->callee sidecar CPU <= 40 µs/req', pair?.proxyCpuMicrosPerRequest?.total, 40, (v) => `${v.toFixed(1)} µs/req`);
  for (const [plainPath, chainedPath] of chainedPaths) {
    const cost = chainCosts.find((c) => c.with.path === chainedPath);
    const delta = cost?.addedDelta?.p99Us;
    checks.push({
      goal: `${plainPath}: 3-middleware API chain adds <= 0.050 ms to added p99`,
      measured:
        delta === undefined
          ? 'not measured'
          : `${signedMs(delta)} ms (+p99 ${ms(cost!.without.added!.p99Us)} -> ${ms(cost!.with.added!.p99Us)} ms)`,
      met: delta === undefined ? undefined : delta <= 50,
    });
  }
  const rss = new Map<string, number>();
  for (const f of figures) {
    for (const [role, bytes] of Object.entries(f.proxyPeakRssBytes)) if (role !== 'nginx') rss.set(role, bytes);
  }
  checks.push({
    goal: 'peak RSS <= 60 MB per sidecar',
    measured: rss.size === 0 ? 'not measured' : [...rss].map(([role, bytes]) => `${role} ${megabytes(bytes)} MB`).join(', '),
    met: rss.size === 0 ? undefined : [...rss.values()].every((bytes) => bytes <= 60e6),
  });
  return checks;
}

export function renderTargets(checks: readonly TargetCheck[]): string {
  const rows = checks.map((c) => [c.goal, c.measured, c.met === undefined ? dash : c.met ? 'met' : 'MISSED']);
  return renderTable(['target (information only)', 'measured', ''], rows, ['left', 'left', 'left']);
}
