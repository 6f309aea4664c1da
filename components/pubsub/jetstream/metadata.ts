// Component metadata of `pubsub.jetstream`, named as daprd's. Everything is checked at start-up: a setting the
// server would refuse at the first subscribe (a start sequence with the wrong deliver policy, a back-off longer
// than maxDeliver allows) stops start-up instead, with a message naming the field.

import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { booleanProperty, durationProperty, integerProperty, stringProperty } from '../../metadata.js';
import type { ComponentMetadata } from '../../registry.js';
import { parseGoDuration } from '../../../proxy/resources/duration.js';

/** Where a new durable consumer starts in its stream. */
export type ConsumerStart =
  | { policy: typeof DeliverPolicy.All | typeof DeliverPolicy.Last | typeof DeliverPolicy.New }
  | { policy: typeof DeliverPolicy.StartSequence; sequence: number }
  | { policy: typeof DeliverPolicy.StartTime; time: string };

export type Credentials = { jwt: string; seed: string } | { token: string };

export interface JetStreamSettings {
  servers: string[];
  connectionName: string;
  credentials: Credentials | undefined;
  tls: { certFile: string; keyFile: string } | undefined;
  domain: string | undefined;
  apiPrefix: string | undefined;
  /** The one stream every topic goes to; undefined for a stream per topic. */
  streamName: string | undefined;
  /** Replaces the subscription's consumer id in durable names. */
  durableName: string | undefined;
  start: ConsumerStart;
  ackPolicy: AckPolicy;
  ackWaitMs: number;
  /** -1 for no limit. */
  maxDeliver: number;
  /** Redelivery delays by delivery count, the last one repeating; empty for the component's own. */
  backOffMs: readonly number[];
  maxAckPending: number | undefined;
  /** Of the durable consumers, and of the streams the component creates (a consumer may not have more). */
  replicas: number | undefined;
  /** Keeps the durable consumers' state in memory; streams stay on disk. */
  memoryStorage: boolean;
  /** Idle heartbeat of each pull request; undefined for the client's default (half of pullExpiresMs). */
  heartbeatMs: number | undefined;
  /** How long one pull request waits for messages. */
  pullExpiresMs: number;
}

const DEFAULT_CONNECTION_NAME = 'dapr.io - pubsub.jetstream';
const DEFAULT_ACK_WAIT_MS = 30_000;
/**
 * How long one pull request waits for messages. Short, because after a reconnection the client retries a pull
 * request that failed only after up to this long; it is stretched to hold two heartbeats when `heartbeat` is long.
 */
const PULL_EXPIRES_MS = 5_000;

const DELIVER_POLICIES: Readonly<Record<string, ConsumerStart['policy']>> = {
  all: DeliverPolicy.All,
  last: DeliverPolicy.Last,
  new: DeliverPolicy.New,
  sequence: DeliverPolicy.StartSequence,
  time: DeliverPolicy.StartTime,
};

const ACK_POLICIES: Readonly<Record<string, AckPolicy>> = {
  explicit: AckPolicy.Explicit,
  all: AckPolicy.All,
  none: AckPolicy.None,
};

function optionalString(meta: ComponentMetadata, name: string): string | undefined {
  const value = stringProperty(meta, name, '');
  return value === '' ? undefined : value;
}

function credentialsOf(meta: ComponentMetadata): Credentials | undefined {
  const jwt = optionalString(meta, 'jwt');
  const seed = optionalString(meta, 'seedKey');
  if ((jwt === undefined) !== (seed === undefined)) throw new Error('metadata "jwt" and "seedKey" must be given together');
  // daprd's order: a JWT wins over a token.
  if (jwt !== undefined && seed !== undefined) return { jwt, seed };
  const token = optionalString(meta, 'token');
  return token === undefined ? undefined : { token };
}

function tlsOf(meta: ComponentMetadata): JetStreamSettings['tls'] {
  const certFile = optionalString(meta, 'tls_client_cert');
  const keyFile = optionalString(meta, 'tls_client_key');
  if ((certFile === undefined) !== (keyFile === undefined)) throw new Error('metadata "tls_client_cert" and "tls_client_key" must be given together');
  return certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : undefined;
}

function startOf(meta: ComponentMetadata): ConsumerStart {
  // 0 is daprd's "not set".
  const sequence = integerProperty(meta, 'startSequence', 0, 0);
  const unixSeconds = integerProperty(meta, 'startTime', 0, 0);
  const raw = optionalString(meta, 'deliverPolicy')?.toLowerCase();
  const inferred = sequence > 0 ? 'sequence' : unixSeconds > 0 ? 'time' : 'all';
  const policy = DELIVER_POLICIES[raw ?? inferred];
  if (policy === undefined) throw new Error(`metadata "deliverPolicy" must be one of ${Object.keys(DELIVER_POLICIES).join(', ')}, got "${raw}"`);
  if (policy === DeliverPolicy.StartSequence) {
    if (sequence === 0) throw new Error('metadata "deliverPolicy" "sequence" needs "startSequence"');
    if (unixSeconds > 0) throw new Error('metadata "startTime" applies only to deliverPolicy "time"');
    return { policy, sequence };
  }
  if (policy === DeliverPolicy.StartTime) {
    if (unixSeconds === 0) throw new Error('metadata "deliverPolicy" "time" needs "startTime" (Unix seconds)');
    if (sequence > 0) throw new Error('metadata "startSequence" applies only to deliverPolicy "sequence"');
    return { policy, time: new Date(unixSeconds * 1000).toISOString() };
  }
  if (sequence > 0 || unixSeconds > 0) {
    throw new Error(`metadata "${sequence > 0 ? 'startSequence' : 'startTime'}" does not apply to deliverPolicy "${raw}"`);
  }
  return { policy };
}

