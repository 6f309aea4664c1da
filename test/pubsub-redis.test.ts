import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { PubSub, Subscription } from '../components/pubsub/pubsub.js';
import { RedisStreamsPubSub } from '../components/pubsub/redis/redis-streams.js';
import { parseRedisStreamsSettings } from '../components/pubsub/redis/settings.js';
import { RELEASE_CONSUMERS_SCRIPT } from '../components/pubsub/redis/subscription.js';
import type { ComponentMetadata } from '../components/registry.js';
import { restartBroker } from './support/brokers.js';
import { eventually } from './support/eventually.js';
import { describePubSubConformance, Receiver } from './support/pubsub-conformance.js';
import { describeSidecarPubSubConformance } from './support/pubsub-sidecar-conformance.js';
import { serviceAvailable } from './support/services.js';
import { TcpRelay } from './support/tcp-relay.js';
import { createComponent } from './support/components.js';

const REDIS_PORT = 6379;
const REDIS_HOST = `127.0.0.1:${REDIS_PORT}`;
/** Redelivery within about a second, as the conformance suite expects. */
const FAST_REDELIVERY = { processingTimeout: '1s', redeliverInterval: '500ms' };
const encoder = new TextEncoder();
const text = (data: Uint8Array): string => Buffer.from(data).toString('utf8');

/** A pub/sub made the way the sidecar makes one: from a Component resource, through the registry. */
async function createFromRegistry(properties: Record<string, string>, initTimeoutMs = 5000): Promise<PubSub> {
  return (await createComponent('pubsub', 'pubsub.redis', properties, { initTimeoutMs })).instance;
}

function componentMeta(properties: Record<string, string>): ComponentMetadata {
  return { name: 'redis-pubsub', type: 'pubsub.redis', version: 'v1', properties };
}


