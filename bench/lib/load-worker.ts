/**
 * The load generator process. It runs apart from the sidecars (and is pinned
 * to its own CPU when possible) so generating load never steals the measured
 * processes' event loops. Jobs arrive over the IPC channel one at a time.
 */
import { createRequire } from 'node:module';
import { runPacedLanes, runPacedLoad } from './paced-load.js';
import {
  makeBody,
  type JobEvent,
  type JobRequest,
  type LoadOutcome,
  type OperationModule,
  type PacedOperationsJob,
  type PacedOutcome,
  type SaturateJob,
} from './load-protocol.js';

interface AutocannonResult {
  readonly requests: { readonly total: number };
  /** Connection errors, timeouts included. */
  readonly errors: number;
  readonly non2xx: number;
}

interface AutocannonOptions {
  readonly url: string;
  readonly method: 'POST';
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  readonly connections: number;
  readonly duration: number;
}

type Autocannon = (options: AutocannonOptions, done: (error: Error | null, result: AutocannonResult) => void) => unknown;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

function autocannonRun(job: SaturateJob, body: Buffer, durationMs: number): Promise<AutocannonResult> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: job.url,
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body,
        connections: job.connections,
        duration: durationMs / 1000,
      },
      (error, result) => (error === null ? resolve(result) : reject(error)),
    );
  });
}

async function saturate(job: SaturateJob, body: Buffer, measuring: () => void): Promise<LoadOutcome> {
  if (job.warmupMs > 0) await autocannonRun(job, body, job.warmupMs);
  measuring();
  const cpuBefore = process.cpuUsage();
  const startNs = process.hrtime.bigint();
  const result = await autocannonRun(job, body, job.durationMs);
  const cpu = process.cpuUsage(cpuBefore);
  return {
    requests: result.requests.total,
    errors: result.errors,
    non2xx: result.non2xx,
    wallSeconds: Number(process.hrtime.bigint() - startNs) / 1e9,
    generatorCpuMicros: cpu.user + cpu.system,
  };
}

async function pacedOperations(job: PacedOperationsJob, measuring: () => void): Promise<PacedOutcome> {
  const { openOperations } = (await import(job.moduleUrl)) as OperationModule;
  const source = await openOperations(job.config);
  try {
    const lanes = Array.from({ length: job.connections }, (_, index) => source.openLane(index));
    return await runPacedLanes({ rate: job.rate, warmupMs: job.warmupMs, durationMs: job.durationMs, onMeasuring: measuring }, lanes);
  } finally {
    await source.close();
  }
}

async function execute(request: JobRequest): Promise<LoadOutcome> {
  const { job, id } = request;
  const measuring = (): void => reply({ id, event: 'measuring' });
  if (job.kind === 'paced-operations') return pacedOperations(job, measuring);
  const body = makeBody(job.bodyBytes);
  if (job.kind === 'saturate') return saturate(job, body, measuring);
  return runPacedLoad({
    url: job.url,
    rate: job.rate,
    connections: job.connections,
    body,
    warmupMs: job.warmupMs,
    durationMs: job.durationMs,
    onMeasuring: measuring,
  });
}

function reply(event: JobEvent): void {
  process.send?.(event);
}

if (process.send === undefined) {
  process.stderr.write('load-worker must be started with an IPC channel\n');
  process.exit(2);
}

process.on('message', (message: JobRequest) => {
  execute(message).then(
    (outcome) => reply({ id: message.id, event: 'done', outcome }),
    (error: unknown) => reply({ id: message.id, event: 'failed', message: error instanceof Error ? error.message : String(error) }),
  );
});
// Without its parent there is nobody to report to.
process.on('disconnect', () => process.exit(0));
