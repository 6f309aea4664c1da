import { setTimeout as sleep } from 'node:timers/promises';
import { Http1Connection } from './http1-connection.js';
import { summarizeLatencies } from './latency-summary.js';
import type { PacedOutcome } from './load-protocol.js';

/** The timing of a paced run. */
export interface PacedSchedule {
  readonly rate: number;
  /** Load whose answers are not counted, on the same lanes as the measured load. */
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Called when the warm-up ends and the measured window begins. */
  readonly onMeasuring: () => void;
}

export interface PacedLoadOptions extends PacedSchedule {
  readonly url: string;
  readonly connections: number;
  readonly body: Buffer;
}

/** How an operation that got its answers went; a failure to get them rejects instead. */
export type OperationVerdict = 'ok' | 'non2xx' | 'wrong-body';

/**
 * One connection's worth of load: it runs one operation at a time. An operation
 * may be several exchanges (a save then a read); its latency covers them all.
 */
export interface PacedLane {
  /**
   * sequence counts the operations of all lanes in slot order (lane i runs i, i + lanes, ...), so lanes can
   * share a key space without two of them working on one key at once.
   */
  run(sequence: number): Promise<OperationVerdict>;
}

const requestTimeoutMs = 5000;

/** Latency samples in microseconds, growing when the run goes past the expected count. */
class SampleBuffer {
  private samples: Float64Array;
  length = 0;

  constructor(expected: number) {
    this.samples = new Float64Array(Math.max(1024, expected));
  }

  push(value: number): void {
    if (this.length === this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.length++] = value;
  }

  view(): Float64Array {
    return this.samples.subarray(0, this.length);
  }
}

interface Tally {
  errors: number;
  non2xx: number;
  wrongBodies: number;
  lateSends: number;
}

/** A POST of a fixed body per operation, expecting it echoed. */
function echoLane(connection: Http1Connection, bodyBytes: number): PacedLane {
  return {
    run: () =>
      connection.exchange().then((answer) => {
        if (answer.status < 200 || answer.status > 299) return 'non2xx';
        return answer.bodyBytes === bodyBytes ? 'ok' : 'wrong-body';
      }),
  };
}

/** Paced POSTs of one body to one URL, each answer expected to echo it. */
export async function runPacedLoad(options: PacedLoadOptions): Promise<PacedOutcome> {
  const target = new URL(options.url);
  const requestBytes = Http1Connection.postRequest(target, 'application/octet-stream', options.body);
  const connections: Http1Connection[] = [];
  for (let i = 0; i < options.connections; i++) {
    connections.push(new Http1Connection(target.hostname, Number(target.port), requestBytes, requestTimeoutMs));
  }
  try {
    return await runPacedLanes(
      options,
      connections.map((connection) => echoLane(connection, options.body.length)),
    );
  } finally {
    for (const connection of connections) connection.close();
  }
}

/**
 * Open-loop load at a fixed rate, the way Dapr's performance tests drive
 * fortio: every lane owns evenly spaced send slots (lanes / rate apart, lanes
 * staggered by 1 / rate), waits for its operation, and starts the next one at
 * its slot, or at once when the previous one finished too late. Latency is
 * measured from the actual start to the end of the operation with the
 * nanosecond clock, so it keeps microsecond resolution; lean lanes keep their
 * own share of each sample small.
 */
export async function runPacedLanes(schedule: PacedSchedule, lanes: readonly PacedLane[]): Promise<PacedOutcome> {
  const slotNs = BigInt(Math.round(1e9 / schedule.rate));
  const laneIntervalNs = slotNs * BigInt(lanes.length);
  const startNs = process.hrtime.bigint();
  const measureNs = startNs + BigInt(schedule.warmupMs) * 1_000_000n;
  const endNs = measureNs + BigInt(schedule.durationMs) * 1_000_000n;
  const samples = new SampleBuffer(Math.ceil((schedule.rate * schedule.durationMs) / 1000));
  const tally: Tally = { errors: 0, non2xx: 0, wrongBodies: 0, lateSends: 0 };

  const drive = async (lane: PacedLane, index: number): Promise<void> => {
    let slot = startNs + slotNs * BigInt(index);
    for (let sequence = index; slot < endNs; sequence += lanes.length) {
      const waitNs = slot - process.hrtime.bigint();
      if (waitNs > 0n) await sleep(Number(waitNs) / 1e6);
      const sentNs = process.hrtime.bigint();
      const counted = sentNs >= measureNs;
      if (counted && waitNs < -slotNs) tally.lateSends++;
      try {
        const verdict = await lane.run(sequence);
        if (!counted) {
          // warm-up: operations only prime the connections and the JIT
        } else if (verdict === 'non2xx') tally.non2xx++;
        else {
          samples.push(Number(process.hrtime.bigint() - sentNs) / 1000);
          if (verdict === 'wrong-body') tally.wrongBodies++;
        }
      } catch {
        if (counted) tally.errors++;
      }
      slot += laneIntervalNs;
    }
  };

  let cpuBefore = process.cpuUsage();
  const beginMeasuring = (): void => {
    cpuBefore = process.cpuUsage();
    schedule.onMeasuring();
  };
  const measuringTimer = schedule.warmupMs > 0 ? setTimeout(beginMeasuring, schedule.warmupMs) : undefined;
  if (measuringTimer === undefined) beginMeasuring();

  await Promise.all(lanes.map(drive));
  clearTimeout(measuringTimer);

  const wallSeconds = Number(process.hrtime.bigint() - measureNs) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  const latency = summarizeLatencies(samples.view());
  return {
    requests: latency.count + tally.non2xx + tally.errors,
    errors: tally.errors,
    non2xx: tally.non2xx,
    wallSeconds,
    generatorCpuMicros: cpu.user + cpu.system,
    latency,
    lateSends: tally.lateSends,
    wrongBodies: tally.wrongBodies,
  };
}
