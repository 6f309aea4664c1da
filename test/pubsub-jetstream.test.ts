import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import '../components/pubsub/jetstream/jetstream.js';
import { ignoredSettings, parseJetStreamSettings } from '../components/pubsub/jetstream/metadata.js';
import { natsName, subjectCovers } from '../components/pubsub/jetstream/names.js';
import type { PubSub, SubscribeRequest, Subscription } from '../components/pubsub/pubsub.js';
import { restartBroker } from './support/brokers.js';
import { createComponent } from './support/components.js';
import { eventually } from './support/eventually.js';
import { describePubSubConformance, Receiver } from './support/pubsub-conformance.js';
import { describeSidecarPubSubConformance } from './support/pubsub-sidecar-conformance.js';
import { freePort } from './support/ports.js';
import { serviceAvailable } from './support/services.js';
import { TcpRelay } from './support/tcp-relay.js';

const NATS_PORT = 4222;
const NATS_URL = `nats://127.0.0.1:${NATS_PORT}`;
/** ackWait bounds how long a message a dead subscriber held waits; short, so the suite sees it redelivered. */
const FAST_REDELIVERY = { natsURL: NATS_URL, ackWait: '2s' };
const DELIVERY_LIMIT_MS = 10_000;
const run = randomBytes(4).toString('hex');
const encoder = new TextEncoder();

/** Every topic published or subscribed to in this file: their streams are deleted at the end. */
const topicsUsed = new Set<string>();
/** Streams the tests create themselves. */
const streamsCreated = new Set<string>();

/** An instance made the way the sidecar makes one, recording the topics it is used with. */
async function createFromRegistry(properties: Record<string, string>): Promise<PubSub> {
  return recordingTopics((await createComponent('pubsub', 'pubsub.jetstream', properties)).instance);
}

function recordingTopics(pubsub: PubSub): PubSub {
  return {
    features: () => pubsub.features(),
    publish: (req) => {
      topicsUsed.add(req.topic);
      return pubsub.publish(req);
    },
    subscribe: (req, handler) => {
      topicsUsed.add(req.topic);
      return pubsub.subscribe(req, handler);
    },
    close: () => pubsub.close(),
  };
}

after(async () => {
  if (topicsUsed.size === 0 && streamsCreated.size === 0) return;
  const nc = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  const ours = new Set(streamsCreated);
  for (const topic of topicsUsed) {
    // Only the streams the component made for these topics (every topic name here is unique to one run).
    const stream = await jsm.streams.find(topic).catch(() => undefined);
    if (stream === natsName(topic)) ours.add(stream);
  }
  for (const stream of ours) await jsm.streams.delete(stream).catch(() => undefined);
  await nc.close();
});

describePubSubConformance({
  name: 'pubsub.jetstream',
  durable: true,
  create: () => createFromRegistry(FAST_REDELIVERY),
  restartBroker: () => restartBroker('nats'),
  skip: async (t) => !(await serviceAvailable(t, 'NATS', NATS_PORT)),
});

