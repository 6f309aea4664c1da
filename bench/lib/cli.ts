import { isAbsolute, resolve } from 'node:path';
import { defaultSidecarCli } from './layout.js';
import { planPinning, type PinPlan } from './pinning.js';

/** Bad command-line input: reported with the usage text, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** parseArgs options every scenario accepts; scenarios spread their own next to these. */
export const commonOptionSpec = {
  quick: { type: 'boolean' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  'no-pin': { type: 'boolean' },
  'server-cpus': { type: 'string' },
  'load-cpus': { type: 'string' },
  sidecar: { type: 'string' },
} as const;

export const commonUsage = `  --quick             short run for CI (3 s per measurement, 1 s warm-up); asserts nothing about timing
  --duration S        seconds per measurement (default 20, --quick 3)
  --warmup S          seconds of warm-up load before each measurement (default 5, --quick 1)
  --no-pin            do not pin processes to CPUs
  --server-cpus LIST  taskset CPU list for the app, sidecars and nginx (default: all but the last CPU)
  --load-cpus LIST    taskset CPU list for the load generator (default: the last CPU)
  --sidecar PATH      sidecar CLI to run (default dist/proxy/cli/main.js)`;

export interface CommonValues {
  readonly quick?: boolean;
  readonly duration?: string;
  readonly warmup?: string;
  readonly 'no-pin'?: boolean;
  readonly 'server-cpus'?: string;
  readonly 'load-cpus'?: string;
  readonly sidecar?: string;
}

export interface CommonSettings {
  readonly quick: boolean;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly pin: PinPlan;
  readonly sidecarCli: string;
}

function seconds(flag: string, text: string | undefined, fallback: number, allowZero: boolean): number {
  if (text === undefined) return fallback * 1000;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !allowZero)) {
    throw new UsageError(`--${flag} wants a ${allowZero ? 'non-negative' : 'positive'} number of seconds, got "${text}"`);
  }
  return Math.round(value * 1000);
}

export function resolveCommon(values: CommonValues): CommonSettings {
  const quick = values.quick === true;
  const sidecar = values.sidecar;
  return {
    quick,
    durationMs: seconds('duration', values.duration, quick ? 3 : 20, false),
    warmupMs: seconds('warmup', values.warmup, quick ? 1 : 5, true),
    pin: planPinning({
      enabled: values['no-pin'] !== true,
      serverCpus: values['server-cpus'],
      loadCpus: values['load-cpus'],
    }),
    sidecarCli: sidecar === undefined ? defaultSidecarCli : isAbsolute(sidecar) ? sidecar : resolve(sidecar),
  };
}

/** A positive integer option value. */
export function positiveInteger(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new UsageError(`--${flag} wants a positive integer, got "${text}"`);
  return value;
}
