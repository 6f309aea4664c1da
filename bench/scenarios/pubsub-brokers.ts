/**
 * The brokers of the pub/sub scenario: each one's component type and metadata, the server it needs, and how
 * what a run created there is removed again. Names follow the components' own rules (natsName, queueName), so the
 * clean-up removes exactly what the sidecars made for this run's unique topic and consumer, nothing of anyone
 * else's on the shared servers.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats } from '@nats-io/transport-node';
import { connect as connectAmqp } from 'amqplib';
import { Redis } from 'ioredis';
import { connectAsync as connectMqtt } from 'mqtt';
import { natsName } from '../../components/pubsub/jetstream/names.js';
import { queueName } from '../../components/pubsub/rabbitmq/topology.js';

export const pubsubBrokers = ['in-memory', 'redis', 'jetstream', 'rabbitmq', 'mqtt3'] as const;
export type PubSubBroker = (typeof pubsubBrokers)[number];

const redisServer = { host: '127.0.0.1', port: 6379 };
const natsServer = { host: '127.0.0.1', port: 4222 };
const rabbitmqServer = { host: '127.0.0.1', port: 5672 };
const mosquittoServer = { host: '127.0.0.1', port: 1883 };

export interface BrokerServer {
  readonly host: string;
  readonly port: number;
}

/** What this run calls its topic and its subscriber (whose app id is the consumer id). */
export interface BrokerNames {
  readonly topic: string;
  readonly subscriberAppId: string;
}

export interface BrokerPlan {
  readonly componentType: string;
  readonly metadata: Readonly<Record<string, string>>;
  /**
   * The broker's own server. Without one (the in-memory broker lives inside a sidecar) the same sidecar must
   * publish and deliver; with one, an app-less sidecar publishes and another delivers to the app.
   */
  readonly server?: BrokerServer;
  /** Removes the streams, queues, exchanges or sessions the run left on the server. */
  cleanup?(): Promise<void>;
  /** A cap on publishes in flight in the saturation burst, for a broker that drops what a subscriber lags behind. */
  readonly maxBurstInFlight?: number;
}

export function planBroker(broker: PubSubBroker, names: BrokerNames): BrokerPlan {
  const { topic, subscriberAppId } = names;
  switch (broker) {
    case 'in-memory':
      return { componentType: 'pubsub.in-memory', metadata: {} };
    case 'redis':
      return {
        componentType: 'pubsub.redis',
        metadata: { redisHost: `${redisServer.host}:${redisServer.port}` },
        server: redisServer,
        // The topic's stream holds the entries and the consumer group named after the subscriber.
        cleanup: () => deleteRedisStream(topic),
      };
    case 'jetstream': {
      const natsURL = `nats://${natsServer.host}:${natsServer.port}`;
      return {
        componentType: 'pubsub.jetstream',
        metadata: { natsURL },
        server: natsServer,
        cleanup: () => deleteJetStreamStream(natsURL, topic),
      };
    }
    case 'rabbitmq': {
      const connectionString = `amqp://guest:guest@${rabbitmqServer.host}:${rabbitmqServer.port}`;
      return {
        componentType: 'pubsub.rabbitmq',
        metadata: { connectionString },
        server: rabbitmqServer,
        cleanup: () => deleteRabbitMQTopic(connectionString, topic, queueName(subscriberAppId, topic)),
      };
    }
    case 'mqtt3': {
      const url = `tcp://${mosquittoServer.host}:${mosquittoServer.port}`;
      return {
        componentType: 'pubsub.mqtt3',
        metadata: { url },
        server: mosquittoServer,
        // The subscriber's persistent session (its client id is the consumer id) outlives the sidecar.
        cleanup: () => clearMqttSession(url, subscriberAppId),
        // Mosquitto drops a subscriber's QoS 1 messages beyond `max_queued_messages` (1000 by default) and MQTT 3
        // gives the publisher no flow control: with 64 publishes in flight the backlog outgrows it, with 8 it does not.
        maxBurstInFlight: 8,
      };
    }
  }
}

async function deleteRedisStream(stream: string): Promise<void> {
  const client = new Redis({ ...redisServer, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  // Failures reach the commands that meet them; the event only repeats them.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.del(stream);
  } finally {
    client.disconnect();
  }
}

async function deleteJetStreamStream(servers: string, topic: string): Promise<void> {
  const connection = await connectNats({ servers });
  try {
    const manager = await jetstreamManager(connection);
    // Only the stream the component created for this topic; a stream someone else made to cover it stays.
    const stream = await manager.streams.find(topic).catch(() => undefined);
    if (stream === natsName(topic)) await manager.streams.delete(stream);
  } finally {
    await connection.close();
  }
}

async function deleteRabbitMQTopic(url: string, exchange: string, queue: string): Promise<void> {
  const connection = await connectAmqp(url);
  try {
    const channel = await connection.createChannel();
    await channel.deleteQueue(queue);
    await channel.deleteExchange(exchange);
  } finally {
    await connection.close();
  }
}

async function clearMqttSession(url: string, clientId: string): Promise<void> {
  const client = await connectMqtt(url, { clientId, clean: true, protocolVersion: 4, reconnectPeriod: 0 });
  await client.endAsync();
}