test('pubsub.jetstream metadata', async (t) => {
  const parse = (properties: Record<string, string>) =>
    parseJetStreamSettings({ name: 'jetstream', type: 'pubsub.jetstream', version: 'v1', properties });

  await t.test('defaults follow daprd', () => {
    const settings = parse({ natsURL: NATS_URL });
    assert.deepEqual(settings.servers, [NATS_URL]);
    assert.equal(settings.connectionName, 'dapr.io - pubsub.jetstream');
    assert.deepEqual(settings.start, { policy: 'all' });
    assert.equal(settings.ackPolicy, 'explicit');
    assert.equal(settings.ackWaitMs, 30_000);
    assert.equal(settings.maxDeliver, -1);
    assert.deepEqual(settings.backOffMs, []);
    assert.equal(settings.maxAckPending, undefined);
    assert.equal(settings.credentials, undefined);
    assert.equal(settings.pullExpiresMs, 5_000);
  });

  await t.test('reads every setting, names matching in any case', () => {
    const settings = parse({
      NATSURL: 'nats://a:4222, nats://b:4222',
      jwt: 'eyJ.jwt',
      seedKey: 'SUSEED',
      token: 'ignored when a JWT is given',
      tls_client_cert: '/tls/client.crt',
      tls_client_key: '/tls/client.key',
      name: 'orders',
      streamName: 'ORDERS',
      durableName: 'billing',
      startTime: '1630349391',
      ackWait: '10s',
      maxDeliver: '5',
      backOff: '[50ms, 1s, 10s]',
      maxAckPending: '500',
      replicas: '3',
      memoryStorage: 'true',
      heartbeat: '15s',
      ackPolicy: 'All',
      domain: 'hub',
      apiPrefix: 'PREFIX',
    });
    assert.deepEqual(settings.servers, ['nats://a:4222', 'nats://b:4222']);
    assert.deepEqual(settings.credentials, { jwt: 'eyJ.jwt', seed: 'SUSEED' });
    assert.deepEqual(settings.tls, { certFile: '/tls/client.crt', keyFile: '/tls/client.key' });
    assert.equal(settings.connectionName, 'orders');
    assert.equal(settings.streamName, 'ORDERS');
    assert.equal(settings.durableName, 'billing');
    assert.deepEqual(settings.start, { policy: 'by_start_time', time: '2021-08-30T18:49:51.000Z' });
    assert.equal(settings.ackWaitMs, 10_000);
    assert.equal(settings.maxDeliver, 5);
    assert.deepEqual(settings.backOffMs, [50, 1000, 10_000]);
    assert.equal(settings.maxAckPending, 500);
    assert.equal(settings.replicas, 3);
    assert.equal(settings.memoryStorage, true);
    assert.equal(settings.heartbeatMs, 15_000);
    // A pull request must last long enough for two heartbeats.
    assert.equal(settings.pullExpiresMs, 30_000);
    assert.equal(settings.ackPolicy, 'all');
    assert.equal(settings.domain, 'hub');
    assert.equal(settings.apiPrefix, 'PREFIX');
    assert.deepEqual(parse({ natsURL: NATS_URL, token: 'secret' }).credentials, { token: 'secret' });
    assert.deepEqual(parse({ natsURL: NATS_URL, startSequence: '7' }).start, { policy: 'by_start_sequence', sequence: 7 });
    assert.deepEqual(parse({ natsURL: NATS_URL, deliverPolicy: 'new', startSequence: '0' }).start, { policy: 'new' });
  });

  await t.test('names the daprd settings a pull consumer cannot honour', () => {
    const meta = (properties: Record<string, string>) => ({ name: 'jetstream', type: 'pubsub.jetstream', version: 'v1', properties });
    assert.deepEqual(ignoredSettings(meta({ natsURL: NATS_URL, flowControl: 'false', rateLimit: '0' })), []);
    const notes = ignoredSettings(meta({ natsURL: NATS_URL, flowControl: 'true', rateLimit: '1024', queueGroupName: 'workers' }));
    assert.equal(notes.length, 3);
    for (const [i, name] of ['flowControl', 'rateLimit', 'queueGroupName'].entries()) {
      assert.match(notes[i]!, new RegExp(`^metadata "${name}": .*; it has no effect$`));
    }
  });

  const refused: Array<[string, Record<string, string>, RegExp]> = [
    ['no natsURL', {}, /"natsURL" is required/],
    ['a JWT without its seed', { jwt: 'eyJ.jwt' }, /"jwt" and "seedKey" must be given together/],
    ['a seed without its JWT', { seedKey: 'SUSEED' }, /"jwt" and "seedKey" must be given together/],
    ['a client certificate without its key', { tls_client_cert: '/tls.crt' }, /"tls_client_cert" and "tls_client_key"/],
    ['a bad ackWait', { ackWait: 'soon' }, /"ackWait" must be a duration/],
    ['a zero ackWait', { ackWait: '0s' }, /"ackWait" must be a positive duration/],
    ['an unknown deliverPolicy', { deliverPolicy: 'first' }, /"deliverPolicy" must be one of all, last, new, sequence, time/],
    ['deliverPolicy sequence without startSequence', { deliverPolicy: 'sequence' }, /needs "startSequence"/],
    ['deliverPolicy time without startTime', { deliverPolicy: 'time' }, /needs "startTime"/],
    ['a startSequence with deliverPolicy all', { deliverPolicy: 'all', startSequence: '5' }, /"startSequence" does not apply to deliverPolicy "all"/],
    ['a startTime and a startSequence', { startSequence: '5', startTime: '1630349391' }, /"startTime" applies only to deliverPolicy "time"/],
    ['a bad startTime', { startTime: 'yesterday' }, /"startTime" must be an integer/],
    ['a backOff as long as maxDeliver', { backOff: '1s, 2s', maxDeliver: '2' }, /"maxDeliver" must be greater than the 2 "backOff" durations/],
    ['a backOff without maxDeliver', { backOff: '1s' }, /"maxDeliver" must be greater/],
    ['a bad backOff duration', { backOff: '1s, later', maxDeliver: '5' }, /"backOff" must list positive durations/],
    ['an unknown ackPolicy', { ackPolicy: 'sometimes' }, /"ackPolicy" must be one of explicit, all, none/],
    ['a bad maxAckPending', { maxAckPending: 'many' }, /"maxAckPending" must be an integer >= -1/],
    ['a bad maxDeliver', { maxDeliver: '-2' }, /"maxDeliver" must be an integer >= -1/],
    ['a bad memoryStorage', { memoryStorage: 'perhaps' }, /"memoryStorage" must be a boolean/],
    ['a bad heartbeat', { heartbeat: 'often' }, /"heartbeat" must be a duration/],
    ['a streamName NATS cannot hold', { streamName: 'orders.v2' }, /"streamName" may not hold/],
    ['a bad flowControl, which daprd decodes too', { flowControl: 'maybe' }, /"flowControl" must be a boolean/],
  ];
  for (const [what, properties, expected] of refused) {
    await t.test(`start-up fails on ${what}`, async () => {
      const withURL = 'natsURL' in properties || what === 'no natsURL' ? properties : { natsURL: NATS_URL, ...properties };
      await assert.rejects(createFromRegistry(withURL), (err: Error) => {
        assert.match(err.message, /: component "pubsub-under-test": init failed: /);
        assert.match(err.message, expected);
        return true;
      });
    });
  }

  await t.test('start-up fails when no server answers', async () => {
    const refusedURL = /init failed: cannot connect to NATS at nats:\/\/127\.0\.0\.1:1: connection refused/;
    await assert.rejects(createFromRegistry({ natsURL: 'nats://127.0.0.1:1' }), refusedURL);
  });
});

