import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type Channel } from 'amqplib';
import { PubSubFeature, type PubSub, type SubscribeRequest, type Subscription } from '../components/pubsub/pubsub.js';
import { parseSettings } from '../components/pubsub/rabbitmq/metadata.js';
import '../components/pubsub/rabbitmq/rabbitmq.js';
import { queueName } from '../components/pubsub/rabbitmq/topology.js';
import type { ComponentMetadata } from '../components/registry.js';
import { restartBroker } from './support/brokers.js';
import { eventually } from './support/eventually.js';
import { createComponent } from './support/components.js';
import { describePubSubConformance, Receiver } from './support/pubsub-conformance.js';
import { describeSidecarPubSubConformance } from './support/pubsub-sidecar-conformance.js';
import { serviceAvailable } from './support/services.js';
import { TcpRelay } from './support/tcp-relay.js';

const RABBITMQ_PORT = 5672;
const BROKER_URL = `amqp://guest:guest@127.0.0.1:${RABBITMQ_PORT}`;
/** Short, so that reconnections and re-subscriptions in these tests take a fraction of a second. */
const RECONNECT_WAIT = '200ms';
const encoder = new TextEncoder();
const run = randomBytes(4).toString('hex');

/** Every queue and exchange the tests had the broker create, deleted once the file is done. */
const created = { queues: new Set<string>(), exchanges: new Set<string>() };

after(async () => {
  if (created.queues.size + created.exchanges.size === 0) return;
  const admin = await connect(BROKER_URL);
  try {
    const channel = await admin.createChannel();
    for (const queue of created.queues) await channel.deleteQueue(queue);
    for (const exchange of created.exchanges) await channel.deleteExchange(exchange);
  } finally {
    await admin.close();
  }
});

/** Records what `pubsub` makes the broker declare, for the clean-up above. */
function recorded(pubsub: PubSub, deadLetters = false): PubSub {
  return {
    features: () => pubsub.features(),
    publish: (req) => {
      created.exchanges.add(req.topic);
      return pubsub.publish(req);
    },
    subscribe: (req, handler) => {
      const queue = queueName(req.consumerId, req.topic);
      created.exchanges.add(req.topic);
      created.queues.add(queue);
      if (deadLetters) {
        created.exchanges.add(`dlx-${queue}`);
        created.queues.add(`dlq-${queue}`);
      }
      return pubsub.subscribe(req, handler);
    },
    close: () => pubsub.close(),
  };
}

let instances = 0;

/** A pub/sub made the way the sidecar makes one: from a Component resource, through the registry. */
async function createFromRegistry(properties: Record<string, string>): Promise<PubSub> {
  const { instance: pubsub } = await createComponent('pubsub', 'pubsub.rabbitmq', properties, { name: `rabbitmq-${++instances}`, initTimeoutMs: 5000 });
  return recorded(pubsub, properties['enableDeadLetter'] === 'true');
}

const TEST_DEFAULTS = { connectionString: BROKER_URL, reconnectWaitSeconds: RECONNECT_WAIT };

/** Closed when the test ends. */
async function open(t: TestContext, properties: Record<string, string> = {}): Promise<PubSub> {
  const pubsub = await createFromRegistry({ ...TEST_DEFAULTS, ...properties });
  t.after(() => pubsub.close());
  return pubsub;
}


let topics = 0;
const newTopic = (name: string): string => `rmq-${run}-${name}-${++topics}`;
const consumerId = `rmq-${run}`;

function subscribe(pubsub: PubSub, topic: string, inbox: Receiver, req: Partial<SubscribeRequest> = {}): Promise<Subscription> {
  return pubsub.subscribe({ topic, consumerId, metadata: {}, maxInFlight: 16, ...req }, inbox.handler);
}

function publish(pubsub: PubSub, topic: string, body: string, metadata: Record<string, string> = {}, contentType?: string): Promise<void> {
  return pubsub.publish({ topic, data: encoder.encode(body), metadata, ...(contentType === undefined ? {} : { contentType }) });
}

