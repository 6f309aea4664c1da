import type { LatencySummary } from '../lib/latency-summary.js';
import type { LoadOutcome, PacedOutcome } from '../lib/load-protocol.js';
import { renderTable, type Align } from '../lib/table.js';
import type { TargetCheck } from './invoke-report.js';

export const stateStores = ['in-memory', 'sqlite', 'redis', 'postgresql'] as const;
export type StateStore = (typeof stateStores)[number];

/** The paced run through the sidecar, with the sidecar's CPU over its measured window. */
export interface SidecarLatency {
  readonly outcome: PacedOutcome;
  readonly sidecarCpuMicros: number;
  /** Sidecar CPU seconds per wall second. */
  readonly sidecarCores: number;
}

export interface StateSaturation {
  readonly generator: 'wrk';
  /** outcome.requests counts HTTP requests: two per operation. */
  readonly outcome: LoadOutcome;
  readonly operationsPerSecond: number;
  /** wrk's own CPU seconds per wall second; near 1.0 means wrk, not the sidecar, was the limit. */
  readonly generatorCores: number;
  readonly sidecarCpuMicrosPerOperation: number;
}

export interface StoreMeasurement {
  readonly store: StateStore;
  readonly componentType: string;
  /** Why nothing was measured: the sidecar could not start with the store, or the store did not work. */
  skipped?: string;
  /** Why the run stopped after it began; the other stores are still measured. */
  failed?: string;
  /** Parts left out, with the reason (a direct client that could not connect, no wrk). */
  readonly gaps: string[];
  /** Length of the 1 KiB value as the store answers a get (PostgreSQL's jsonb adds a space). */
  answerBytes?: number;
  /** The same operations straight to the store with the component's client library. */
  direct?: PacedOutcome;
  sidecar?: SidecarLatency;
  saturation?: StateSaturation;
  peakRssBytes?: number;
}

export interface AddedLatency {
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
}

/** One line of the table: a store through the sidecar, or the same store called directly. */
export interface StateRow {
  readonly store: StateStore;
  readonly via: 'sidecar' | 'direct';
  readonly latency?: LatencySummary;
  /** Over the direct row of the same store, same run. */
  readonly added?: AddedLatency;
  readonly operationsPerSecond?: number;
  readonly sidecarCpuMicrosPerOperation?: number;
  readonly sidecarCores?: number;
  readonly peakRssBytes?: number;
}

export function deriveRows(measurements: readonly StoreMeasurement[]): StateRow[] {
  const rows: StateRow[] = [];
  for (const m of measurements) {
    if (m.skipped !== undefined) continue;
    const direct = m.direct?.latency;
    if (direct !== undefined) rows.push({ store: m.store, via: 'direct', latency: direct });
    const latency = m.sidecar?.outcome.latency;
    rows.push({
      store: m.store,
      via: 'sidecar',
      latency,
      added:
        latency !== undefined && direct !== undefined
          ? { p50Us: latency.p50Us - direct.p50Us, p90Us: latency.p90Us - direct.p90Us, p99Us: latency.p99Us - direct.p99Us }
          : undefined,
      operationsPerSecond: m.saturation?.operationsPerSecond,
      sidecarCpuMicrosPerOperation: m.saturation?.sidecarCpuMicrosPerOperation,
      sidecarCores: m.sidecar?.sidecarCores,
      peakRssBytes: m.peakRssBytes,
    });
  }
  return rows;
}

const redisAddedP50LimitUs = 200;

export function checkRedisTarget(rows: readonly StateRow[]): TargetCheck {
  const added = rows.find((row) => row.store === 'redis' && row.via === 'sidecar')?.added?.p50Us;
  return {
    goal: 'sidecar adds <= 0.2 ms p50 over a direct Redis call',
    measured: added === undefined ? 'not measured' : `${signedMs(added)} ms`,
    met: added === undefined ? undefined : added <= redisAddedP50LimitUs,
  };
}

const dash = '-';
const ms = (us: number): string => (us / 1000).toFixed(3);
const signedMs = (us: number): string => `${us >= 0 ? '+' : '-'}${Math.abs(us / 1000).toFixed(3)}`;
const megabytes = (bytes: number): string => (bytes / 1e6).toFixed(1);
const optional = (value: number | undefined, format: (value: number) => string): string =>
  value === undefined ? dash : format(value);

/** The table of every measured store; the Redis target sits in the Redis row. */
export function renderStateTable(rows: readonly StateRow[], redisTarget: TargetCheck, rate: number): string {
  const headers = [
    'store', 'p50 ms', 'p90 ms', 'p99 ms', '+p50', '+p90', '+p99',
    'sat ops/s', 'sidecar CPU µs/op', `cores @${rate}/s`, 'peak RSS MB', 'target (information only)',
  ];
  const align: Align[] = ['left', ...Array<Align>(headers.length - 2).fill('right'), 'left'];
  const verdict = redisTarget.met === undefined ? 'not measured' : redisTarget.met ? 'met' : 'MISSED';
  const body = rows.map((row) => [
    row.via === 'direct' ? `${row.store} (direct)` : row.store,
    optional(row.latency?.p50Us, ms),
    optional(row.latency?.p90Us, ms),
    optional(row.latency?.p99Us, ms),
    optional(row.added?.p50Us, signedMs),
    optional(row.added?.p90Us, signedMs),
    optional(row.added?.p99Us, signedMs),
    optional(row.operationsPerSecond, (v) => String(Math.round(v))),
    optional(row.sidecarCpuMicrosPerOperation, (v) => v.toFixed(1)),
    optional(row.sidecarCores, (v) => v.toFixed(3)),
    optional(row.peakRssBytes, megabytes),
    row.store === 'redis' && row.via === 'sidecar' ? `${redisTarget.goal}: ${verdict}` : '',
  ]);
  return renderTable(headers, body, align);
}
