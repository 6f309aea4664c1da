import { randomBytes } from 'node:crypto';
import {
  isBulkPublisher,
  PubSubFeature,
  type BulkPublishEntry,
  type BulkPublishFailure,
  type PubSub,
  type PubSubMetadata,
} from '../../components/pubsub/pubsub.js';
import type { ComponentSet } from '../../components/registry.js';
import { CLOUD_EVENT_CONTENT_TYPE, CloudEventError, publishedCloudEvent, serializeCloudEvent } from './cloudevents.js';
import { pubsubErrors } from './errors.js';

export interface PublishCall {
  pubsubName: string;
  topic: string;
  body: Uint8Array;
  /** The request's content type; '' when it has none. */
  contentType: string;
  /** `rawPayload`, `ttlInSeconds`, `cloudevent.*` overrides and broker-specific keys. */
  metadata: PubSubMetadata;
  /** The caller's W3C trace context, when it sent one. */
  traceparent?: string;
  tracestate?: string;
}

export interface BulkEntry {
  entryId: string;
  event: Uint8Array;
  contentType: string;
  metadata: PubSubMetadata;
}

export interface BulkPublishCall {
  pubsubName: string;
  topic: string;
  entries: readonly BulkEntry[];
  /** Request-level metadata; merged into every entry's, the entry's keys winning. */
  metadata: PubSubMetadata;
  traceparent?: string;
  tracestate?: string;
}

export interface FailedEntry {
  entryId: string;
  error: string;
}

interface Target {
  pubsub: PubSub;
  rawPayload: boolean;
  brokerHandlesTtl: boolean;
}

interface TraceContext {
  traceparent: string;
  tracestate: string;
}

// Entries of a bulk request go to a pub/sub without bulk support as this many publishes at once, as in daprd.
const MAX_PARALLEL_PUBLISHES = 100;

/**
 * The publishing half of the pub/sub building block, between the API fronts and the components: pub/sub lookup,
 * CloudEvent envelopes, bulk fan-out and Dapr's error codes. Both the HTTP routes and the gRPC methods call it.
 */
