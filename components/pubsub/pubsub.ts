// The pub/sub contract, after components-contrib's pubsub.PubSub: publish bytes to a topic, and subscribe with a
// handler whose promise decides the message's fate (resolved: acknowledge; rejected: the broker delivers it again).
// CloudEvents, routing, retries and dead-lettering belong to the runtime, not to components.

declare module '../registry.js' {
  interface ComponentKinds {
    pubsub: PubSub;
  }
}

export const PubSubFeature = {
  /** The broker expires messages itself given `ttlInSeconds`; otherwise the runtime stamps an expiration. */
  MESSAGE_TTL: 'MESSAGE_TTL',
  SUBSCRIBE_WILDCARDS: 'SUBSCRIBE_WILDCARDS',
  BULK_PUBLISH: 'BULK_PUBLISH',
} as const;
export type PubSubFeature = (typeof PubSubFeature)[keyof typeof PubSubFeature];

/** Request metadata (`metadata.*` query parameters, `ttlInSeconds`, broker-specific keys). */
export type PubSubMetadata = Readonly<Record<string, string>>;

export interface PublishRequest {
  topic: string;
  /** Usually a CloudEvent's JSON; the component sends it unchanged. The caller may reuse the buffer afterwards. */
  data: Uint8Array;
  contentType?: string;
  metadata: PubSubMetadata;
}

export interface BulkPublishEntry {
  entryId: string;
  data: Uint8Array;
  contentType?: string;
  metadata: PubSubMetadata;
}

export interface BulkPublishFailure {
  entryId: string;
  error: Error;
}

export interface Message {
  topic: string;
  data: Uint8Array;
  contentType?: string;
  /** What the broker knows of the message (ids, headers); passed on to the app as headers. */
  metadata: PubSubMetadata;
}

/**
 * Resolves once the message is processed: the component acknowledges it. Rejects when it must be delivered again:
 * the component leaves it to the broker's redelivery (or redelivers it itself after a back-off). Never both.
 */
export type MessageHandler = (message: Message) => Promise<void>;

export interface SubscribeRequest {
  topic: string;
  /** The subscription's own metadata (e.g. `rawPayload`, broker-specific keys). */
  metadata: PubSubMetadata;
  /**
   * The consumer identity: the subscription's `consumerID`, else the component's, else the app id (Dapr's default,
   * so the replicas of one app share a topic's messages while other apps each get their own copy).
   */
  consumerId: string;
  /**
   * Most handler calls pending at once for this subscription. The component stops taking messages from the broker
   * while this many are pending (a slow app holds the broker back instead of filling the sidecar's memory).
   */
  maxInFlight: number;
}

export interface Subscription {
  /** Stops taking messages; messages not yet acknowledged are left to the broker's redelivery. */
  close(): Promise<void>;
}

export interface PubSub {
  features(): readonly PubSubFeature[];
  /** Resolves once the broker has accepted the message (persisted it, where the broker persists). */
  publish(req: PublishRequest): Promise<void>;
  /**
   * Starts consuming. Resolves once the subscription is established on the broker, so that a message published
   * after it resolves is received. Survives broker restarts: the component reconnects on its own.
   */
  subscribe(req: SubscribeRequest, handler: MessageHandler): Promise<Subscription>;
  /**
   * Ends every subscription and the connection. Does not wait for pending handler calls: their messages stay
   * unacknowledged, for the broker to deliver again to whoever consumes next.
   */
  close(): Promise<void>;
}

/** A pub/sub advertising BULK_PUBLISH sends many messages in one round trip. */
export interface BulkPublisher extends PubSub {
  /** Every entry is attempted; the failed ones are returned (an empty array when all succeeded). */
  bulkPublish(topic: string, entries: readonly BulkPublishEntry[], metadata: PubSubMetadata): Promise<BulkPublishFailure[]>;
}

export function isBulkPublisher(pubsub: PubSub): pubsub is BulkPublisher {
  return pubsub.features().includes(PubSubFeature.BULK_PUBLISH) && typeof (pubsub as Partial<BulkPublisher>).bulkPublish === 'function';
}

/** A metadata value looked up ignoring the case of its name, as components-contrib decodes metadata. */
export function metadataIgnoringCase(metadata: PubSubMetadata, name: string): string | undefined {
  if (Object.hasOwn(metadata, name)) return metadata[name];
  const folded = name.toLowerCase();
  for (const key of Object.keys(metadata)) if (key.toLowerCase() === folded) return metadata[key];
  return undefined;
}

/** The subscriptions a component has open: each can be closed on its own, and the component's close() ends the rest. */
export class OpenSubscriptions {
  private readonly open = new Set<Subscription>();

  /** Starts tracking `subscription`; the returned handle closes it and stops tracking it. */
  track(subscription: Subscription): Subscription {
    this.open.add(subscription);
    return {
      close: async () => {
        this.open.delete(subscription);
        await subscription.close();
      },
    };
  }

  async closeAll(): Promise<void> {
    const open = [...this.open];
    this.open.clear();
    await Promise.all(open.map((subscription) => subscription.close()));
  }
}
