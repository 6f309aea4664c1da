// `pubsub.jetstream`: topics as NATS subjects stored in JetStream streams (see streams.ts), consumed through one
// durable pull consumer per topic and consumer id (see subscription.ts). A publish resolves on the server's
// acknowledgement that the message is stored. The client reconnects by itself, without limit, and calls fail at
// once while it does; streams and consumers kept on the server's disk survive its restarts, and subscriptions pull
// again as soon as it is back.

import { connect, jwtAuthenticator, millis, nanos, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import {
  DeliverPolicy,
  JetStreamApiCodes,
  jetstream,
  jetstreamManager,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  type JetStreamOptions,
} from '@nats-io/jetstream';
import { registerComponent } from '../../registry.js';
import { createLogger } from '../../../proxy/runtime/logger.js';
import type { MessageHandler, PubSub, PubSubFeature, PublishRequest, SubscribeRequest, Subscription } from '../pubsub.js';
import { ignoredSettings, parseJetStreamSettings, type JetStreamSettings } from './metadata.js';
import { headersFor } from './messages.js';
import { natsName } from './names.js';
import { TopicStreams, isApiError } from './streams.js';
import { PullSubscription, type BoundConsumer } from './subscription.js';

/** nats.go's bound on a JetStream request, daprd's client: a publish fails after it while the server is away. */
const API_TIMEOUT_MS = 5_000;
const RECONNECT_WAIT_MS = 1_000;
/** How long closing waits for the server to take the acknowledgements already given. */
const DRAIN_LIMIT_MS = 2_000;
/** Servers from 2.10 refuse to create a durable over one with another configuration; it is updated instead. */
const CONSUMER_EXISTS = 10148;
/** The consumer's filter subject is not among the stream's subjects. */
const FILTER_NOT_IN_STREAM = 10093;
const CONSUMER_BIND_ATTEMPTS = 5;
const logger = createLogger('pubsub.jetstream');
const encoder = new TextEncoder();

function connectionOptions(settings: JetStreamSettings): NodeConnectionOptions {
  const { credentials, tls } = settings;
  return {
    servers: settings.servers,
    name: settings.connectionName,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    ...(credentials === undefined
      ? {}
      : 'token' in credentials
        ? { token: credentials.token }
        : { authenticator: jwtAuthenticator(credentials.jwt, encoder.encode(credentials.seed)) }),
    ...(tls === undefined ? {} : { tls: { certFile: tls.certFile, keyFile: tls.keyFile } }),
  };
}

/** What the client throws when nothing answers a publish: no stream takes its subject. */
function isUnstored(err: unknown): boolean {
  return err instanceof Error && err.name === 'JetStreamNotEnabled';
}

export class JetStreamPubSub implements PubSub {
  private readonly subscriptions = new Set<PullSubscription>();
  private readonly streams: TopicStreams;
  private closed = false;
  /**
   * Set from losing the connection until it is back. The client drops what it queued meanwhile when it reconnects,
   * so a publish or a subscribe then fails at once instead of waiting out its timeout.
   */
  private unreachable: string | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly settings: JetStreamSettings,
  ) {
    this.streams = new TopicStreams(jsm, settings);
    void this.watchConnection();
  }

  /** Connects and checks that the server offers JetStream to this account. */
  static async open(settings: JetStreamSettings): Promise<JetStreamPubSub> {
    const nc = await connect(connectionOptions(settings)).catch((err: Error) => {
      throw new Error(`cannot connect to NATS at ${settings.servers.join(', ')}: ${err.message}`, { cause: err });
    });
    try {
      const options: JetStreamOptions = {
        timeout: API_TIMEOUT_MS,
        ...(settings.domain === undefined ? {} : { domain: settings.domain }),
        ...(settings.apiPrefix === undefined ? {} : { apiPrefix: settings.apiPrefix }),
      };
      const jsm = await jetstreamManager(nc, options);
      return new JetStreamPubSub(nc, jetstream(nc, options), jsm, settings);
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  features(): readonly PubSubFeature[] {
    return [];
  }

  async publish(req: PublishRequest): Promise<void> {
    this.assertUsable();
    // While disconnected the client queues the payload by reference, and the caller may reuse its buffer at once.
    const data = Uint8Array.prototype.slice.call(req.data);
    const carried = headersFor(req.contentType);
    const options = carried === undefined ? {} : { headers: carried };
    try {
      await this.js.publish(req.topic, data, options);
    } catch (err) {
      if (!isUnstored(err)) throw err;
      this.streams.forget(req.topic);
      await this.streams.streamOf(req.topic);
      await this.js.publish(req.topic, data, options);
    }
  }

  async subscribe(req: SubscribeRequest, handler: MessageHandler): Promise<Subscription> {
    this.assertUsable();
    const bind = (): Promise<BoundConsumer> => this.bindConsumer(req.topic, req.consumerId);
    const bound = await bind();
    const subscription: PullSubscription = new PullSubscription(
      bound,
      bind,
      handler,
      {
        topic: req.topic,
        maxInFlight: Math.max(1, req.maxInFlight),
        ackPolicy: this.settings.ackPolicy,
        expiresMs: this.settings.pullExpiresMs,
        heartbeatMs: this.settings.heartbeatMs,
        backOffMs: this.settings.backOffMs,
      },
      () => this.subscriptions.delete(subscription),
    );
    this.subscriptions.add(subscription);
    if (this.closed) {
      // The component closed while the consumer was being set up.
      await subscription.close();
      this.assertUsable();
    }
    return subscription;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Subscriptions stop pulling at once; one setting its consumer up again ends when the connection closes.
    const stopped = [...this.subscriptions].map((subscription) => subscription.close());
    // Draining hands the server the acknowledgements already given. It waits for the server, so it is skipped while
    // the server is known to be away, and bounded otherwise.
    if (this.unreachable === undefined) {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_LIMIT_MS)));
      await Promise.race([this.nc.drain().catch(() => undefined), limit]);
      clearTimeout(timer);
    }
    if (!this.nc.isClosed()) await this.nc.close();
    await Promise.all(stopped);
  }

  private assertUsable(): void {
    if (this.closed) throw new Error('the pubsub.jetstream component is closed');
    if (this.unreachable !== undefined) throw new Error(`NATS at ${this.unreachable} is unreachable; reconnecting`);
  }

  /** Creates (or updates) the durable consumer of `topic` for `consumerId`, in the stream storing the topic. */
  private async bindConsumer(topic: string, consumerId: string): Promise<BoundConsumer> {
    const config = this.consumerConfig(topic, consumerId);
    let info: ConsumerInfo;
    for (let attempt = 1; ; attempt++) {
      this.assertUsable();
      const stream = await this.streams.streamOf(topic);
      try {
        info = await this.jsm.consumers.add(stream, config);
        break;
      } catch (err) {
        if (isApiError(err, JetStreamApiCodes.StreamNotFound)) this.streams.forget(topic);
        // Stream updates are last-writer-wins: an instance adding its own topic to a shared `streamName` at the same
        // moment can drop ours from the subjects. Adding it again and retrying settles it.
        if (isApiError(err, FILTER_NOT_IN_STREAM) && attempt < CONSUMER_BIND_ATTEMPTS) {
          this.streams.forget(topic);
          continue;
        }
        if (!isApiError(err, CONSUMER_EXISTS)) throw err;
        info = await this.jsm.consumers.update(stream, config.durable_name, config);
        break;
      }
    }
    return { consumer: this.js.consumers.getConsumerFromInfo(info), ackWaitMs: millis(info.config.ack_wait ?? nanos(this.settings.ackWaitMs)) };
  }

  private consumerConfig(topic: string, consumerId: string): Partial<ConsumerConfig> & { durable_name: string } {
    const s = this.settings;
    const start = s.start;
    return {
      durable_name: natsName(s.durableName ?? consumerId, topic),
      filter_subject: topic,
      ack_policy: s.ackPolicy,
      deliver_policy: start.policy,
      ...(start.policy === DeliverPolicy.StartSequence ? { opt_start_seq: start.sequence } : {}),
      ...(start.policy === DeliverPolicy.StartTime ? { opt_start_time: start.time } : {}),
      ack_wait: nanos(s.ackWaitMs),
      max_deliver: s.maxDeliver,
      ...(s.backOffMs.length === 0 ? {} : { backoff: s.backOffMs.map(nanos) }),
      ...(s.maxAckPending === undefined ? {} : { max_ack_pending: s.maxAckPending }),
      ...(s.replicas === undefined ? {} : { num_replicas: s.replicas }),
      ...(s.memoryStorage ? { mem_storage: true } : {}),
    };
  }

  private async watchConnection(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect') {
        this.unreachable = status.server;
        logger.warn(`disconnected from NATS at ${status.server}; reconnecting`);
      } else if (status.type === 'reconnect') {
        this.unreachable = undefined;
        logger.info(`reconnected to NATS at ${status.server}`);
        for (const subscription of this.subscriptions) subscription.retryNow();
      }
    }
  }
}

registerComponent({
  type: 'pubsub.jetstream',
  versions: ['v1'],
  kind: 'pubsub',
  create: (meta) => {
    const settings = parseJetStreamSettings(meta);
    for (const note of ignoredSettings(meta)) logger.warn(`component "${meta.name}": ${note}`);
    return JetStreamPubSub.open(settings);
  },
});
