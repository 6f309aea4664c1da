import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { tasksetPath } from './processes.js';

/** Which CPUs the measured servers and the load generator are confined to. */
export interface PinPlan {
  /** taskset CPU list for the app, sidecars and nginx; undefined = not pinned. */
  readonly servers: string | undefined;
  /** taskset CPU list for the load generator and this process. */
  readonly load: string | undefined;
  readonly description: string;
}

export interface PinRequest {
  readonly enabled: boolean;
  readonly serverCpus?: string;
  readonly loadCpus?: string;
}

const unpinned = (why: string): PinPlan => ({ servers: undefined, load: undefined, description: `not pinned: ${why}` });

/**
 * Default split: the load generator gets the last CPU to itself, everything
 * measured shares the others (on a 2-core machine: servers on CPU 0, load on
 * CPU 1), so the generator never competes with what it measures.
 */
export function planPinning(request: PinRequest): PinPlan {
  if (!request.enabled) return unpinned('--no-pin');
  if (tasksetPath === undefined) return unpinned('taskset not found');
  const cpus = availableParallelism();
  if (cpus < 2 && (request.serverCpus === undefined || request.loadCpus === undefined)) {
    return unpinned('a single CPU');
  }
  const last = cpus - 1;
  const servers = request.serverCpus ?? (last === 1 ? '0' : `0-${last - 1}`);
  const load = request.loadCpus ?? String(last);
  return { servers, load, description: `app, sidecars and nginx on CPU ${servers}; load generator and harness on CPU ${load}` };
}

/** Confines this (orchestrating) process to the load generator's CPUs. */
export function pinSelf(plan: PinPlan): void {
  if (plan.load === undefined || tasksetPath === undefined) return;
  execFileSync(tasksetPath, ['-a', '-c', '-p', plan.load, String(process.pid)], { stdio: 'ignore' });
}
