import type { LatencySummary } from '../lib/latency-summary.js';
import type { LoadOutcome, PacedOutcome } from '../lib/load-protocol.js';
import { renderTable, type Align } from '../lib/table.js';

export const invokePaths = ['direct', 'self-invoke', 'caller->callee', 'nginx'] as const;
export type InvokePath = (typeof invokePaths)[number];

/** The measured server processes, by role. */
export type ServerRole = 'app' | 'callee' | 'caller' | 'nginx';

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
  saturation?: SaturationMeasurement;
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

/** One of the goals next to what this run measured. */
export interface TargetCheck {
  readonly goal: string;
  readonly measured: string;
  /** undefined when the run did not measure it. */
  readonly met: boolean | undefined;
}

export function checkTargets(figures: readonly PathFigures[]): TargetCheck[] {
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
