import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Linux accounts process CPU in clock ticks; USER_HZ is almost always 100. */
const clockTicksPerSecond: number = readClockTicks();

function readClockTicks(): number {
  try {
    const ticks = Number.parseInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim(), 10);
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/** Smallest CPU amount /proc/<pid>/stat can show, in microseconds. */
export const cpuResolutionMicros: number = 1e6 / clockTicksPerSecond;

/**
 * Fields of /proc/<pid>/stat after the command name, which is wrapped in
 * parentheses and may itself contain spaces or parentheses.
 */
function statFields(pid: number | 'self'): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

// Indexes into statFields(): field N of proc(5) is at N - 3.
const UTIME = 14 - 3;
const STIME = 15 - 3;
const CUTIME = 16 - 3;
const CSTIME = 17 - 3;

function ticksToMicros(ticks: number): number {
  return (ticks * 1e6) / clockTicksPerSecond;
}

/** User + system CPU a live process (all its threads) has used, in microseconds. */
export function processCpuMicros(pid: number): number {
  const fields = statFields(pid);
  return ticksToMicros(Number(fields[UTIME]) + Number(fields[STIME]));
}

/**
 * CPU of this process's children that have exited and been reaped. A short-lived
 * child's own /proc entry vanishes when it exits, so its CPU is read as the
 * growth of this value across its lifetime (no other child may exit meanwhile).
 */
export function reapedChildrenCpuMicros(): number {
  const fields = statFields('self');
  return ticksToMicros(Number(fields[CUTIME]) + Number(fields[CSTIME]));
}

/** Peak resident set size (VmHWM) of a live process, in bytes. */
export function peakRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  if (match === null) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** A CPU reading of several processes at one instant. */
export interface CpuSnapshot {
  readonly atNs: bigint;
  readonly micros: ReadonlyMap<number, number>;
}

export function snapshotCpu(pids: readonly number[]): CpuSnapshot {
  const micros = new Map<number, number>();
  for (const pid of pids) micros.set(pid, processCpuMicros(pid));
  return { atNs: process.hrtime.bigint(), micros };
}

/** CPU each process used between two snapshots, and the wall time between them. */
export interface CpuUsage {
  readonly wallSeconds: number;
  readonly cpuMicros: ReadonlyMap<number, number>;
}

export function cpuBetween(start: CpuSnapshot, end: CpuSnapshot): CpuUsage {
  const cpuMicros = new Map<number, number>();
  for (const [pid, before] of start.micros) {
    const after = end.micros.get(pid);
    if (after !== undefined) cpuMicros.set(pid, after - before);
  }
  return { wallSeconds: Number(end.atNs - start.atNs) / 1e9, cpuMicros };
}