export class PubSubPublisher {
  constructor(
    private readonly components: ComponentSet,
    private readonly appId: string,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Throws the error daprd gives for an unusable pub/sub, topic or `rawPayload`. Publishing checks this itself; a
   * front calls it first when these errors must come before those of decoding its body.
   */
  checkTarget(pubsubName: string, topic: string, metadata: PubSubMetadata): void {
    this.target(pubsubName, topic, metadata);
  }

  /** Publishes one event: wrapped in a CloudEvent unless `metadata.rawPayload` is true. */
  async publish(call: PublishCall): Promise<void> {
    const { pubsubName, topic, metadata } = call;
    const target = this.target(pubsubName, topic, metadata);
    const request = target.rawPayload
      ? { topic, data: call.body, contentType: call.contentType || undefined, metadata }
      : {
          topic,
          data: this.envelope(target, call, call.body, call.contentType, metadata, publishSpan(call.traceparent, call.tracestate)),
          contentType: CLOUD_EVENT_CONTENT_TYPE,
          metadata,
        };
    try {
      await target.pubsub.publish(request);
    } catch (err) {
      throw pubsubErrors.publishMessage(topic, pubsubName, errorOf(err).message);
    }
  }

  /**
   * Publishes every entry, each with its own span, through the component's bulk publish when it has one, else as
   * parallel publishes. Resolves with the entries that failed, in request order (none: all were published).
   */
  async bulkPublish(call: BulkPublishCall): Promise<FailedEntry[]> {
    const { pubsubName, topic } = call;
    const target = this.target(pubsubName, topic, call.metadata);
    const seen = new Set<string>();
    for (const { entryId } of call.entries) {
      if (entryId === '' || seen.has(entryId)) throw pubsubErrors.marshalEvents(topic, pubsubName, 'entryId is duplicated or not present for entry');
      seen.add(entryId);
    }
    if (call.entries.length === 0) return [];
    const span = publishSpan(call.traceparent, call.tracestate);
    const entries = call.entries.map((entry): BulkPublishEntry => {
      const metadata = { ...call.metadata, ...entry.metadata };
      return target.rawPayload
        ? { entryId: entry.entryId, data: entry.event, contentType: entry.contentType || undefined, metadata }
        : {
            entryId: entry.entryId,
            data: this.envelope(target, call, entry.event, entry.contentType, metadata, childSpan(span)),
            contentType: CLOUD_EVENT_CONTENT_TYPE,
            metadata,
          };
    });
    const pubsub = target.pubsub;
    const failures = isBulkPublisher(pubsub)
      ? await pubsub.bulkPublish(topic, entries, call.metadata).catch((err: unknown) => entries.map(({ entryId }) => ({ entryId, error: errorOf(err) })))
      : await publishEach(pubsub, topic, entries);
    return failures.map(({ entryId, error }) => ({ entryId, error: error.message }));
  }

  private target(pubsubName: string, topic: string, metadata: PubSubMetadata): Target {
    const pubsub = pubsubName === '' ? undefined : this.components.get('pubsub', pubsubName);
    if (pubsub === undefined) {
      if (this.components.ofKind('pubsub').length === 0) throw pubsubErrors.notConfigured(pubsubName);
      throw pubsubName === '' ? pubsubErrors.nameEmpty() : pubsubErrors.notFound(pubsubName);
    }
    if (topic === '') throw pubsubErrors.topicEmpty(pubsubName);
    return { pubsub, rawPayload: rawPayloadOf(metadata), brokerHandlesTtl: pubsub.features().includes(PubSubFeature.MESSAGE_TTL) };
  }

  private envelope(
    target: Target,
    call: { pubsubName: string; topic: string },
    body: Uint8Array,
    contentType: string,
    metadata: PubSubMetadata,
    trace: TraceContext,
  ): Buffer {
    try {
      return serializeCloudEvent(
        publishedCloudEvent({
          body,
          contentType,
          topic: call.topic,
          pubsubName: call.pubsubName,
          source: this.appId,
          traceparent: trace.traceparent,
          tracestate: trace.tracestate,
          metadata,
          brokerHandlesTtl: target.brokerHandlesTtl,
          nowMs: this.now(),
        }),
      );
    } catch (err) {
      if (err instanceof CloudEventError) throw pubsubErrors.cloudEventCreation(err.message);
      throw err;
    }
  }
}

// Go's strconv.ParseBool, which daprd applies to `rawPayload`.
const GO_TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

function rawPayloadOf(metadata: PubSubMetadata): boolean {
  const value = metadata['rawPayload'];
  if (value === undefined || value === '' || GO_FALSE.has(value)) return false;
  if (GO_TRUE.has(value)) return true;
  throw pubsubErrors.requestMetadata(`rawPayload value must be a valid boolean: actual is '${value}'`);
}

async function publishEach(pubsub: PubSub, topic: string, entries: readonly BulkPublishEntry[]): Promise<BulkPublishFailure[]> {
  const outcomes: Array<BulkPublishFailure | undefined> = new Array(entries.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < entries.length) {
      const index = next++;
      const { entryId, data, contentType, metadata } = entries[index]!;
      try {
        await pubsub.publish({ topic, data, contentType, metadata });
      } catch (err) {
        outcomes[index] = { entryId, error: errorOf(err) };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(MAX_PARALLEL_PUBLISHES, entries.length) }, worker));
  return outcomes.filter((outcome): outcome is BulkPublishFailure => outcome !== undefined);
}

function errorOf(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

/**
 * The publish span's context, which the CloudEvent carries: a child of the caller's span, or without a valid one
 * the root of a new trace, not sampled (no tracing is configured).
 */
function publishSpan(traceparent: string | undefined, tracestate: string | undefined): TraceContext {
  const parent = traceparent === undefined ? null : TRACEPARENT.exec(traceparent);
  if (parent === null || parent[1] === ZERO_TRACE_ID || parent[2] === ZERO_SPAN_ID) {
    return { traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-00`, tracestate: '' };
  }
  return childSpan({ traceparent: traceparent!, tracestate: tracestate ?? '' });
}

/** Same trace and flags, a new span id (a traceparent is `00-<trace id>-<span id>-<flags>`). */
function childSpan(parent: TraceContext): TraceContext {
  const { traceparent } = parent;
  return { traceparent: `${traceparent.slice(0, 36)}${randomBytes(8).toString('hex')}${traceparent.slice(52)}`, tracestate: parent.tracestate };
}