test('pubsub.jetstream names', () => {
  assert.match(natsName('orders'), /^orders_[0-9a-f]{8}$/);
  assert.match(natsName('orders.v2/eu west'), /^orders_v2_eu_west_[0-9a-f]{8}$/);
  assert.notEqual(natsName('a.b'), natsName('a_b'));
  assert.notEqual(natsName('a-b', 'c'), natsName('a', 'b-c'));
  assert.equal(natsName('app', 'orders'), natsName('app', 'orders'));
  assert.ok(natsName('x'.repeat(500), 'y'.repeat(500)).length < 100);
  assert.ok(subjectCovers('orders', 'orders'));
  assert.ok(subjectCovers('orders.*', 'orders.new'));
  assert.ok(subjectCovers('orders.>', 'orders.new.eu'));
  assert.ok(subjectCovers('*.new', 'orders.new'));
  assert.ok(!subjectCovers('orders.>', 'orders'));
  assert.ok(!subjectCovers('orders.*', 'orders.new.eu'));
  assert.ok(!subjectCovers('orders', 'orders.new'));
  assert.ok(!subjectCovers('orders.new', 'orders'));
});

/** A NATS server of the test's own, with JetStream in a scratch folder, on a free port; stopped when `t` ends. */
async function startPrivateServer(t: TestContext, args: readonly string[]): Promise<string> {
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), 'pillion-nats-'));
  const server = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, ...args], { stdio: 'ignore' });
  t.after(async () => {
    if (server.exitCode === null) {
      server.kill();
      await once(server, 'exit');
    }
    await rm(storeDir, { recursive: true, force: true });
  });
  await eventually(DELIVERY_LIMIT_MS, () => tcpConnects(port));
  return `nats://127.0.0.1:${port}`;
}

function tcpConnects(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}


