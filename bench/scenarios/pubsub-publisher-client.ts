/**
 * The harness side of the pub/sub publisher process (pubsub-publisher.ts): what it is asked to publish and
 * what it reports. It runs pinned to the load CPU, one job at a time, like the load generator of the other
 * scenarios, but reports which messages were accepted so that every one of them can be looked for at the app.
 */
import { fileURLToPath } from 'node:url';
import type { LatencySummary } from '../lib/latency-summary.js';
import type { LoadOutcome } from '../lib/load-protocol.js';
import type { ManagedProcess, ProcessGroup } from '../lib/processes.js';

const publisherScript = fileURLToPath(new URL('./pubsub-publisher.js', import.meta.url));

interface PublishTarget {
  /** http://host:port/v1.0/publish/<pubsub>/<topic> of the publishing sidecar. */
  readonly publishUrl: string;
  /** Length of each message's JSON. */
  readonly payloadBytes: number;
  /** Sequence number of the job's first message; the next ones count up from it. */
  readonly firstSeq: number;
}

/** Messages at a fixed overall rate, evenly spaced over a fixed set of connections (see runPacedLanes). */
export interface PacedPublishJob extends PublishTarget {
  readonly kind: 'paced';
  readonly rate: number;
  readonly connections: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/** A fixed number of messages, each connection publishing its next one as soon as the previous is answered. */
export interface BurstPublishJob extends PublishTarget {
  readonly kind: 'burst';
  readonly messages: number;
  /** Connections, hence publishes in flight at most. */
  readonly concurrency: number;
}

export type PublishJob = PacedPublishJob | BurstPublishJob;

/** The publish calls of the measured window (all of them for a burst), timed with the nanosecond clock. */
export interface PublishCalls extends LoadOutcome {
  readonly latency: LatencySummary;
  /** Paced jobs: sends that left more than one slot late (see PacedOutcome). */
  readonly lateSends?: number;
}

export interface PublishReport {
  /** Sequence numbers the sidecar accepted (204), warm-up included: each must reach the app. */
  readonly accepted: readonly number[];
  /** Publishes that failed (non-204 or no answer), warm-up included. */
  readonly failures: number;
  readonly firstFailure?: string;
  /** Machine-clock time (machineClockMicros) at which the measured window began. */
  readonly measuredFromUs: number;
  /** First sequence number this job did not use. */
  readonly nextSeq: number;
  readonly calls: PublishCalls;
}

export type PublisherEvent =
  | { readonly event: 'measuring' }
  | { readonly event: 'done'; readonly report: PublishReport }
  | { readonly event: 'failed'; readonly message: string };

interface PendingJob {
  readonly onMeasuring: () => void;
  readonly resolve: (report: PublishReport) => void;
  readonly reject: (error: Error) => void;
}

export class PublisherProcess {
  private pending: PendingJob | undefined;

  private constructor(
    private readonly group: ProcessGroup,
    private readonly publisher: ManagedProcess,
  ) {
    publisher.child.on('message', (message: PublisherEvent) => this.dispatch(message));
  }

  static start(group: ProcessGroup, cpus: string | undefined): PublisherProcess {
    return new PublisherProcess(group, group.launch({ name: 'publisher', command: process.execPath, args: [publisherScript], cpus, ipc: true }));
  }

  /** onMeasuring fires when the measured window begins (a burst's first publish, a paced job's end of warm-up). */
  run(job: PublishJob, onMeasuring: () => void): Promise<PublishReport> {
    if (this.pending !== undefined) return Promise.reject(new Error('the publisher runs one job at a time'));
    const report = new Promise<PublishReport>((resolve, reject) => {
      this.pending = { onMeasuring, resolve, reject };
    });
    this.publisher.child.send(job);
    return this.group.guard(report);
  }

  private dispatch(message: PublisherEvent): void {
    const job = this.pending;
    if (job === undefined) return;
    if (message.event === 'measuring') return job.onMeasuring();
    this.pending = undefined;
    if (message.event === 'done') job.resolve(message.report);
    else job.reject(new Error(`publisher: ${message.message}`));
  }
}
