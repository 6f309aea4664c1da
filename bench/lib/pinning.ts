import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/** CPUs this process may run on (a container or an outer taskset may restrict them). */
function allowedCpus(): number[] {
  const status = readFileSync('/proc/self/status', 'utf8');
  const list = /^Cpus_allowed_list:\s*(\S+)$/m.exec(status)?.[1] ?? '';
  const cpus: number[] = [];
  for (const range of list.split(',')) {
    const [first, last] = range.split('-').map(Number);
    if (first === undefined || !Number.isInteger(first)) continue;
    for (let cpu = first; cpu <= (last ?? first); cpu++) cpus.push(cpu);
  }
  return cpus;
}

const unpinned = (why: string): PinPlan => ({ servers: undefined, load: undefined, description: `not pinned: ${why}` });

/**
 * Default split: the load generator gets the last allowed CPU to itself and
 * everything measured shares the others (on a 2-core machine: servers on
 * CPU 0, load on CPU 1), so the generator never competes with what it measures.
 */
export function planPinning(request: PinRequest): PinPlan {
  if (!request.enabled) return unpinned('--no-pin');
  if (tasksetPath === undefined) return unpinned('taskset not found');
  let { serverCpus, loadCpus } = request;
  if (serverCpus === undefined || loadCpus === undefined) {
    const cpus = allowedCpus();
    if (cpus.length < 2) return unpinned('fewer than 2 CPUs available');
    serverCpus ??= cpus.slice(0, -1).join(',');
    loadCpus ??= String(cpus[cpus.length - 1]);
  }
  return {
    servers: serverCpus,
    load: loadCpus,
    description: `app, sidecars and nginx on CPU ${serverCpus}; load generator and harness on CPU ${loadCpus}`,
  };
}

/** Confines this (orchestrating) process to the load generator's CPUs. */
export function pinSelf(plan: PinPlan): void {
  if (plan.load === undefined || tasksetPath === undefined) return;
  execFileSync(tasksetPath, ['-a', '-c', '-p', plan.load, String(process.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
}
