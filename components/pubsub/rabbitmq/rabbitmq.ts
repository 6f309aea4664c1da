// `pubsub.rabbitmq`, after components-contrib's: an exchange per topic (fanout unless `exchangeKind` says otherwise),
// a queue per consumer id and topic, publishing with broker confirms, at-least-once delivery. One connection per
// component, re-opened on its own after the broker went away; subscriptions then consume again.

import type { ConsumeMessage, Options } from 'amqplib';
import { createLogger } from '../../../proxy/runtime/logger.js';
import { BrokerConnection } from '../../rabbitmq/connection.js';
import { QueueConsumer, prefetchFor } from '../../rabbitmq/queue-consumer.js';
import { registerComponent } from '../../registry.js';
import {
  OpenSubscriptions,
  PubSubFeature,
  metadataIgnoringCase,
  type Message,
  type MessageHandler,
  type PubSub,
  type PubSubMetadata,
  type PublishRequest,
  type SubscribeRequest,
  type Subscription,
} from '../pubsub.js';
import { parseSettings, parseTtlMs, type RabbitMQSettings } from './metadata.js';
import { Publisher } from './publisher.js';
import { declareQueue, queueName } from './topology.js';

const logger = createLogger('pubsub.rabbitmq');
const FEATURES: readonly PubSubFeature[] = [PubSubFeature.MESSAGE_TTL];
const NO_METADATA: PubSubMetadata = Object.freeze({});

export class RabbitMQPubSub implements PubSub {
  private readonly publisher: Publisher;
  private readonly consumers = new OpenSubscriptions();

  private constructor(
    private readonly connection: BrokerConnection,
    private readonly settings: RabbitMQSettings,
  ) {
    this.publisher = new Publisher(connection, settings.exchangeKind, logger);
  }

  static async open(settings: RabbitMQSettings): Promise<RabbitMQPubSub> {
    if (settings.ignored.length > 0) {
      logger.warn(
        `ignoring ${settings.ignored.join(', ')}: messages are acknowledged once processed, rejected ones are always requeued, and every publish waits for the broker's confirm`,
      );
    }
    return new RabbitMQPubSub(await BrokerConnection.open(settings, logger), settings);
  }

  features(): readonly PubSubFeature[] {
    return FEATURES;
  }

  async publish(req: PublishRequest): Promise<void> {
    const ttl = metadataIgnoringCase(req.metadata, 'ttlInSeconds');
    const expirationMs = ttl === undefined || ttl === '' ? this.settings.defaultTtlMs : parseTtlMs(ttl);
    const options: Options.Publish = { persistent: this.settings.persistent };
    if (expirationMs !== undefined) options.expiration = String(expirationMs);
    if (req.contentType !== undefined) options.contentType = req.contentType;
    await this.publisher.publish(req.topic, metadataIgnoringCase(req.metadata, 'routingKey') ?? '', req.data, options);
  }

  async subscribe(req: SubscribeRequest, handler: MessageHandler): Promise<Subscription> {
    const { topic } = req;
    const queue = queueName(req.consumerId, topic);
    // daprd's subscription metadata: comma-separated binding keys, "" included ("a,b," binds a, b and "").
    const routingKeys = (metadataIgnoringCase(req.metadata, 'routingKey') ?? '').split(',');
    const consumer = new QueueConsumer(this.connection, {
      queue,
      prefetch: prefetchFor(this.settings.singleConcurrency ? 1 : req.maxInFlight, this.settings.prefetchCount),
      reconnectWaitMs: this.settings.reconnectWaitMs,
      declare: (channel) => declareQueue(channel, this.settings, topic, queue, routingKeys),
      handle: (delivery) => handler(messageOf(topic, delivery)),
      label: `subscription to topic "${topic}" (queue "${queue}")`,
      logger,
    });
    await consumer.start();
    return this.consumers.track(consumer);
  }

  async close(): Promise<void> {
    await this.consumers.closeAll();
    await this.connection.close();
  }
}

function messageOf(topic: string, delivery: ConsumeMessage): Message {
  const message: Message = { topic, data: delivery.content, metadata: NO_METADATA };
  const contentType: unknown = delivery.properties.contentType;
  if (typeof contentType === 'string') message.contentType = contentType;
  return message;
}

registerComponent({
  type: 'pubsub.rabbitmq',
  versions: ['v1'],
  kind: 'pubsub',
  create: (meta) => RabbitMQPubSub.open(parseSettings(meta)),
});