function ackPolicyOf(meta: ComponentMetadata): AckPolicy {
  const raw = stringProperty(meta, 'ackPolicy', 'explicit').toLowerCase();
  const policy = ACK_POLICIES[raw];
  if (policy === undefined) throw new Error(`metadata "ackPolicy" must be one of ${Object.keys(ACK_POLICIES).join(', ')}, got "${raw}"`);
  return policy;
}

/** daprd's list form: "50ms, 1s, 10s", optionally in brackets. */
function backOffOf(meta: ComponentMetadata): number[] {
  const raw = optionalString(meta, 'backOff');
  if (raw === undefined) return [];
  const items = raw.replace(/^\[|\]$/g, '').split(',').map((item) => item.trim());
  return items.map((item) => {
    let ms: number;
    try {
      ms = parseGoDuration(item);
    } catch {
      ms = Number.NaN;
    }
    if (!(ms > 0)) throw new Error(`metadata "backOff" must list positive durations such as "50ms, 1s, 10s", got "${raw}"`);
    return ms;
  });
}

/** A count where daprd reads 0 as "the server's default". */
function optionalCount(meta: ComponentMetadata, name: string, min: number): number | undefined {
  const value = integerProperty(meta, name, 0, min);
  return value === 0 ? undefined : value;
}

export function parseJetStreamSettings(meta: ComponentMetadata): JetStreamSettings {
  const url = optionalString(meta, 'natsURL');
  if (url === undefined) throw new Error('metadata "natsURL" is required (e.g. "nats://localhost:4222")');
  const maxDeliver = integerProperty(meta, 'maxDeliver', 0, -1);
  const backOffMs = backOffOf(meta);
  if (backOffMs.length > 0 && !(maxDeliver > backOffMs.length)) {
    throw new Error(`metadata "maxDeliver" must be greater than the ${backOffMs.length} "backOff" durations, got "${maxDeliver}"`);
  }
  const heartbeatMs = durationProperty(meta, 'heartbeat', 0);
  const streamName = optionalString(meta, 'streamName');
  if (streamName !== undefined && /[.*>/\\\s]/.test(streamName)) {
    throw new Error(`metadata "streamName" may not hold '.', '*', '>', '/', '\\' or white space, got "${streamName}"`);
  }
  const ackWaitMs = durationProperty(meta, 'ackWait', DEFAULT_ACK_WAIT_MS);
  if (ackWaitMs === 0) throw new Error('metadata "ackWait" must be a positive duration');
  return {
    servers: url.split(',').map((server) => server.trim()),
    connectionName: stringProperty(meta, 'name', DEFAULT_CONNECTION_NAME),
    credentials: credentialsOf(meta),
    tls: tlsOf(meta),
    domain: optionalString(meta, 'domain'),
    apiPrefix: optionalString(meta, 'apiPrefix'),
    streamName,
    durableName: optionalString(meta, 'durableName'),
    start: startOf(meta),
    ackPolicy: ackPolicyOf(meta),
    ackWaitMs,
    maxDeliver: maxDeliver === 0 ? -1 : maxDeliver,
    backOffMs,
    maxAckPending: optionalCount(meta, 'maxAckPending', -1),
    replicas: optionalCount(meta, 'replicas', 0),
    memoryStorage: booleanProperty(meta, 'memoryStorage', false),
    heartbeatMs: heartbeatMs === 0 ? undefined : heartbeatMs,
    pullExpiresMs: Math.max(PULL_EXPIRES_MS, 2 * heartbeatMs),
  };
}

/**
 * Settings daprd honours that have no effect on a pull consumer, each with the reason, for a warning at start-up.
 * Pull requests sized to the free handler slots already pace delivery, and replicas always share a durable.
 */
export function ignoredSettings(meta: ComponentMetadata): string[] {
  const notes: string[] = [];
  if (booleanProperty(meta, 'flowControl', false)) notes.push('"flowControl": pull requests sized to the free handler slots pace delivery');
  if (integerProperty(meta, 'rateLimit', 0, 0) > 0) notes.push('"rateLimit": the server refuses a rate limit on pull consumers');
  if (optionalString(meta, 'queueGroupName') !== undefined) notes.push('"queueGroupName": replicas with one consumer id always share its durable');
  return notes.map((note) => `metadata ${note}; it has no effect`);
}
