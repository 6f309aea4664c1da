// `pubsub.mqtt3`: topics on an MQTT 3.1.1 broker, through MQTT.js. Publishing has its own connection (a random
// client id and a clean session: it has nothing to keep), and resolves once the broker acknowledged the message
// (PUBACK, at QoS 1). Each consumer id has one connection for all its subscriptions (see consumer.ts). MQTT 3 has
// no message properties: a message's content type is not carried, and what the subscriber learns is `retained`.

import { randomBytes } from 'node:crypto';
import { createLogger, type Logger } from '../../../proxy/runtime/logger.js';
import { booleanProperty } from '../../metadata.js';
import { registerComponent, type ComponentMetadata } from '../../registry.js';
import {
  PubSubFeature,
  type MessageHandler,
  type PubSub,
  type PubSubMetadata,
  type PublishRequest,
  type SubscribeRequest,
  type Subscription,
} from '../pubsub.js';
import { BrokerConnection } from './connection.js';
import { ConsumerConnection } from './consumer.js';
import type { Dispatcher } from './dispatcher.js';
import { parseSettings, type Mqtt3Settings } from './settings.js';
import { TopicFilter } from './topic-filter.js';

const COMPONENT_TYPE = 'pubsub.mqtt3';

/** As long as daprd's mqtt3 waits for the broker's acknowledgement. */
const PUBLISH_TIMEOUT_MS = 20_000;
const UNSUBSCRIBE_TIMEOUT_MS = 5_000;

export class Mqtt3PubSub implements PubSub {
  private readonly consumers = new Map<string, ConsumerConnection>();
  private closed = false;

  private constructor(
    private readonly settings: Mqtt3Settings,
    private readonly publisher: BrokerConnection,
    private readonly componentType: string,
    private readonly logger: Logger,
  ) {}

  /**
   * Connects the publisher; rejects when the broker cannot be reached. `componentType` names the component in logs
   * and errors: bindings.mqtt3 is built on this one.
   */
  static async connect(settings: Mqtt3Settings, componentName: string, componentType = COMPONENT_TYPE): Promise<Mqtt3PubSub> {
    const logger = createLogger(componentType);
    // Unique, so that replicas sharing a consumer id never push each other's publisher off the broker.
    const clientId = `${settings.consumerId || componentName}-publisher-${randomBytes(4).toString('hex')}`;
    const publisher = new BrokerConnection(settings, { clientId, clean: true, label: `publisher of ${componentType}`, logger });
    await publisher.ready;
    return new Mqtt3PubSub(settings, publisher, componentType, logger);
  }

  features(): readonly PubSubFeature[] {
    return [PubSubFeature.SUBSCRIBE_WILDCARDS];
  }

  async publish(req: PublishRequest): Promise<void> {
    const what = `publishing to "${req.topic}"`;
    this.assertOpen(what);
    // A wildcard in a PUBLISH is a protocol error: the broker would drop the connection.
    if (req.topic === '' || /[+#\u0000]/.test(req.topic)) throw new Error(`${what}: not a valid MQTT topic name (empty, or with "+", "#" or NUL)`);
    const retain = retainOf(req.metadata, this.settings.retain);
    const { client } = this.publisher;
    // MQTT.js would keep the message until it reconnects; the caller had better know it is not published now.
    if (!client.connected) throw new Error(`${what}: not connected to the MQTT broker at ${this.settings.address} (reconnecting)`);
    // Copied: the caller may reuse its buffer, and MQTT.js sends the message again from it after a reconnection.
    const sent = client.publishAsync(req.topic, Buffer.from(req.data), { qos: this.settings.qos, retain });
    await this.publisher.bounded(sent, what, PUBLISH_TIMEOUT_MS);
  }

  async subscribe(req: SubscribeRequest, handler: MessageHandler): Promise<Subscription> {
    this.assertOpen(`subscribing to "${req.topic}"`);
    if (req.topic === '') throw new Error('subscribing: the topic is empty');
    if (req.consumerId === '') throw new Error(`subscribing to "${req.topic}": a consumer id is required (it is the MQTT client id)`);
    const filter = new TopicFilter(req.topic);
    const consumer = await this.consumerFor(req.consumerId);
    const dispatcher = consumer.add(filter, handler, Math.max(1, req.maxInFlight));
    try {
      await consumer.subscribe(filter);
    } catch (err) {
      await this.release(consumer, dispatcher, false);
      throw err;
    }
    // Without a clean session the subscription stays on the broker, which keeps its messages for the next start.
    const unsubscribe = this.settings.cleanSession || booleanProperty(requestMetadata(req.metadata), 'unsubscribeOnClose', false);
    let open = true;
    return {
      close: async () => {
        if (!open) return;
        open = false;
        await this.release(consumer, dispatcher, unsubscribe);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const consumers = [...this.consumers.values()];
    this.consumers.clear();
    await Promise.all([...consumers.map((consumer) => consumer.close()), this.publisher.close()]);
  }

  private assertOpen(what: string): void {
    if (this.closed) throw new Error(`${what}: ${this.componentType} is closed`);
  }

  /** The open connection of a consumer id, made on its first subscription. */
  private async consumerFor(consumerId: string): Promise<ConsumerConnection> {
    for (;;) {
      this.assertOpen(`subscribing with consumer id "${consumerId}"`);
      let consumer = this.consumers.get(consumerId);
      if (consumer === undefined) {
        consumer = new ConsumerConnection(consumerId, this.settings, this.logger, this.componentType);
        this.consumers.set(consumerId, consumer);
      }
      try {
        await consumer.ready;
      } catch (err) {
        if (this.consumers.get(consumerId) === consumer) this.consumers.delete(consumerId);
        throw err;
      }
      // Its last subscription may have closed it meanwhile; then a new connection takes over.
      if (!consumer.closed) return consumer;
    }
  }

  /** Ends a subscription; the consumer's connection goes with its last one. */
  private async release(consumer: ConsumerConnection, dispatcher: Dispatcher, unsubscribe: boolean): Promise<void> {
    consumer.remove(dispatcher);
    if (unsubscribe && !consumer.closed) {
      await consumer
        .unsubscribe(dispatcher.filter, UNSUBSCRIBE_TIMEOUT_MS)
        .catch((err: Error) => this.logger.warn(`consumer "${consumer.consumerId}": ${err.message}; the broker keeps the subscription`));
    }
    if (consumer.idle && !consumer.closed) {
      this.consumers.delete(consumer.consumerId);
      await consumer.close();
    }
  }
}

/** Request metadata read with the component metadata readers (names ignoring case, Go's boolean spellings). */
function requestMetadata(properties: PubSubMetadata): ComponentMetadata {
  return { name: 'request', type: COMPONENT_TYPE, version: 'v1', properties };
}

/** The request's `retain` overrides the component's, as in daprd's mqtt3. */
function retainOf(metadata: PubSubMetadata, fallback: boolean): boolean {
  return booleanProperty(requestMetadata(metadata), 'retain', fallback);
}

registerComponent({
  type: COMPONENT_TYPE,
  versions: ['v1'],
  kind: 'pubsub',
  create: (meta) => Mqtt3PubSub.connect(parseSettings(meta), meta.name),
});
