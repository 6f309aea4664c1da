import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeBody, type LoadOutcome } from './load-protocol.js';
import { reapedChildrenCpuMicros } from './procfs.js';
import type { ProcessGroup } from './processes.js';

/** A wrk run whose requests a Lua script makes. */
export interface WrkScriptJob {
  readonly wrkPath: string;
  readonly url: string;
  readonly connections: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly cpus: string | undefined;
  /** Path of the Lua script. */
  readonly script: string;
}

/** A wrk run of POSTs of a fixed body. */
export interface WrkJob extends Omit<WrkScriptJob, 'script'> {
  readonly bodyBytes: number;
  /** Where the request script is written. */
  readonly scratchDir: string;
}

function writePostScript(dir: string, bodyBytes: number): string {
  const path = join(dir, `post-${bodyBytes}.lua`);
  // The body is printable ASCII without quotes or backslashes, so it is a valid Lua string literal as is.
  const script = [
    'wrk.method = "POST"',
    `wrk.body = "${makeBody(bodyBytes).toString('latin1')}"`,
    'wrk.headers["Content-Type"] = "application/octet-stream"',
    '',
  ].join('\n');
  writeFileSync(path, script);
  return path;
}

const unitSeconds: Record<string, number> = { us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Pulls the totals out of wrk's report. */
export function parseWrkReport(report: string): Omit<LoadOutcome, 'generatorCpuMicros'> {
  const totals = /(\d+) requests in ([\d.]+)(us|ms|s|m|h),/.exec(report);
  if (totals === null) throw new Error(`unreadable wrk report:\n${report}`);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(report);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(report);
  let errors = 0;
  if (socketErrors !== null) for (let i = 1; i <= 4; i++) errors += Number(socketErrors[i]);
  return {
    requests: Number(totals[1]),
    wallSeconds: Number(totals[2]) * unitSeconds[totals[3]!]!,
    errors,
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
  };
}

async function runOnce(group: ProcessGroup, job: WrkScriptJob, durationMs: number): Promise<string> {
  const seconds = Math.max(1, Math.round(durationMs / 1000));
  const wrk = group.launch({
    name: 'wrk',
    command: job.wrkPath,
    args: ['-t1', `-c${job.connections}`, `-d${seconds}s`, '--timeout', '5s', '-s', job.script, job.url],
    cpus: job.cpus,
    exitsOnItsOwn: true,
  });
  const status = await group.guard(wrk.exited);
  if (status.code !== 0) throw new Error(`wrk failed (code ${status.code}, signal ${status.signal}):\n${wrk.output()}`);
  return wrk.output();
}

/**
 * Saturation with wrk (one thread). wrk is gone by the time its CPU could be
 * read from its own /proc entry, so its CPU is taken from this process's
 * reaped-children counters, which only wrk advances during the run.
 */
export async function runWrkScript(group: ProcessGroup, job: WrkScriptJob, onMeasuring: () => void): Promise<LoadOutcome> {
  if (job.warmupMs > 0) await runOnce(group, job, job.warmupMs);
  onMeasuring();
  const cpuBefore = reapedChildrenCpuMicros();
  const report = await runOnce(group, job, job.durationMs);
  return { ...parseWrkReport(report), generatorCpuMicros: reapedChildrenCpuMicros() - cpuBefore };
}

export function runWrk(group: ProcessGroup, job: WrkJob, onMeasuring: () => void): Promise<LoadOutcome> {
  return runWrkScript(group, { ...job, script: writePostScript(job.scratchDir, job.bodyBytes) }, onMeasuring);
}
