/**
 * The publisher process of the pub/sub benchmark: publishes stamped messages (see pubsub-messages.ts) to a
 * sidecar's publish API, either paced by runPacedLanes or as a bounded-concurrency burst, and reports which were
 * accepted. It runs apart from the sidecars, pinned to the load CPU, so publishing never steals their event
 * loops. Jobs arrive over the IPC channel one at a time (see pubsub-publisher-client.ts).
 */
import { messageBody } from '../apps/pubsub-messages.js';
import { Http1Connection } from '../lib/http1-connection.js';
import { summarizeLatencies } from '../lib/latency-summary.js';
import { machineClockMicros } from '../lib/machine-clock.js';
import { runPacedLanes, type OperationVerdict, type PacedLane } from '../lib/paced-load.js';
import type { BurstPublishJob, PacedPublishJob, PublishCalls, PublishJob, PublishReport, PublisherEvent } from './pubsub-publisher-client.js';

/** Generous: at saturation a durable broker may take a while to confirm a write. */
const requestTimeoutMs = 10_000;

/** The messages of one job: how each is published on a connection, and what became of them all. */
class Publications {
  readonly accepted: number[] = [];
  failures = 0;
  firstFailure: string | undefined;
  nextSeq: number;
  private readonly url: URL;
  private readonly connections: Http1Connection[] = [];

  constructor(private readonly job: PublishJob) {
    this.url = new URL(job.publishUrl);
    this.nextSeq = job.firstSeq;
  }

  connection(): Http1Connection {
    // Every exchange names its own request, so the connection's default one stays empty.
    const connection = new Http1Connection(this.url.hostname, Number(this.url.port), Buffer.alloc(0), requestTimeoutMs);
    this.connections.push(connection);
    return connection;
  }

  /** Publishes message `seq`, stamped with the time the publish starts; rejects when no answer came. */
  async publish(connection: Http1Connection, seq: number): Promise<OperationVerdict> {
    this.nextSeq = Math.max(this.nextSeq, seq + 1);
    const body = messageBody(seq, machineClockMicros(), this.job.payloadBytes);
    let status: number;
    try {
      status = (await connection.exchange(Http1Connection.postRequest(this.url, 'application/json', body))).status;
    } catch (error) {
      this.fail(error instanceof Error ? error.message : String(error));
      throw error;
    }
    if (status !== 204) {
      this.fail(`HTTP ${status}`);
      return 'non2xx';
    }
    this.accepted.push(seq);
    return 'ok';
  }

  report(measuredFromUs: number, calls: PublishCalls): PublishReport {
    const { accepted, failures, firstFailure, nextSeq } = this;
    return { accepted, failures, firstFailure, measuredFromUs, nextSeq, calls };
  }

  close(): void {
    for (const connection of this.connections) connection.close();
  }

  private fail(reason: string): void {
    this.failures++;
    this.firstFailure ??= reason;
  }
}

async function paced(job: PacedPublishJob, publications: Publications, measuring: () => void): Promise<PublishReport> {
  const lanes = Array.from({ length: job.connections }, (): PacedLane => {
    const connection = publications.connection();
    return { run: (sequence) => publications.publish(connection, job.firstSeq + sequence) };
  });
  let measuredFromUs = machineClockMicros();
  const onMeasuring = (): void => {
    measuredFromUs = machineClockMicros();
    measuring();
  };
  const calls = await runPacedLanes({ rate: job.rate, warmupMs: job.warmupMs, durationMs: job.durationMs, onMeasuring }, lanes);
  return publications.report(measuredFromUs, calls);
}

async function burst(job: BurstPublishJob, publications: Publications, measuring: () => void): Promise<PublishReport> {
  const samplesUs = new Float64Array(job.messages);
  let timed = 0;
  let errors = 0;
  let non2xx = 0;
  let next = 0;
  const drive = async (connection: Http1Connection): Promise<void> => {
    for (let index = next++; index < job.messages; index = next++) {
      const sentNs = process.hrtime.bigint();
      try {
        if ((await publications.publish(connection, job.firstSeq + index)) === 'ok') samplesUs[timed++] = Number(process.hrtime.bigint() - sentNs) / 1000;
        else non2xx++;
      } catch {
        errors++;
      }
    }
  };
  const connections = Array.from({ length: job.concurrency }, () => publications.connection());
  measuring();
  const measuredFromUs = machineClockMicros();
  const cpuBefore = process.cpuUsage();
  const startNs = process.hrtime.bigint();
  await Promise.all(connections.map(drive));
  const wallSeconds = Number(process.hrtime.bigint() - startNs) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  return publications.report(measuredFromUs, {
    requests: job.messages,
    errors,
    non2xx,
    wallSeconds,
    generatorCpuMicros: cpu.user + cpu.system,
    latency: summarizeLatencies(samplesUs.subarray(0, timed)),
  });
}

async function execute(job: PublishJob): Promise<PublishReport> {
  const publications = new Publications(job);
  const measuring = (): void => reply({ event: 'measuring' });
  try {
    return job.kind === 'paced' ? await paced(job, publications, measuring) : await burst(job, publications, measuring);
  } finally {
    publications.close();
  }
}

function reply(event: PublisherEvent): void {
  process.send?.(event);
}

if (process.send === undefined) {
  process.stderr.write('pubsub-publisher must be started with an IPC channel\n');
  process.exit(2);
}

process.on('message', (job: PublishJob) => {
  execute(job).then(
    (report) => reply({ event: 'done', report }),
    (error: unknown) => reply({ event: 'failed', message: error instanceof Error ? error.message : String(error) }),
  );
});
// Without its parent there is nobody to report to.
process.on('disconnect', () => process.exit(0));
