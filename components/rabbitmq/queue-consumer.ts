// One queue consumed on a channel of its own with manual acknowledgements, for pubsub.rabbitmq subscriptions and
// bindings.rabbitmq reading. The prefetch bounds how many messages the broker has out to the consumer, so never
// more than may be pending in the handler; a message is acknowledged once its handler resolved and requeued (after
// a pause) when it rejected. The channel is opened, and the queue declared, again after every reconnection, and a
// while after the broker closed the channel or cancelled the consumer (e.g. the queue was deleted).

import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../../proxy/runtime/logger.js';
import { closeChannel, type BrokerConnection } from './connection.js';

/** AMQP's prefetch count is a 16-bit field. */
export const MAX_PREFETCH = 65_535;

/**
 * RabbitMQ hands a requeued message out again at once, so without a pause a message the app keeps failing would
 * spin; a first failure may be transient and retries sooner.
 */
const FIRST_REQUEUE_DELAY_MS = 100;
const REPEATED_REQUEUE_DELAY_MS = 1000;

/** The prefetch for a consumer whose handler may have `maxInFlight` calls pending; `prefetchCount` (0: unset) caps it. */
export function prefetchFor(maxInFlight: number, prefetchCount: number): number {
  const limit = Math.min(Math.max(1, maxInFlight), MAX_PREFETCH);
  return prefetchCount > 0 ? Math.min(prefetchCount, limit) : limit;
}

/** Acks and nacks on a channel that has closed throw; its unacknowledged messages are requeued anyway. */
function settleIfOpen(settle: () => void): void {
  try {
    settle();
  } catch {
    // See above.
  }
}

export interface QueueConsumerOptions {
  queue: string;
  prefetch: number;
  reconnectWaitMs: number;
  /** Declares the queue (and its bindings) on a fresh channel, before consuming starts. */
  declare(channel: Channel): Promise<void>;
  /** Resolves once the message is processed (acknowledged); rejects to have it requeued. */
  handle(delivery: ConsumeMessage): Promise<void>;
  /** What is consumed, for log lines: `subscription to topic "t" (queue "q")`. */
  label: string;
  logger: Logger;
}

export class QueueConsumer {
  private readonly stopListening: () => void;
  private channel: Channel | undefined;
  private closed = false;
  /** Counts consume() calls, so that one overtaken by a newer one gives its channel up. */
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly requeues = new Set<NodeJS.Timeout>();

  constructor(
    private readonly connection: BrokerConnection,
    private readonly options: QueueConsumerOptions,
  ) {
    this.stopListening = connection.onConnect((model) => this.consumeOrRetry(model));
  }

  /**
   * Consumes from now on. Rejects when the broker refuses the queue or its bindings; while the broker is
   * unreachable it resolves at once, and consuming starts when the connection is back.
   */
  async start(): Promise<void> {
    const model = this.connection.current;
    if (model === undefined) {
      this.options.logger.warn(`${this.options.label}: ${this.connection.unavailable().message}; consuming starts once connected`);
      return;
    }
    try {
      await this.consume(model);
    } catch (err) {
      // The connection was lost midway: the next connection starts consuming.
      if (this.connection.current !== model) return;
      await this.close();
      throw new Error(`${this.options.label}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Stops consuming; closing the channel hands its unacknowledged messages back to the queue. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopListening();
    clearTimeout(this.retryTimer);
    for (const timer of this.requeues) clearTimeout(timer);
    this.requeues.clear();
    const channel = this.channel;
    this.channel = undefined;
    if (channel !== undefined) await closeChannel(channel);
  }

  private async consume(model: ChannelModel): Promise<void> {
    const attempt = ++this.attempts;
    clearTimeout(this.retryTimer);
    const channel = await model.createChannel();
    if (this.closed || attempt !== this.attempts) {
      await closeChannel(channel);
      return;
    }
    const { label, logger } = this.options;
    this.channel = channel;
    channel.on('error', (err: Error) => logger.warn(`${label}: channel closed by RabbitMQ: ${err.message}`));
    channel.on('close', () => this.channelClosed(channel, model));
    await channel.prefetch(this.options.prefetch);
    await this.options.declare(channel);
    await channel.consume(
      this.options.queue,
      (delivery) => {
        if (delivery === null) this.cancelledByBroker(channel);
        else this.deliver(channel, delivery);
      },
      { noAck: false },
    );
  }

  private consumeOrRetry(model: ChannelModel): void {
    if (this.closed) return;
    this.consume(model).catch((err: Error) => {
      if (this.closed || this.connection.current !== model) return;
      this.options.logger.error(`${this.options.label}: ${err.message}; trying again in ${this.options.reconnectWaitMs} ms`);
      this.retryLater(model);
    });
  }

  private channelClosed(channel: Channel, model: ChannelModel): void {
    if (this.channel !== channel) return;
    this.channel = undefined;
    if (!this.closed) this.retryLater(model);
  }

  /** For a channel lost while the connection stays; after a lost connection, the reconnection starts consuming. */
  private retryLater(model: ChannelModel): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.channel === undefined && this.connection.current === model) this.consumeOrRetry(model);
    }, this.options.reconnectWaitMs);
  }

  private cancelledByBroker(channel: Channel): void {
    this.options.logger.warn(
      `${this.options.label}: RabbitMQ cancelled the consumer (queue deleted?); consuming again in ${this.options.reconnectWaitMs} ms`,
    );
    void closeChannel(channel);
  }

  private deliver(channel: Channel, delivery: ConsumeMessage): void {
    // Deliveries may still arrive while the channel closes; left unacknowledged, they go back to the queue.
    if (this.closed) return;
    this.options.handle(delivery).then(
      () => settleIfOpen(() => channel.ack(delivery)),
      () => this.requeueLater(channel, delivery),
    );
  }

  private requeueLater(channel: Channel, delivery: ConsumeMessage): void {
    if (this.closed) return;
    const delay = delivery.fields.redelivered ? REPEATED_REQUEUE_DELAY_MS : FIRST_REQUEUE_DELAY_MS;
    const timer = setTimeout(() => {
      this.requeues.delete(timer);
      settleIfOpen(() => channel.nack(delivery, false, true));
    }, delay);
    this.requeues.add(timer);
  }
}
