// Publishing over one confirm channel per connection: a publish resolves once the broker confirmed the message
// (for a persistent message on a durable queue: once it is on disk), and rejects when the broker refused it or the
// channel went away before the confirm.

import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import type { Logger } from '../../../proxy/runtime/logger.js';
import type { BrokerConnection } from '../../rabbitmq/connection.js';
import { declareExchange } from './topology.js';
import type { ExchangeKind } from './metadata.js';

interface PublishChannel {
  model: ChannelModel;
  channel: Promise<ConfirmChannel>;
  /** Exchanges declared on this channel (each declared once, also when publishes race). */
  exchanges: Map<string, Promise<void>>;
}

export class Publisher {
  private current: PublishChannel | undefined;

  constructor(
    private readonly connection: BrokerConnection,
    private readonly exchangeKind: ExchangeKind,
    private readonly logger: Logger,
  ) {}

  async publish(exchange: string, routingKey: string, body: Uint8Array, options: Options.Publish): Promise<void> {
    const model = this.connection.current;
    if (model === undefined) throw this.connection.unavailable();
    const state = this.channelOn(model);
    const channel = await state.channel;
    let declared = state.exchanges.get(exchange);
    if (declared === undefined) {
      declared = declareExchange(channel, exchange, this.exchangeKind);
      state.exchanges.set(exchange, declared);
      declared.catch(() => state.exchanges.delete(exchange));
    }
    await declared;
    // amqplib copies the body into its frames before publish() returns, so a view of the caller's bytes suffices.
    const content = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    await new Promise<void>((resolve, reject) => {
      channel.publish(exchange, routingKey, content, options, (err: unknown) => {
        if (err === null || err === undefined) resolve();
        else reject(err instanceof Error ? err : new Error(`RabbitMQ did not accept the message: ${String(err)}`));
      });
    });
  }

  private channelOn(model: ChannelModel): PublishChannel {
    if (this.current?.model === model) return this.current;
    const state: PublishChannel = { model, channel: model.createConfirmChannel(), exchanges: new Map() };
    this.current = state;
    const forget = (): void => {
      if (this.current === state) this.current = undefined;
    };
    state.channel.then(
      (channel) => {
        // The broker closes a channel on an error (e.g. an exchange redeclared with another kind); the next
        // publish opens a new one.
        channel.on('error', (err: Error) => this.logger.warn(`publishing channel closed by RabbitMQ: ${err.message}`));
        channel.on('close', forget);
      },
      forget,
    );
    return state;
  }
}
