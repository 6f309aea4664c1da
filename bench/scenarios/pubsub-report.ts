import type { LatencySummary } from '../lib/latency-summary.js';
import { renderTable, type Align } from '../lib/table.js';
import type { PubSubBroker } from './pubsub-brokers.js';
import type { PublishCalls } from './pubsub-publisher-client.js';

/** A figure of each sidecar; `publisher` is absent when one sidecar publishes and delivers (the in-memory broker). */
export interface PerSidecar {
  readonly subscriber: number;
  readonly publisher?: number;
}

/** What became of one phase's messages. */
export interface DeliveryCheck {
  /** Publishes the sidecar accepted (204). */
  readonly accepted: number;
  /** Accepted messages that reached the app. */
  readonly delivered: number;
  /** Accepted messages that never reached it (nothing more arrived for the stall timeout). */
  readonly lost: number;
  /** The first few lost sequence numbers. */
  readonly lostSample: readonly number[];
  /** Further receipts of messages already delivered, of this phase or an earlier one (at-least-once). */
  readonly duplicates: number;
  /** Events at the app without a readable stamp. */
  readonly unstamped: number;
  /** Publishes that were not accepted (non-204 answer or none). */
  readonly publishFailures: number;
  readonly firstPublishFailure?: string;
}

/** Messages at a fixed rate: publish -> app latency, publish call latency, sidecar cores. */
export interface PacedMeasurement {
  readonly calls: PublishCalls;
  /** Publish start -> app receipt of the messages sent in the measured window, same clock. */
  readonly delivery: LatencySummary;
  readonly check: DeliveryCheck;
  /** Sidecar CPU seconds per wall second over the measured window. */
  readonly sidecarCores: PerSidecar;
}

/** A fixed number of messages as fast as they are accepted: throughput and CPU per message. */
export interface SaturationMeasurement {
  readonly calls: PublishCalls;
  /** Publishes in flight during the burst. */
  readonly concurrency: number;
  /** Accepted publishes per second, first send to last answer. */
  readonly publishedPerSecond: number;
  /** Deliveries per second at the app, first receipt to last. */
  readonly deliveredPerSecond: number;
  /** Publish -> app latency under saturation: mostly time queued in the broker. */
  readonly delivery: LatencySummary;
  readonly check: DeliveryCheck;
  /** Sidecar CPU per delivered message, from the first publish until every message reached the app. */
  readonly sidecarCpuMicrosPerMessage: PerSidecar;
  readonly appCpuMicrosPerMessage: number;
}

export interface BrokerMeasurement {
  readonly broker: PubSubBroker;
  readonly componentType: string;
  /** Why nothing was measured: the type is not registered, or its server is unreachable. */
  skipped?: string;
  /** Why the run stopped after it began; the other brokers are still measured. */
  failed?: string;
  /** Parts left out or not cleaned up, with the reason. */
  readonly gaps: string[];
  paced?: PacedMeasurement;
  saturation?: SaturationMeasurement;
  peakRssBytes?: PerSidecar;
}

/** What makes a phase fail: messages lost or unreadable, publishes refused. */
export function checkProblems(check: DeliveryCheck): string[] {
  const problems: string[] = [];
  if (check.lost > 0) problems.push(`LOST ${check.lost} of ${check.accepted}`);
  if (check.unstamped > 0) problems.push(`${check.unstamped} unreadable events`);
  if (check.publishFailures > 0) problems.push(`${check.publishFailures} publishes failed, first: ${check.firstPublishFailure}`);
  return problems;
}

/** What makes the run fail: a failing phase, or a broker whose run failed. */
export function brokerProblems(m: BrokerMeasurement): string[] {
  const problems = m.failed === undefined ? [] : [`FAILED: ${m.failed}`];
  for (const [phase, check] of [['rate', m.paced?.check], ['saturation', m.saturation?.check]] as const) {
    if (check !== undefined) problems.push(...checkProblems(check).map((problem) => `${problem} (${phase})`));
  }
  return problems;
}

const dash = '-';
const ms = (us: number): string => (us / 1000).toFixed(3);
const perSecond = (value: number): string => String(Math.round(value));

function perSidecar(value: PerSidecar | undefined, format: (value: number) => string, joiner: string): string {
  if (value === undefined) return dash;
  if (value.publisher === undefined) return format(value.subscriber);
  return `${format(value.publisher)}${joiner}${format(value.subscriber)}`;
}

function note(m: BrokerMeasurement): string {
  if (m.skipped !== undefined) return `skipped: ${m.skipped}`;
  const notes = brokerProblems(m);
  const duplicates = (m.paced?.check.duplicates ?? 0) + (m.saturation?.check.duplicates ?? 0);
  if (duplicates > 0) notes.push(`${duplicates} duplicate deliveries`);
  if (m.peakRssBytes !== undefined && m.peakRssBytes.publisher === undefined) notes.push('one sidecar publishes and delivers');
  if (m.saturation !== undefined) notes.push(`burst with ${m.saturation.concurrency} publishes in flight`);
  return notes.join('; ');
}

/** One row per broker asked for, skipped and failed ones included. */
export function renderPubSubTable(measurements: readonly BrokerMeasurement[], rate: number): string {
  const headers = [
    'broker', 'p50 ms', 'p90 ms', 'p99 ms', 'publish p50', 'publish p99',
    'sat publish/s', 'sat deliver/s', 'CPU ms/1k msg pub + sub', `cores @${rate}/s pub + sub`, 'peak RSS MB pub / sub', 'note',
  ];
  const align: Align[] = ['left', ...Array<Align>(headers.length - 2).fill('right'), 'left'];
  const body = measurements.map((m) => {
    const delivery = m.paced?.delivery;
    const calls = m.paced?.calls.latency;
    const optional = (value: number | undefined, format: (value: number) => string): string => (value === undefined ? dash : format(value));
    return [
      m.broker,
      optional(delivery?.p50Us, ms),
      optional(delivery?.p90Us, ms),
      optional(delivery?.p99Us, ms),
      optional(calls?.p50Us, ms),
      optional(calls?.p99Us, ms),
      optional(m.saturation?.publishedPerSecond, perSecond),
      optional(m.saturation?.deliveredPerSecond, perSecond),
      perSidecar(m.saturation?.sidecarCpuMicrosPerMessage, (us) => us.toFixed(1), ' + '),
      perSidecar(m.paced?.sidecarCores, (cores) => cores.toFixed(3), ' + '),
      perSidecar(m.peakRssBytes, (bytes) => (bytes / 1e6).toFixed(0), ' / '),
      note(m),
    ];
  });
  return renderTable(headers, body, align);
}