test('pubsub.jetstream', { timeout: 120_000 }, async (t) => {
  if (!(await serviceAvailable(t, 'NATS', NATS_PORT))) return;
  const nc: NatsConnection = await connect({ servers: NATS_URL });
  const jsm: JetStreamManager = await jetstreamManager(nc);
  const open: PubSub[] = [];
  const subscriptions: Subscription[] = [];
  t.after(async () => {
    for (const subscription of subscriptions) await subscription.close().catch(() => undefined);
    for (const pubsub of open) await pubsub.close().catch(() => undefined);
    await nc.close();
  });
  let counter = 0;
  const topicOf = (name: string): string => `js-${run}-${name}-${++counter}`;
  const create = async (properties: Record<string, string> = {}): Promise<PubSub> => {
    const pubsub = await createFromRegistry({ ...FAST_REDELIVERY, ...properties });
    open.push(pubsub);
    return pubsub;
  };
  const subscribe = async (pubsub: PubSub, req: Partial<SubscribeRequest> & { topic: string }, receiver: Receiver): Promise<Subscription> => {
    const subscription = await pubsub.subscribe({ metadata: {}, consumerId: `js-${run}`, maxInFlight: 8, ...req }, receiver.handler);
    subscriptions.push(subscription);
    return subscription;
  };
  const publish = (pubsub: PubSub, topic: string, body: string, contentType?: string): Promise<void> =>
    pubsub.publish({ topic, data: encoder.encode(body), metadata: {}, ...(contentType === undefined ? {} : { contentType }) });
  const streamExists = async (name: string): Promise<boolean> =>
    jsm.streams.info(name).then(
      () => true,
      (err: unknown) => {
        if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return false;
        throw err;
      },
    );

  const pubsub = await create();

  await t.test('replicas of one consumer id share the messages, each delivered once', async () => {
    const topic = topicOf('replicas');
    const first = new Receiver(() => sleep(20));
    const second = new Receiver(() => sleep(20));
    await subscribe(await create(), { topic, maxInFlight: 2 }, first);
    await subscribe(await create(), { topic, maxInFlight: 2 }, second);
    const expected = Array.from({ length: 30 }, (_, i) => `r${i}`);
    await Promise.all(expected.map((body) => publish(pubsub, topic, body)));
    await eventually(DELIVERY_LIMIT_MS, async () => assert.deepEqual([...first.texts(), ...second.texts()].sort(), expected.sort()));
    assert.ok(first.received.length > 0 && second.received.length > 0, `split ${first.received.length}/${second.received.length}`);
    await sleep(500);
    assert.equal(first.attempts + second.attempts, 30, 'no message is delivered twice');
  });

  await t.test('a handler slower than ackWait keeps its message to itself', async () => {
    const topic = topicOf('slow');
    const receiver = new Receiver(() => sleep(2500));
    await subscribe(await create({ ackWait: '1s' }), { topic }, receiver);
    await publish(pubsub, topic, 'slow');
    await eventually(DELIVERY_LIMIT_MS, async () => assert.deepEqual(receiver.texts(), ['slow']));
    await sleep(1500);
    assert.equal(receiver.attempts, 1);
  });

  await t.test('carries the content type; other headers become metadata', async () => {
    const topic = topicOf('headers');
    const receiver = new Receiver();
    await subscribe(pubsub, { topic }, receiver);
    await publish(pubsub, topic, '{"a":1}', 'application/json');
    await publish(pubsub, topic, 'none');
    await eventually(DELIVERY_LIMIT_MS, async () => assert.equal(receiver.received.length, 2));
    const [json, none] = receiver.received;
    assert.equal(json!.contentType, 'application/json');
    assert.deepEqual(json!.metadata, {});
    assert.equal(none!.contentType, undefined);
  });

  await t.test('a stream per topic, named after it', async () => {
    const topic = `js.${run}.dotted/topic`;
    topicsUsed.add(topic);
    await publish(pubsub, topic, 'x');
    assert.equal(await jsm.streams.find(topic), natsName(topic));
  });

  await t.test('first publishes to a new topic, all at once, make one stream', async () => {
    const topic = topicOf('burst');
    await Promise.all(Array.from({ length: 20 }, (_, i) => publish(pubsub, topic, `b${i}`)));
    assert.equal((await jsm.streams.info(natsName(topic))).state.messages, 20);
  });

  await t.test('streamName puts every topic in that stream, also when instances add topics at once', async () => {
    const streamName = `pillion_${run}_shared`;
    streamsCreated.add(streamName);
    const instances = await Promise.all([1, 2, 3, 4].map(() => create({ streamName })));
    const topics = instances.map(() => topicOf('shared'));
    const receivers = instances.map(() => new Receiver());
    await Promise.all(instances.map((instance, i) => subscribe(instance, { topic: topics[i]! }, receivers[i]!)));
    await Promise.all(instances.map((instance, i) => publish(instance, topics[i]!, `to ${i}`)));
    await eventually(DELIVERY_LIMIT_MS, async () => {
      for (const [i, receiver] of receivers.entries()) assert.deepEqual(receiver.texts(), [`to ${i}`]);
    });
    assert.deepEqual((await jsm.streams.info(streamName)).config.subjects?.sort(), [...topics].sort());
    for (const topic of topics) assert.equal(await streamExists(natsName(topic)), false);
  });

  await t.test('uses a stream that already takes the topic', async () => {
    const streamName = `pillion_${run}_wildcard`;
    streamsCreated.add(streamName);
    await jsm.streams.add({ name: streamName, subjects: [`wild-${run}.>`] });
    const topic = `wild-${run}.orders`;
    topicsUsed.add(topic);
    const receiver = new Receiver();
    await subscribe(pubsub, { topic }, receiver);
    await publish(pubsub, topic, 'wild');
    await eventually(DELIVERY_LIMIT_MS, async () => assert.deepEqual(receiver.texts(), ['wild']));
    assert.equal(await streamExists(natsName(topic)), false);
    assert.equal((await jsm.streams.info(streamName)).state.messages, 1);
  });

  await t.test('sets its stream and consumer up again when they are deleted', async () => {
    const topic = topicOf('deleted');
    const receiver = new Receiver();
    await subscribe(pubsub, { topic }, receiver);
    await publish(pubsub, topic, 'before');
    await eventually(DELIVERY_LIMIT_MS, async () => assert.deepEqual(receiver.texts(), ['before']));
    await jsm.streams.delete(natsName(topic));
    await eventually(DELIVERY_LIMIT_MS, async () => assert.equal(await streamExists(natsName(topic)), true));
    await eventually(DELIVERY_LIMIT_MS, async () => {
      const consumers = await jsm.consumers.list(natsName(topic)).next();
      assert.equal(consumers.length, 1);
    });
    await publish(pubsub, topic, 'after');
    await eventually(DELIVERY_LIMIT_MS, async () => assert.deepEqual(receiver.texts(), ['before', 'after']));
  });

  await t.test('durableName replaces the consumer id in the durable', async () => {
    const topic = topicOf('durable');
    const durableName = `billing-${run}`;
    const first = new Receiver(() => sleep(20));
    const second = new Receiver(() => sleep(20));
    await subscribe(await create({ durableName }), { topic, consumerId: 'app-a', maxInFlight: 1 }, first);
    await subscribe(await create({ durableName }), { topic, consumerId: 'app-b', maxInFlight: 1 }, second);
    await jsm.consumers.info(natsName(topic), natsName(durableName, topic));
    for (let i = 0; i < 10; i++) await publish(pubsub, topic, `d${i}`);
    await eventually(DELIVERY_LIMIT_MS, async () => assert.equal(first.received.length + second.received.length, 10));
  });

  await t.test('a changed ackWait updates the durable it already made', async () => {
    const topic = topicOf('changed');
    await subscribe(pubsub, { topic }, new Receiver());
    await subscribe(await create({ ackWait: '7s' }), { topic }, new Receiver());
    const info = await jsm.consumers.info(natsName(topic), natsName(`js-${run}`, topic));
    assert.equal(info.config.ack_wait, 7e9);
  });

  await t.test('deliverPolicy and startSequence choose where a new consumer starts', async () => {
    const topic = topicOf('start');
    for (const body of ['s1', 's2', 's3']) await publish(pubsub, topic, body);
    const fromNew = new Receiver();
    const fromSecond = new Receiver();
    await subscribe(await create({ deliverPolicy: 'new' }), { topic, consumerId: `new-${run}` }, fromNew);
    await subscribe(await create({ startSequence: '2' }), { topic, consumerId: `seq-${run}` }, fromSecond);
    await publish(pubsub, topic, 's4');
    await eventually(DELIVERY_LIMIT_MS, async () => {
      assert.deepEqual(fromNew.texts(), ['s4']);
      assert.deepEqual(fromSecond.texts(), ['s2', 's3', 's4']);
    });
  });

  await t.test('backOff spaces the deliveries of a rejected message', async () => {
    const topic = topicOf('backoff');
    const attempts: number[] = [];
    const receiver = new Receiver(async () => {
      attempts.push(Date.now());
      if (attempts.length < 3) throw new Error('not yet');
    });
    await subscribe(await create({ backOff: '300ms, 900ms', maxDeliver: '5' }), { topic }, receiver);
    await publish(pubsub, topic, 'spaced');
    await eventually(DELIVERY_LIMIT_MS, async () => assert.deepEqual(receiver.texts(), ['spaced']));
    const gaps = [attempts[1]! - attempts[0]!, attempts[2]! - attempts[1]!];
    assert.ok(gaps[0]! >= 250 && gaps[0]! < 900, `first gap ${gaps[0]} ms`);
    assert.ok(gaps[1]! >= 850, `second gap ${gaps[1]} ms`);
  });

  await t.test('rides out a lost connection, and closes promptly during one', async (t) => {
    const relay = await TcpRelay.reserve(NATS_PORT);
    await relay.start();
    t.after(() => relay.stop());
    const throughRelay = await create({ natsURL: `nats://127.0.0.1:${relay.port}` });
    const topic = topicOf('outage');
    const receiver = new Receiver();
    await subscribe(throughRelay, { topic }, receiver);
    await publish(throughRelay, topic, 'before');
    await eventually(DELIVERY_LIMIT_MS, async () => assert.deepEqual(receiver.texts(), ['before']));
    await relay.stop();
    await sleep(500);
    await relay.start();
    await eventually(2 * DELIVERY_LIMIT_MS, () => publish(throughRelay, topic, 'after'));
    // An acknowledgement cut off with the connection may bring 'before' again: at least once, not exactly once.
    await eventually(2 * DELIVERY_LIMIT_MS, async () => assert.deepEqual(new Set(receiver.texts()), new Set(['before', 'after'])));

    const abandoned = await createFromRegistry({ ...FAST_REDELIVERY, natsURL: `nats://127.0.0.1:${relay.port}` });
    await abandoned.subscribe({ topic, metadata: {}, consumerId: `abandoned-${run}`, maxInFlight: 1 }, () => new Promise<void>(() => undefined));
    await relay.stop();
    await sleep(300); // for the client to see the connection go
    const started = performance.now();
    await abandoned.close();
    assert.ok(performance.now() - started < 1000, `close took ${Math.round(performance.now() - started)} ms`);
  });

  await t.test('authenticates with a token', async (t) => {
    const natsURL = await startPrivateServer(t, ['--auth', `token-${run}`]);
    await assert.rejects(createFromRegistry({ natsURL }), /cannot connect to NATS at .*: Authorization Violation/);
    const authenticated = await createFromRegistry({ natsURL, token: `token-${run}` });
    try {
      const topic = topicOf('token');
      const receiver = new Receiver();
      await authenticated.subscribe({ topic, metadata: {}, consumerId: `js-${run}`, maxInFlight: 1 }, receiver.handler);
      await publish(authenticated, topic, 'let in');
      await eventually(DELIVERY_LIMIT_MS, async () => assert.deepEqual(receiver.texts(), ['let in']));
    } finally {
      await authenticated.close();
    }
  });

  await t.test('refuses to publish or subscribe once closed', async () => {
    const closed = await createFromRegistry(FAST_REDELIVERY);
    await closed.close();
    await assert.rejects(publish(closed, topicOf('closed'), 'x'), /closed/);
    const request = { topic: topicOf('closed'), metadata: {}, consumerId: 'x', maxInFlight: 1 };
    await assert.rejects(closed.subscribe(request, async () => undefined), /closed/);
    await closed.close();
  });
});

describeSidecarPubSubConformance({
  type: 'pubsub.jetstream',
  metadata: () => FAST_REDELIVERY,
  durable: true,
  broker: 'nats',
  skip: async (t) => !(await serviceAvailable(t, 'NATS', NATS_PORT)),
});