/** Publishes fresh messages until one arrives: a subscription being (re-)established drops what is sent before. */
async function publishUntilReceived(pubsub: PubSub, topic: string, inbox: Receiver, label: string): Promise<void> {
  let attempt = 0;
  await eventually(15_000, async () => {
    const body = `${label}-${++attempt}`;
    await publish(pubsub, topic, body);
    await eventually(500, async () => assert.ok(inbox.texts().includes(body), `${body} not received`));
  });
}

const meta = (properties: Record<string, string>): ComponentMetadata => ({ name: 'rabbitmq', type: 'pubsub.rabbitmq', version: 'v1', properties });

test('pubsub.rabbitmq metadata', async (t) => {
  await t.test("reads daprd's names and defaults", () => {
    const defaults = parseSettings(meta({}));
    assert.equal(defaults.url, 'amqp://localhost');
    assert.deepEqual(
      { ...defaults, url: undefined, address: undefined },
      {
        url: undefined,
        address: undefined,
        durable: true,
        deleteWhenUnused: true,
        persistent: false,
        prefetchCount: 0,
        singleConcurrency: false,
        reconnectWaitMs: 3000,
        maxLen: 0,
        maxLenBytes: 0,
        exchangeKind: 'fanout',
        enableDeadLetter: false,
        defaultTtlMs: undefined,
        ignored: [],
      },
    );
    const parts = parseSettings(meta({ protocol: 'amqps', hostname: 'broker:5671', username: 'app', password: 'p@ss/word', Durable: 'false' }));
    assert.equal(parts.url, 'amqps://app:p%40ss%2Fword@broker:5671');
    assert.equal(parts.address, 'amqps://broker:5671', 'credentials stay out of messages');
    assert.equal(parts.durable, false, 'names match ignoring case');
    assert.equal(parseSettings(meta({ host: 'amqp://u:p@h/vhost' })).address, 'amqp://h/vhost', '`host` is the old name of the connection string');
    assert.equal(parseSettings(meta({ reconnectWaitSeconds: '5' })).reconnectWaitMs, 5000, 'whole seconds');
    assert.equal(parseSettings(meta({ reconnectWait: '1500ms' })).reconnectWaitMs, 1500, 'a duration, under the older name');
    assert.equal(parseSettings(meta({ reconnectWait: '0' })).reconnectWaitMs, 100, 'never a tight reconnection loop');
    assert.equal(parseSettings(meta({ ttlInSeconds: '90' })).defaultTtlMs, 90_000);
    assert.equal(parseSettings(meta({ ttlInSeconds: '1m' })).defaultTtlMs, 60_000);
    assert.equal(parseSettings(meta({ deliveryMode: '2' })).persistent, true);
    assert.equal(parseSettings(meta({ concurrencyMode: 'single' })).singleConcurrency, true);
    assert.equal(parseSettings(meta({ concurrency: 'single' })).singleConcurrency, true);
    assert.deepEqual(parseSettings(meta({ autoAck: 'true', requeueInFailure: 'false', publisherConfirm: 'true' })).ignored, ['autoAck: true', 'requeueInFailure: false']);
  });

  await t.test('refuses bad values at start-up, naming the field', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ deliveryMode: '3' }, /"deliveryMode" must be 0, 1 or 2/],
      [{ exchangeKind: 'x-custom' }, /"exchangeKind" must be one of fanout, topic, direct, headers/],
      [{ connectionString: 'http://localhost' }, /"connectionString" must start with amqp:\/\/ or amqps:\/\//],
      [{ connectionString: 'not a url' }, /"connectionString" is not a URL/],
      [{ connectionString: 'amqp://localhost', protocol: 'amqps' }, /"protocol" "amqps" does not match the connection string's "amqp"/],
      [{ protocol: 'mqtt' }, /"protocol" must be "amqp" or "amqps"/],
      [{ prefetchCount: '-1' }, /"prefetchCount" must be an integer >= 0/],
      [{ prefetchCount: '70000' }, /"prefetchCount" must be at most 65535/],
      [{ durable: 'sometimes' }, /"durable" must be a boolean/],
      [{ autoAck: 'perhaps' }, /"autoAck" must be a boolean/],
      [{ concurrencyMode: 'fast' }, /"concurrencyMode" must be "parallel" or "single"/],
      [{ ttlInSeconds: 'soon' }, /"ttlInSeconds" must be a number of seconds/],
      [{ ttlInSeconds: '0' }, /"ttlInSeconds" must be positive/],
      [{ reconnectWaitSeconds: 'later' }, /"reconnectWaitSeconds" must be a duration/],
      [{ maxLen: '-5' }, /"maxLen" must be an integer >= 0/],
      [{ maxLenBytes: '1.5' }, /"maxLenBytes" must be an integer >= 0/],
    ];
    for (const [properties, reason] of cases) {
      await assert.rejects(createFromRegistry(properties), (err: Error) => {
        assert.match(err.message, /component "rabbitmq-\d+"/);
        assert.match(err.message, reason);
        return true;
      });
    }
  });
});

