import { setTimeout as sleep } from 'node:timers/promises';
import { Http1Connection } from './http1-connection.js';
import { summarizeLatencies } from './latency-summary.js';
import type { PacedOutcome } from './load-protocol.js';

export interface PacedLoadOptions {
  readonly url: string;
  readonly rate: number;
  readonly connections: number;
  readonly body: Buffer;
  /** Load whose answers are not counted, on the same connections as the measured load. */
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Called when the warm-up ends and the measured window begins. */
  readonly onMeasuring: () => void;
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

/**
 * Open-loop load at a fixed rate, the way Dapr's performance tests drive
 * fortio: every connection owns evenly spaced send slots (connections / rate
 * apart, connections staggered by 1 / rate), waits for its answer, and sends
 * the next request at its slot, or at once when the answer came too late.
 * Latency is measured from the actual send to the end of the answer with the
 * nanosecond clock, so it keeps microsecond resolution; the lean client keeps
 * its own share of each sample small.
 */
export async function runPacedLoad(options: PacedLoadOptions): Promise<PacedOutcome> {
  const target = new URL(options.url);
  const slotNs = BigInt(Math.round(1e9 / options.rate));
  const laneIntervalNs = slotNs * BigInt(options.connections);
  const startNs = process.hrtime.bigint();
  const measureNs = startNs + BigInt(options.warmupMs) * 1_000_000n;
  const endNs = measureNs + BigInt(options.durationMs) * 1_000_000n;
  const samples = new SampleBuffer(Math.ceil((options.rate * options.durationMs) / 1000));
  const tally: Tally = { errors: 0, non2xx: 0, wrongBodies: 0, lateSends: 0 };
  const requestBytes = Http1Connection.postRequest(target, 'application/octet-stream', options.body);

  const lane = async (index: number): Promise<void> => {
    const connection = new Http1Connection(target.hostname, Number(target.port), requestBytes, requestTimeoutMs);
    let slot = startNs + slotNs * BigInt(index);
    try {
      while (slot < endNs) {
        const waitNs = slot - process.hrtime.bigint();
        if (waitNs > 0n) await sleep(Number(waitNs) / 1e6);
        const sentNs = process.hrtime.bigint();
        const counted = sentNs >= measureNs;
        if (counted && waitNs < -slotNs) tally.lateSends++;
        try {
          const answer = await connection.exchange();
          if (!counted) {
            // warm-up: answers only prime the connections and the JIT
          } else if (answer.status < 200 || answer.status > 299) tally.non2xx++;
          else {
            samples.push(Number(process.hrtime.bigint() - sentNs) / 1000);
            if (answer.bodyBytes !== options.body.length) tally.wrongBodies++;
          }
        } catch {
          if (counted) tally.errors++;
        }
        slot += laneIntervalNs;
      }
    } finally {
      connection.close();
    }
  };

  let cpuBefore = process.cpuUsage();
  const beginMeasuring = (): void => {
    cpuBefore = process.cpuUsage();
    options.onMeasuring();
  };
  const measuringTimer = options.warmupMs > 0 ? setTimeout(beginMeasuring, options.warmupMs) : undefined;
  if (measuringTimer === undefined) beginMeasuring();

  const lanes: Promise<void>[] = [];
  for (let i = 0; i < options.connections; i++) lanes.push(lane(i));
  await Promise.all(lanes);
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
