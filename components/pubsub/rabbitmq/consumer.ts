// One subscription of pubsub.rabbitmq: its own channel consuming its queue with manual acknowledgements. The prefetch
// is at most maxInFlight, so the broker never has more messages out to it than may be pending in the handler; a
// message is acknowledged once its handler resolved and requeued (after a pause) when it rejected. The channel is
// opened again, and the queue declared again, after every reconnection, and a while after the broker closed the
// channel or cancelled the consumer (e.g. the queue was deleted).

import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../../../proxy/runtime/logger.js';
import { metadataIgnoringCase, type Message, type MessageHandler, type PubSubMetadata, type SubscribeRequest, type Subscription } from '../pubsub.js';
import { closeChannel, type BrokerConnection } from './connection.js';
import { MAX_PREFETCH, type RabbitMQSettings } from './metadata.js';
import { declareQueue, queueName } from './topology.js';

/**
 * Pauses before a rejected message goes back to the queue. RabbitMQ hands a requeued message out again at once, so
 * without a pause a message the app keeps failing would spin; a first failure may be transient and retries sooner.
 */
const FIRST_REDELIVERY_DELAY_MS = 100;
const REPEATED_REDELIVERY_DELAY_MS = 1000;
const NO_METADATA: PubSubMetadata = Object.freeze({});

/** Acks and nacks on a channel that has closed throw; its unacknowledged messages are redelivered anyway. */
function settle(decide: () => void): void {
  try {
    decide();
  } catch {
    // See above.
  }
}

export class QueueConsumer implements Subscription {
  private readonly queue: string;
  private readonly routingKeys: readonly string[];
  private readonly prefetch: number;
  private readonly removeConnectListener: () => void;
  private channel: Channel | undefined;
  private closed = false;
  /** Counts establish() calls, so that one overtaken by a newer one gives its channel up. */
  private generation = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly redeliveries = new Set<NodeJS.Timeout>();

  constructor(
    private readonly connection: BrokerConnection,
    private readonly settings: RabbitMQSettings,
    private readonly req: SubscribeRequest,
    private readonly handler: MessageHandler,
    private readonly logger: Logger,
  ) {
    this.queue = queueName(req.consumerId, req.topic);
    // daprd's subscription metadata: comma-separated binding keys, "" included ("a,b," binds a, b and "").
    this.routingKeys = (metadataIgnoringCase(req.metadata, 'routingKey') ?? '').split(',');
    const limit = settings.singleConcurrency ? 1 : Math.min(Math.max(1, req.maxInFlight), MAX_PREFETCH);
    this.prefetch = settings.prefetchCount > 0 ? Math.min(settings.prefetchCount, limit) : limit;
    this.removeConnectListener = connection.onConnect((model) => this.reestablish(model));
  }

  /**
   * Consumes from now on. Rejects when the broker refuses the queue or binding; while the broker is unreachable it
   * resolves at once, and consuming starts when the connection is back.
   */
  async start(): Promise<void> {
    const model = this.connection.current;
    if (model === undefined) {
      this.logger.warn(`${this.describe()}: ${this.connection.unavailable().message}; consuming starts once connected`);
      return;
    }
    try {
      await this.establish(model);
    } catch (err) {
      // The connection was lost midway: the next connection establishes the subscription.
      if (this.connection.current !== model) return;
      await this.close();
      throw new Error(`${this.describe()}: ${(err as Error).message}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.removeConnectListener();
    clearTimeout(this.retryTimer);
    for (const timer of this.redeliveries) clearTimeout(timer);
    this.redeliveries.clear();
    const channel = this.channel;
    this.channel = undefined;
    // Closing the channel hands its unacknowledged messages back to the queue, for whoever consumes next.
    if (channel !== undefined) await closeChannel(channel);
  }

  private async establish(model: ChannelModel): Promise<void> {
    const generation = ++this.generation;
    clearTimeout(this.retryTimer);
    const channel = await model.createChannel();
    if (this.closed || generation !== this.generation) {
      await closeChannel(channel);
      return;
    }
    this.channel = channel;
    channel.on('error', (err: Error) => this.logger.warn(`${this.describe()}: channel closed by RabbitMQ: ${err.message}`));
    channel.on('close', () => this.channelClosed(channel, model));
    await channel.prefetch(this.prefetch);
    await declareQueue(channel, this.settings, this.req.topic, this.queue, this.routingKeys);
    await channel.consume(
      this.queue,
      (delivery) => {
        if (delivery === null) this.cancelledByBroker(channel);
        else this.deliver(channel, delivery);
      },
      { noAck: false },
    );
  }

  private reestablish(model: ChannelModel): void {
    if (this.closed) return;
    this.establish(model).catch((err: Error) => {
      if (this.closed || this.connection.current !== model) return;
      this.logger.error(`${this.describe()}: ${err.message}; trying again in ${this.settings.reconnectWaitMs} ms`);
      this.retryLater(model);
    });
  }

  private channelClosed(channel: Channel, model: ChannelModel): void {
    if (this.channel !== channel) return;
    this.channel = undefined;
    if (!this.closed) this.retryLater(model);
  }

  /** For a channel lost while the connection stays; after a lost connection, the reconnection re-establishes. */
  private retryLater(model: ChannelModel): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.channel === undefined && this.connection.current === model) this.reestablish(model);
    }, this.settings.reconnectWaitMs);
  }

  private cancelledByBroker(channel: Channel): void {
    this.logger.warn(`${this.describe()}: RabbitMQ cancelled the consumer (queue deleted?); subscribing again in ${this.settings.reconnectWaitMs} ms`);
    void closeChannel(channel);
  }

  private deliver(channel: Channel, delivery: ConsumeMessage): void {
    // Deliveries may still arrive while the channel closes; left unacknowledged, they go back to the queue.
    if (this.closed) return;
    const message: Message = { topic: this.req.topic, data: delivery.content, metadata: NO_METADATA };
    const contentType: unknown = delivery.properties.contentType;
    if (typeof contentType === 'string') message.contentType = contentType;
    this.handler(message).then(
      () => settle(() => channel.ack(delivery)),
      () => this.redeliverLater(channel, delivery),
    );
  }

  private redeliverLater(channel: Channel, delivery: ConsumeMessage): void {
    if (this.closed) return;
    const delay = delivery.fields.redelivered ? REPEATED_REDELIVERY_DELAY_MS : FIRST_REDELIVERY_DELAY_MS;
    const timer = setTimeout(() => {
      this.redeliveries.delete(timer);
      settle(() => channel.nack(delivery, false, true));
    }, delay);
    this.redeliveries.add(timer);
  }

  private describe(): string {
    return `subscription to topic "${this.req.topic}" (queue "${this.queue}")`;
  }
}