describePubSubConformance({
  name: 'pubsub.rabbitmq',
  // Queues outlive their consumers, so messages wait for a subscriber that is away.
  create: () => createFromRegistry({ ...TEST_DEFAULTS, deletedWhenUnused: 'false' }),
  durable: true,
  restartBroker: () => restartBroker('rabbitmq'),
  skip: async (t) => !(await serviceAvailable(t, 'RabbitMQ', RABBITMQ_PORT)),
});

test('pubsub.rabbitmq', { timeout: 120_000 }, async (t) => {
  if (!(await serviceAvailable(t, 'RabbitMQ', RABBITMQ_PORT))) return;
  const admin = await connect(BROKER_URL);
  t.after(() => admin.close());
  // A fresh channel per use: a refused declaration closes the channel it was made on.
  const adminChannel = async (): Promise<Channel> => {
    const channel = await admin.createChannel();
    channel.on('error', () => undefined);
    return channel;
  };

  await t.test('a refused login fails start-up', async () => {
    await assert.rejects(
      createFromRegistry({ connectionString: `amqp://guest:wrong@127.0.0.1:${RABBITMQ_PORT}` }),
      /RabbitMQ at amqp:\/\/127\.0\.0\.1:5672 refused the connection: .*ACCESS_REFUSED/,
    );
  });

  await t.test('starts without the broker, and connects, subscribes and publishes once it is there', async (t) => {
    const relay = await TcpRelay.reserve(RABBITMQ_PORT);
    t.after(() => relay.stop());
    const started = performance.now();
    const pubsub = await open(t, { connectionString: `amqp://guest:guest@127.0.0.1:${relay.port}` });
    assert.ok(performance.now() - started < 1000, 'an unreachable broker must not hold start-up');
    const topic = newTopic('late');
    const inbox = new Receiver();
    await subscribe(pubsub, topic, inbox);
    await assert.rejects(publish(pubsub, topic, 'too early'), /not connected to RabbitMQ at amqp:\/\/127\.0\.0\.1:\d+ \(.*ECONNREFUSED.*\); reconnecting/);

    await relay.start();
    await publishUntilReceived(pubsub, topic, inbox, 'first');

    // Every connection dropped at once: the component reconnects and consumes again by itself.
    await relay.stop();
    // A publish racing the drop fails on its closed channel; once the loss is noticed, publishes fail at once.
    await eventually(5000, () => assert.rejects(publish(pubsub, topic, 'during the outage'), /not connected to RabbitMQ/));
    await relay.start();
    await publishUntilReceived(pubsub, topic, inbox, 'again');

    // Closing races the drop of the connection: amqplib alone would wait for a close-ok that never comes.
    await relay.stop();
    const closing = performance.now();
    await pubsub.close();
    assert.ok(performance.now() - closing < 1000, 'close must not wait on a dead connection');
  });

  await t.test('advertises MESSAGE_TTL; messages expire after their ttlInSeconds or the component default', async (t) => {
    const withDefault = await open(t, { deletedWhenUnused: 'false', ttlInSeconds: '1' });
    const plain = await open(t, { deletedWhenUnused: 'false' });
    assert.deepEqual(plain.features(), [PubSubFeature.MESSAGE_TTL]);
    const topic = newTopic('ttl');
    // Declares the queue, then leaves it to fill while nobody consumes.
    await (await subscribe(plain, topic, new Receiver())).close();
    await publish(withDefault, topic, 'default-ttl');
    await publish(withDefault, topic, 'own-long-ttl', { ttlInSeconds: '60' });
    await publish(plain, topic, 'own-short-ttl', { ttlInSeconds: '1' });
    await publish(plain, topic, 'no-ttl');
    await sleep(1500);
    const inbox = new Receiver();
    await subscribe(plain, topic, inbox);
    await eventually(5000, async () => assert.deepEqual([...inbox.texts()].sort(), ['no-ttl', 'own-long-ttl']));
    await sleep(200);
    assert.deepEqual([...inbox.texts()].sort(), ['no-ttl', 'own-long-ttl']);
  });

  await t.test('rejects a publish whose ttlInSeconds is not a duration', async (t) => {
    const pubsub = await open(t);
    await assert.rejects(publish(pubsub, newTopic('bad-ttl'), 'x', { ttlInSeconds: 'forever' }), /"ttlInSeconds" must be a number of seconds/);
  });

  await t.test('publishes with deliveryMode 2 as persistent, with the content type and expiration', async (t) => {
    const pubsub = await open(t, { deliveryMode: '2', deletedWhenUnused: 'false' });
    const topic = newTopic('persistent');
    await (await subscribe(pubsub, topic, new Receiver())).close();
    await publish(pubsub, topic, '{"a":1}', { ttlInSeconds: '30' }, 'application/json');
    const got = await (await adminChannel()).get(queueName(consumerId, topic), { noAck: true });
    assert.ok(got !== false, 'the message should be in the queue');
    assert.equal(got.content.toString(), '{"a":1}');
    assert.equal(got.properties.deliveryMode, 2);
    assert.equal(got.properties.contentType, 'application/json');
    assert.equal(got.properties.expiration, '30000');
  });

  await t.test('enableDeadLetter moves expired messages to dlq-{queue}', async (t) => {
    const pubsub = await open(t, { enableDeadLetter: 'true', deletedWhenUnused: 'false' });
    const topic = newTopic('dead-letter');
    await (await subscribe(pubsub, topic, new Receiver())).close();
    await publish(pubsub, topic, 'expiring', { ttlInSeconds: '1' });
    const deadLetters = `dlq-${queueName(consumerId, topic)}`;
    const channel = await adminChannel();
    await eventually(5000, async () => assert.equal((await channel.checkQueue(deadLetters)).messageCount, 1));
  });

  await t.test('exchangeKind topic routes by the routingKey of the publish and of the subscription', async (t) => {
    const pubsub = await open(t, { exchangeKind: 'topic' });
    const topic = newTopic('routed');
    const inbox = new Receiver();
    await subscribe(pubsub, topic, inbox, { metadata: { routingKey: 'orders.eu,orders.us' } });
    for (const key of ['orders.eu', 'orders.asia', 'orders.us', '']) await publish(pubsub, topic, `key:${key}`, { routingKey: key });
    await eventually(5000, async () => assert.deepEqual([...inbox.texts()].sort(), ['key:orders.eu', 'key:orders.us']));
    await sleep(200);
    assert.equal(inbox.texts().length, 2);
  });

  await t.test('replicas sharing a consumer id share the messages, each delivered once', async (t) => {
    const topic = newTopic('replicas');
    const first = new Receiver();
    const second = new Receiver();
    await subscribe(await open(t), topic, first);
    await subscribe(await open(t), topic, second);
    const publisher = await open(t);
    const expected = Array.from({ length: 20 }, (_, i) => `r${i}`);
    for (const body of expected) await publish(publisher, topic, body);
    await eventually(5000, async () => assert.deepEqual([...first.texts(), ...second.texts()].sort(), [...expected].sort()));
    assert.ok(first.texts().length > 0 && second.texts().length > 0, `one replica got everything: ${first.texts().length}/${second.texts().length}`);
  });

  await t.test('prefetchCount and concurrencyMode single hold handler calls below maxInFlight', async (t) => {
    for (const [properties, limit] of [[{ prefetchCount: '2' }, 2], [{ concurrencyMode: 'single' }, 1]] as const) {
      const pubsub = await open(t, properties);
      const topic = newTopic('prefetch');
      const inbox = new Receiver(() => sleep(20));
      await subscribe(pubsub, topic, inbox, { maxInFlight: 16 });
      await Promise.all(Array.from({ length: 12 }, (_, i) => publish(pubsub, topic, `p${i}`)));
      await eventually(5000, async () => assert.equal(inbox.texts().length, 12));
      assert.equal(inbox.maxInFlightSeen, limit, JSON.stringify(properties));
    }
  });

  await t.test('a message that keeps failing is retried with pauses, not in a tight loop', async (t) => {
    const pubsub = await open(t);
    const topic = newTopic('poison');
    let attempts = 0;
    const inbox = new Receiver(async () => {
      attempts++;
      throw new Error('poison');
    });
    await subscribe(pubsub, topic, inbox);
    await publish(pubsub, topic, 'poison');
    await eventually(5000, async () => assert.ok(attempts >= 1));
    await sleep(1500);
    // 100 ms after the first failure, then a second after each further one.
    assert.ok(attempts >= 2 && attempts <= 4, `${attempts} attempts in 1.5 s`);
  });

  await t.test('subscribing fails with the reason when the broker refuses the queue', async (t) => {
    const pubsub = await open(t, { maxLen: '10', deletedWhenUnused: 'false' });
    const topic = newTopic('refused');
    const queue = queueName(consumerId, topic);
    created.queues.add(queue);
    await (await adminChannel()).assertQueue(queue, { durable: true, arguments: { 'x-max-length': 5 } });
    await assert.rejects(subscribe(pubsub, topic, new Receiver()), /queue ".*-refused-\d+".*PRECONDITION_FAILED - inequivalent arg 'x-max-length'/);
    // Only that channel was closed: the component still works.
    const other = newTopic('not-refused');
    const inbox = new Receiver();
    await subscribe(pubsub, other, inbox);
    await publish(pubsub, other, 'fine');
    await eventually(5000, async () => assert.deepEqual(inbox.texts(), ['fine']));
  });

  await t.test('consumes again after its queue was deleted under it', async (t) => {
    const pubsub = await open(t);
    const topic = newTopic('deleted');
    const inbox = new Receiver();
    await subscribe(pubsub, topic, inbox);
    await publish(pubsub, topic, 'before');
    await eventually(5000, async () => assert.deepEqual(inbox.texts(), ['before']));
    await (await adminChannel()).deleteQueue(queueName(consumerId, topic));
    await publishUntilReceived(pubsub, topic, inbox, 'after');
  });
});

describeSidecarPubSubConformance({
  type: 'pubsub.rabbitmq',
  metadata: () => ({ ...TEST_DEFAULTS, deletedWhenUnused: 'false' }),
  durable: true,
  broker: 'rabbitmq',
  skip: async (t) => !(await serviceAvailable(t, 'RabbitMQ', RABBITMQ_PORT)),
});
