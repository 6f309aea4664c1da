// `bindings.rabbitmq`: one queue as an input and output binding, with daprd's metadata. `create` publishes to the
// queue and resolves once the broker confirmed the message; reading consumes the queue, acknowledging a message
// once the app accepted it. The component's one AMQP connection is pubsub.rabbitmq's, opened again on its own after
// the broker went away: meanwhile `create` fails at once, and reading resumes when the broker is back.

import type { ConsumeMessage, Options } from 'amqplib';
import { createLogger } from '../../../proxy/runtime/logger.js';
import { OpenSubscriptions } from '../../pubsub/pubsub.js';
import { BrokerConnection } from '../../rabbitmq/connection.js';
import { QueueConsumer, prefetchFor } from '../../rabbitmq/queue-consumer.js';
import { registerComponent } from '../../registry.js';
import {
  bindingCapabilities,
  type Binding,
  type BindingEventHandler,
  type BindingMetadata,
  type InputBinding,
  type InvokeRequest,
  type OutputBinding,
  type ReadOptions,
  type Reading,
} from '../bindings.js';
import { declareQueue, QueuePublisher } from './queue.js';
import { messageOptions, parseSettings, type RabbitMQBindingSettings } from './settings.js';

const logger = createLogger('bindings.rabbitmq');
const OPERATIONS = ['create'] as const;

export class RabbitMQBinding implements Binding, InputBinding, OutputBinding {
  readonly input: InputBinding = this;
  readonly output: OutputBinding = this;
  private readonly publisher: QueuePublisher;
  private readonly readings = new OpenSubscriptions();

  private constructor(
    private readonly connection: BrokerConnection,
    private readonly settings: RabbitMQBindingSettings,
  ) {
    this.publisher = new QueuePublisher(connection, settings, logger);
  }

  /**
   * Resolves once connected and the queue is declared, or once the broker proved unreachable (retried in the
   * background); rejects when the broker refuses the login or the queue's declaration.
   */
  static async open(settings: RabbitMQBindingSettings): Promise<RabbitMQBinding> {
    const connection = await BrokerConnection.open(settings, logger);
    const binding = new RabbitMQBinding(connection, settings);
    try {
      await binding.publisher.declare();
    } catch (err) {
      await connection.close();
      throw err;
    }
    return binding;
  }

  operations(): readonly string[] {
    return OPERATIONS;
  }

  /**
   * As daprd: a persistent message carrying every request metadata item as a header; request metadata
   * `ttlInSeconds`, `priority` and `contentType` also set its expiration, priority and content type.
   */
  async invoke(req: InvokeRequest): Promise<null> {
    if (req.operation !== 'create') throw new Error(`operation "${req.operation}" is not supported; supported: ${OPERATIONS.join(', ')}`);
    const { expirationMs, priority, contentType } = messageOptions(req.metadata);
    const options: Options.Publish = { persistent: true, contentType: contentType ?? this.settings.contentType, headers: { ...req.metadata } };
    if (expirationMs !== undefined) options.expiration = String(expirationMs);
    if (priority !== undefined) options.priority = priority;
    await this.publisher.publish(req.data, options);
    return null;
  }

  async read(handler: BindingEventHandler, options: ReadOptions): Promise<Reading> {
    const { settings } = this;
    const consumer = new QueueConsumer(this.connection, {
      queue: settings.queueName,
      prefetch: prefetchFor(options.maxInFlight, settings.prefetchCount),
      reconnectWaitMs: settings.reconnectWaitMs,
      declare: (channel) => declareQueue(channel, settings),
      handle: async (delivery) => {
        await handler({ data: delivery.content, metadata: eventMetadata(delivery) });
      },
      label: `reading queue "${settings.queueName}"`,
      logger,
    });
    await consumer.start();
    return this.readings.track(consumer);
  }

  async close(): Promise<void> {
    await this.readings.closeAll();
    await this.connection.close();
  }
}

/** Go's url.QueryEscape, which daprd applies to the header names and values it passes on: they become HTTP headers. */
function queryEscape(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** The message's string headers, as daprd passes them on to the app. */
function eventMetadata(delivery: ConsumeMessage): BindingMetadata {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(delivery.properties.headers ?? {})) {
    if (typeof value === 'string') metadata[queryEscape(name)] = queryEscape(value);
  }
  return metadata;
}

registerComponent({
  type: 'bindings.rabbitmq',
  versions: ['v1'],
  kind: 'bindings',
  create: (meta) => RabbitMQBinding.open(parseSettings(meta)),
  capabilities: bindingCapabilities,
});
