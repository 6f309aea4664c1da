import { fileURLToPath } from 'node:url';
import type { JobEvent, LoadJob, LoadOutcome, PacedJob, PacedOperationsJob, PacedOutcome, SaturateJob } from './load-protocol.js';
import type { ManagedProcess, ProcessGroup } from './processes.js';

const workerScript = fileURLToPath(new URL('./load-worker.js', import.meta.url));

interface PendingJob {
  readonly onMeasuring: () => void;
  readonly resolve: (outcome: LoadOutcome) => void;
  readonly reject: (error: Error) => void;
}

/** Parent side of the load generator process: sends jobs, relays its events. */
export class LoadWorker {
  private nextId = 1;
  private readonly pending = new Map<number, PendingJob>();

  private constructor(
    private readonly group: ProcessGroup,
    private readonly generator: ManagedProcess,
  ) {
    generator.child.on('message', (message: JobEvent) => this.dispatch(message));
  }

  static start(group: ProcessGroup, cpus: string | undefined): LoadWorker {
    const worker = group.launch({
      name: 'load generator',
      command: process.execPath,
      args: [workerScript],
      cpus,
      ipc: true,
    });
    return new LoadWorker(group, worker);
  }

  /** onMeasuring fires when the warm-up is over and the measured window begins. */
  paced(job: Omit<PacedJob, 'kind'>, onMeasuring: () => void): Promise<PacedOutcome> {
    return this.run({ kind: 'paced', ...job }, onMeasuring) as Promise<PacedOutcome>;
  }

  /** Like paced(), with operations defined by the job's module; outcome.requests counts operations. */
  pacedOperations(job: Omit<PacedOperationsJob, 'kind'>, onMeasuring: () => void): Promise<PacedOutcome> {
    return this.run({ kind: 'paced-operations', ...job }, onMeasuring) as Promise<PacedOutcome>;
  }

  saturate(job: Omit<SaturateJob, 'kind'>, onMeasuring: () => void): Promise<LoadOutcome> {
    return this.run({ kind: 'saturate', ...job }, onMeasuring);
  }

  private run(job: LoadJob, onMeasuring: () => void): Promise<LoadOutcome> {
    const id = this.nextId++;
    const outcome = new Promise<LoadOutcome>((resolve, reject) => {
      this.pending.set(id, { onMeasuring, resolve, reject });
    });
    this.generator.child.send({ id, job });
    return this.group.guard(outcome);
  }

  private dispatch(message: JobEvent): void {
    const job = this.pending.get(message.id);
    if (job === undefined) return;
    switch (message.event) {
      case 'measuring':
        job.onMeasuring();
        break;
      case 'done':
        this.pending.delete(message.id);
        job.resolve(message.outcome);
        break;
      case 'failed':
        this.pending.delete(message.id);
        job.reject(new Error(`load generator: ${message.message}`));
        break;
    }
  }
}
