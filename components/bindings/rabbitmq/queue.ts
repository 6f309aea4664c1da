// The binding's one queue, declared as daprd declares it (both sides declare it, so that whichever starts first
// creates it), and publishing to it through the default exchange, routing key = queue name, on a confirm channel:
// a publish resolves once the broker has the message (for a durable queue, on disk).

import type { Channel, ChannelModel, ConfirmChannel, Options } from 'amqplib';
import type { Logger } from '../../../proxy/runtime/logger.js';
import { closeChannel, type BrokerConnection } from '../../rabbitmq/connection.js';
import type { RabbitMQBindingSettings } from './settings.js';

/** The name AMQP gives the exchange that routes every message to the queue its routing key names. */
const DEFAULT_EXCHANGE = '';

export async function declareQueue(channel: Channel, settings: RabbitMQBindingSettings): Promise<void> {
  const queueArguments: Record<string, number> = {};
  if (settings.queueTtlMs !== undefined) queueArguments['x-message-ttl'] = settings.queueTtlMs;
  if (settings.maxPriority !== undefined) queueArguments['x-max-priority'] = settings.maxPriority;
  await channel.assertQueue(settings.queueName, {
    durable: settings.durable,
    autoDelete: settings.deleteWhenUnused,
    exclusive: settings.exclusive,
    arguments: queueArguments,
  });
}

interface PublishChannel {
  model: ChannelModel;
  /** Open, with the queue declared on it. */
  ready: Promise<ConfirmChannel>;
}

export class QueuePublisher {
  private current: PublishChannel | undefined;

  constructor(
    private readonly connection: BrokerConnection,
    private readonly settings: RabbitMQBindingSettings,
    private readonly logger: Logger,
  ) {
    // As daprd, the queue is declared on every connection, not only on the first publish: what others send to it
    // is then kept even while nothing is published or read here.
    connection.onConnect((model) => {
      this.channelOn(model).catch((err: Error) => logger.warn(`${err.message}; trying again on the next publish`));
    });
  }

  /** Declares the queue now, if connected; rejects when the broker refuses the declaration. */
  async declare(): Promise<void> {
    const model = this.connection.current;
    if (model !== undefined) await this.channelOn(model);
  }

  /** Rejects at once while the broker is unreachable, and when the broker refused the message or lost it unconfirmed. */
  async publish(body: Uint8Array, options: Options.Publish): Promise<void> {
    const model = this.connection.current;
    if (model === undefined) throw this.connection.unavailable();
    const channel = await this.channelOn(model);
    // amqplib copies the body into its frames before publish() returns, so a view of the caller's bytes suffices.
    const content = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    await new Promise<void>((resolve, reject) => {
      channel.publish(DEFAULT_EXCHANGE, this.settings.queueName, content, options, (err: unknown) => {
        if (err === null || err === undefined) resolve();
        else reject(err instanceof Error ? err : new Error(`RabbitMQ did not accept the message: ${String(err)}`));
      });
    });
  }

  private channelOn(model: ChannelModel): Promise<ConfirmChannel> {
    if (this.current?.model === model) return this.current.ready;
    const state: PublishChannel = { model, ready: this.open(model) };
    this.current = state;
    // A channel the broker closed (it does on an error) or that failed to open is replaced on the next publish.
    const forget = (): void => {
      if (this.current === state) this.current = undefined;
    };
    state.ready.then((channel) => channel.on('close', forget), forget);
    return state.ready;
  }

  private async open(model: ChannelModel): Promise<ConfirmChannel> {
    const channel = await model.createConfirmChannel();
    channel.on('error', (err: Error) => this.logger.warn(`publishing channel closed by RabbitMQ: ${err.message}`));
    try {
      await declareQueue(channel, this.settings);
    } catch (err) {
      await closeChannel(channel);
      throw new Error(`declaring queue "${this.settings.queueName}": ${(err as Error).message}`, { cause: err });
    }
    return channel;
  }
}