test('pubsub.redis', { timeout: 90_000 }, async (t) => {
  if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
  const run = randomBytes(4).toString('hex');
  const raw = new Redis({ host: '127.0.0.1', port: REDIS_PORT, lazyConnect: true });
  await raw.connect();
  const created = new Set<string>();
  t.after(async () => {
    if (created.size > 0) await raw.del(...created);
    await raw.quit();
  });
  let counter = 0;
  const topicOf = (name: string): string => {
    const topic = `pubsub-redis-${run}-${name}-${++counter}`;
    created.add(topic);
    return topic;
  };
  const open = async (t: TestContext, properties: Record<string, string> = {}): Promise<PubSub> => {
    const pubsub = await createFromRegistry({ redisHost: REDIS_HOST, ...FAST_REDELIVERY, ...properties });
    t.after(() => pubsub.close());
    return pubsub;
  };
  const subscribe = async (t: TestContext, pubsub: PubSub, topic: string, inbox: Receiver, consumerId = `group-${run}`, maxInFlight = 16): Promise<Subscription> => {
    const subscription = await pubsub.subscribe({ topic, consumerId, maxInFlight, metadata: {} }, inbox.handler);
    t.after(() => subscription.close());
    return subscription;
  };
  const publish = (pubsub: PubSub, topic: string, body: string, extra: { contentType?: string; metadata?: Record<string, string> } = {}): Promise<void> =>
    pubsub.publish({ topic, data: encoder.encode(body), metadata: extra.metadata ?? {}, ...(extra.contentType === undefined ? {} : { contentType: extra.contentType }) });

  await t.test('validates its component metadata', async () => {
    const parse = (properties: Record<string, string>): unknown => parseRedisStreamsSettings(componentMeta(properties));
    assert.throws(() => parse({}), /"redisHost" is required/);
    const invalid: [Record<string, string>, RegExp][] = [
      [{ processingTimeout: 'soon' }, /"processingTimeout" must be a duration/],
      [{ redeliverInterval: '-1s' }, /"redeliverInterval" must be a duration/],
      [{ maxLenApprox: '-1' }, /"maxLenApprox" must be an integer >= 0/],
      [{ maxLenApprox: '1e3' }, /"maxLenApprox"/],
      [{ queueDepth: '0' }, /"queueDepth" must be an integer >= 1/],
      [{ concurrency: '0' }, /"concurrency" must be an integer >= 1/],
      [{ redisDB: 'one' }, /"redisDB"/],
      [{ redisMaxRetries: '-1' }, /"redisMaxRetries"/],
      [{ enableTLS: 'maybe' }, /"enableTLS" must be a boolean/],
      [{ redisType: 'cluster' }, /not supported/],
      [{ failover: 'true' }, /not supported/],
      [{ redisHost: 'localhost:http' }, /invalid port/],
    ];
    for (const [properties, expected] of invalid) assert.throws(() => parse({ redisHost: REDIS_HOST, ...properties }), expected, JSON.stringify(properties));
    assert.deepEqual(parse({ redisHost: 'redis' }), {
      connection: { host: 'redis', port: 6379, db: 0, tls: false, maxRetries: 3 },
      processingTimeoutMs: 15_000,
      redeliverIntervalMs: 60_000,
      maxLenApprox: 0,
      queueDepth: 100,
      concurrency: undefined,
    });
    assert.deepEqual(
      parse({
        REDISHOST: '[::1]:7000',
        redisUsername: 'app',
        redisPassword: ' secret ',
        redisDB: '2',
        enableTLS: 'true',
        processingTimeout: '1m30s',
        redeliverInterval: '25',
        maxLenApprox: '1000',
        queueDepth: '10',
        concurrency: '4',
        consumerID: 'ignored-here',
      }),
      {
        connection: { host: '::1', port: 7000, username: 'app', password: ' secret ', db: 2, tls: true, maxRetries: 3 },
        processingTimeoutMs: 90_000,
        redeliverIntervalMs: 25_000,
        maxLenApprox: 1000,
        queueDepth: 10,
        concurrency: 4,
      },
    );
    await assert.rejects(createFromRegistry({ redisHost: REDIS_HOST, processingTimeout: 'soon' }), /init failed: metadata "processingTimeout"/);
  });

  await t.test('fails start-up when a reachable Redis refuses the settings', async () => {
    await assert.rejects(createFromRegistry({ redisHost: REDIS_HOST, redisUsername: 'nobody', redisPassword: 'wrong' }), /init failed: cannot connect to Redis at 127\.0\.0\.1:6379: WRONGPASS/);
  });

  await t.test('writes entries as daprd does and reads the ones daprd writes', async (t) => {
    const pubsub = await open(t);
    const topic = topicOf('layout');
    await publish(pubsub, topic, '{"n":1}', { contentType: 'application/json', metadata: { traceid: 'abc' } });
    await publish(pubsub, topic, 'bare');
    const entries = await raw.xrange(topic, '-', '+');
    assert.deepEqual(
      entries.map(([, fields]) => fields),
      [['data', '{"n":1}', 'contentType', 'application/json', 'metadata', '{"traceid":"abc"}'], ['data', 'bare']],
    );

    const inbox = new Receiver();
    await subscribe(t, pubsub, topic, inbox);
    await raw.xadd(topic, '*', 'data', 'from daprd', 'metadata', '{"rawPayload":"true"}');
    await raw.xadd(topic, '*', 'data', 'bad metadata', 'metadata', '[1]');
    await eventually(5000, async () => assert.equal(inbox.received.length, 4));
    const byText = new Map(inbox.received.map((m) => [text(m.data), m]));
    assert.deepEqual({ ...byText.get('{"n":1}')! }, { topic, data: byText.get('{"n":1}')!.data, contentType: 'application/json', metadata: { traceid: 'abc' } });
    assert.deepEqual(byText.get('bare')!.metadata, {});
    assert.equal(byText.get('bare')!.contentType, undefined);
    assert.deepEqual(byText.get('from daprd')!.metadata, { rawPayload: 'true' });
    assert.deepEqual(byText.get('bad metadata')!.metadata, {});
    await eventually(2000, async () => assert.equal(((await raw.xpending(topic, `group-${run}`)) as [number])[0], 0));
  });

  await t.test('trims streams to about maxLenApprox entries', async (t) => {
    const trimmed = await open(t, { maxLenApprox: '100' });
    const unbounded = await open(t);
    const [short, long] = [topicOf('trimmed'), topicOf('unbounded')];
    for (let i = 0; i < 1000; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => Promise.all([publish(trimmed, short, `m${i + j}`), publish(unbounded, long, `m${i + j}`)])));
    }
    const length = await raw.xlen(short);
    // `~` trims whole internal nodes only (100 entries each by default): a little above the limit, never below.
    assert.ok(length >= 100 && length < 300, `stream kept ${length} entries`);
    assert.equal(await raw.xlen(long), 1000);
  });

  await t.test('reclaims a message a dead consumer of the group left pending', async (t) => {
    const pubsub = await open(t);
    const topic = topicOf('dead');
    const group = `dead-${run}`;
    await raw.xgroup('CREATE', topic, group, '0', 'MKSTREAM');
    await publish(pubsub, topic, 'orphan');
    // A consumer that read the message and died: it stays pending on that consumer.
    const read = (await raw.xreadgroup('GROUP', group, 'crashed-replica', 'COUNT', 10, 'STREAMS', topic, '>')) as [string, [string, string[]][]][];
    assert.equal(read[0]![1].length, 1);
    const started = Date.now();
    const inbox = new Receiver();
    await subscribe(t, pubsub, topic, inbox, group);
    await eventually(5000, async () => assert.deepEqual(inbox.texts(), ['orphan']));
    assert.ok(Date.now() - started >= 500, 'the message must be idle for processingTimeout before it is reclaimed');
    await eventually(2000, async () => assert.equal(((await raw.xpending(topic, group)) as [number])[0], 0));
  });

  await t.test('keeps a rejected message pending when redelivery is disabled', async (t) => {
    const pubsub = await open(t, { processingTimeout: '0' });
    const topic = topicOf('no-redelivery');
    const inbox = new Receiver(async () => {
      throw new Error('rejected');
    });
    await subscribe(t, pubsub, topic, inbox);
    await publish(pubsub, topic, 'once');
    await eventually(5000, async () => assert.equal(inbox.attempts, 1));
    await sleep(1500);
    assert.equal(inbox.attempts, 1);
    assert.equal(((await raw.xpending(topic, `group-${run}`)) as [number])[0], 1);
  });

  await t.test('caps pending handler calls at concurrency when it is below maxInFlight', async (t) => {
    const pubsub = await open(t, { concurrency: '2', queueDepth: '1' });
    const topic = topicOf('concurrency');
    const inbox = new Receiver(() => sleep(20));
    await subscribe(t, pubsub, topic, inbox, `group-${run}`, 10);
    await Promise.all(Array.from({ length: 20 }, (_, i) => publish(pubsub, topic, `c${i}`)));
    await eventually(5000, async () => assert.equal(inbox.received.length, 20));
    assert.equal(inbox.maxInFlightSeen, 2);
  });

  await t.test('leaves the consumer group on close unless it still holds messages', async (t) => {
    const pubsub = await open(t);
    const topic = topicOf('leave');
    const group = `leave-${run}`;
    const consumers = async (): Promise<string[]> => ((await raw.xinfo('CONSUMERS', topic, group)) as unknown[][]).map((info) => String(info[1]));
    const idle = await pubsub.subscribe({ topic, consumerId: group, maxInFlight: 4, metadata: {} }, async () => undefined);
    await publish(pubsub, topic, 'seen');
    await eventually(5000, async () => assert.equal((await consumers()).length, 1));
    await idle.close();
    assert.deepEqual(await consumers(), []);

    const stuck = new Receiver(() => new Promise<void>(() => undefined));
    const holding = await pubsub.subscribe({ topic, consumerId: group, maxInFlight: 4, metadata: {} }, stuck.handler);
    await publish(pubsub, topic, 'held');
    await eventually(5000, async () => assert.equal(stuck.inFlight, 1));
    await holding.close();
    assert.equal((await consumers()).length, 1, 'the consumer holding a message stays, for the message to be reclaimed');
    const successor = new Receiver();
    await subscribe(t, pubsub, topic, successor, group);
    await eventually(5000, async () => assert.deepEqual(successor.texts(), ['held']));

    // What a new subscriber sweeps: consumers of crashed replicas that hold nothing and have been idle long enough.
    const swept = topicOf('sweep');
    await raw.xgroup('CREATE', swept, group, '0', 'MKSTREAM');
    await raw.xgroup('CREATECONSUMER', swept, group, 'ghost');
    await raw.xadd(swept, '*', 'data', 'x');
    await raw.xreadgroup('GROUP', group, 'holder', 'STREAMS', swept, '>');
    const sweepConsumers = async (): Promise<string[]> => ((await raw.xinfo('CONSUMERS', swept, group)) as unknown[][]).map((info) => String(info[1])).sort();
    assert.equal(await raw.eval(RELEASE_CONSUMERS_SCRIPT, 1, swept, group, '', 60_000), 0);
    assert.deepEqual(await sweepConsumers(), ['ghost', 'holder']);
    assert.equal(await raw.eval(RELEASE_CONSUMERS_SCRIPT, 1, swept, group, '', 0), 1);
    assert.deepEqual(await sweepConsumers(), ['holder']);
    assert.equal(await raw.eval(RELEASE_CONSUMERS_SCRIPT, 1, topicOf('no-such-stream'), group, '', 0), 0);
  });

  await t.test('creates the group again when Redis loses the stream', async (t) => {
    const pubsub = await open(t);
    const topic = topicOf('lost');
    const inbox = new Receiver();
    await subscribe(t, pubsub, topic, inbox);
    await publish(pubsub, topic, 'first');
    await eventually(5000, async () => assert.deepEqual(inbox.texts(), ['first']));
    await raw.del(topic);
    // The publish recreates the stream without the group: the group, made again from the stream's start, gets it.
    await publish(pubsub, topic, 'second');
    await eventually(10_000, async () => assert.deepEqual(inbox.texts(), ['first', 'second']));
  });

  await t.test('starts while Redis is unreachable, fails publishing fast and consumes once Redis is there', async (t) => {
    const relay = new TcpRelay(REDIS_PORT);
    await relay.start();
    await relay.stop();
    t.after(() => relay.stop());
    const started = performance.now();
    const pubsub = await createFromRegistry({ redisHost: `127.0.0.1:${relay.port}`, ...FAST_REDELIVERY });
    t.after(() => pubsub.close());
    assert.ok(performance.now() - started < 1000, 'a refused connection must not hold start-up');
    const topic = topicOf('late');
    const publishStarted = performance.now();
    await assert.rejects(publish(pubsub, topic, 'early'), new RegExp(`^Error: pubsub\\.redis: Redis at 127\\.0\\.0\\.1:${relay.port} is unavailable: .*ECONNREFUSED`));
    assert.ok(performance.now() - publishStarted < 100, 'publishing while Redis is away must not wait');
    const inbox = new Receiver();
    await subscribe(t, pubsub, topic, inbox);

    await relay.start();
    await eventually(10_000, () => publish(pubsub, topic, 'connected'));
    await eventually(10_000, async () => assert.deepEqual(inbox.texts(), ['connected']));
  });

  await t.test('closes with handlers pending and refuses calls afterwards', async () => {
    const pubsub = await RedisStreamsPubSub.open(parseRedisStreamsSettings(componentMeta({ redisHost: REDIS_HOST, ...FAST_REDELIVERY })));
    const topic = topicOf('closing');
    const stuck = new Receiver(() => new Promise<void>(() => undefined));
    await pubsub.subscribe({ topic, consumerId: `closing-${run}`, maxInFlight: 1, metadata: {} }, stuck.handler);
    await publish(pubsub, topic, 'held');
    await eventually(5000, async () => assert.equal(stuck.inFlight, 1));
    const started = performance.now();
    await pubsub.close();
    assert.ok(performance.now() - started < 500, 'close must not wait for handlers or blocking reads');
    await pubsub.close();
    await assert.rejects(publish(pubsub, topic, 'late'), /pubsub\.redis component is closed/);
    await assert.rejects(pubsub.subscribe({ topic, consumerId: 'x', maxInFlight: 1, metadata: {} }, stuck.handler), /closed/);
  });
});

describePubSubConformance({
  name: 'pubsub.redis',
  durable: true,
  skip: async (t) => !(await serviceAvailable(t, 'Redis', REDIS_PORT)),
  create: () => createFromRegistry({ redisHost: REDIS_HOST, ...FAST_REDELIVERY }),
  restartBroker: () => restartBroker('redis'),
});

describeSidecarPubSubConformance({
  type: 'pubsub.redis',
  metadata: () => ({ redisHost: REDIS_HOST, ...FAST_REDELIVERY }),
  durable: true,
  broker: 'redis',
  // Redis here keeps nothing on disk: what it held when it stopped is gone.
  brokerPersists: false,
  skip: async (t) => !(await serviceAvailable(t, 'Redis', REDIS_PORT)),
});
