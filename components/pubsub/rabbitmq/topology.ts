// What pubsub.rabbitmq declares on the broker, named as daprd names it: an exchange per topic, and per subscription
// a queue `{consumerId}-{topic}` bound to it (replicas sharing a consumer id share the queue), with optionally a
// dead-letter exchange `dlx-{queue}` and queue `dlq-{queue}` for messages that expire or overflow.

import type { Channel } from 'amqplib';
import type { ExchangeKind, RabbitMQSettings } from './metadata.js';

export function queueName(consumerId: string, topic: string): string {
  return `${consumerId}-${topic}`;
}

/** Exchanges are durable whatever `durable` says, as daprd declares them: topics outlive their queues. */
export async function declareExchange(channel: Channel, name: string, kind: ExchangeKind): Promise<void> {
  await channel.assertExchange(name, kind, { durable: true, autoDelete: false });
}

export async function declareQueue(channel: Channel, settings: RabbitMQSettings, topic: string, queue: string, routingKeys: readonly string[]): Promise<void> {
  await declareExchange(channel, topic, settings.exchangeKind);
  const limits: Record<string, number> = {};
  if (settings.maxLen > 0) limits['x-max-length'] = settings.maxLen;
  if (settings.maxLenBytes > 0) limits['x-max-length-bytes'] = settings.maxLenBytes;
  const queueArguments: Record<string, number | string> = { ...limits };
  if (settings.enableDeadLetter) {
    const deadLetterExchange = `dlx-${queue}`;
    const deadLetterQueue = `dlq-${queue}`;
    await declareExchange(channel, deadLetterExchange, 'fanout');
    // Lazy: dead letters are rarely read, so they are kept on disk rather than in the broker's memory.
    await channel.assertQueue(deadLetterQueue, { durable: true, autoDelete: settings.deleteWhenUnused, arguments: { ...limits, 'x-queue-mode': 'lazy' } });
    await channel.bindQueue(deadLetterQueue, deadLetterExchange, '');
    queueArguments['x-dead-letter-exchange'] = deadLetterExchange;
  }
  await channel.assertQueue(queue, { durable: settings.durable, autoDelete: settings.deleteWhenUnused, arguments: queueArguments });
  for (const key of routingKeys) await channel.bindQueue(queue, topic, key);
}
