import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { after, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectAsync } from 'mqtt';
import '../components/pubsub/mqtt3/mqtt3-pubsub.js';
import { parseSettings } from '../components/pubsub/mqtt3/settings.js';
import { PubSubFeature, type Message, type PubSub, type SubscribeRequest, type Subscription } from '../components/pubsub/pubsub.js';
import { restartBroker } from './support/brokers.js';
import { eventually } from './support/eventually.js';
import { describePubSubConformance } from './support/pubsub-conformance.js';
import { describeSidecarPubSubConformance } from './support/pubsub-sidecar-conformance.js';
import { serviceAvailable } from './support/services.js';
import { TcpRelay } from './support/tcp-relay.js';
import { createComponent } from './support/components.js';

const BROKER_URL = 'tcp://127.0.0.1:1883';
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const run = randomBytes(4).toString('hex');
const name = (what: string): string => `mqtt3-${run}-${what}`;
/** CONNACK, connection accepted, no session present. */
const CONNACK_ACCEPTED = Buffer.from([0x20, 0x02, 0x00, 0x00]);

/** Client ids of every consumer the tests subscribed with: their persistent sessions are removed at the end. */
const consumerIds = new Set<string>();

/** A pub/sub made the way the sidecar makes one: from a Component resource, through the registry. */
async function createFromRegistry(metadata: Record<string, string> = {}): Promise<PubSub> {
  const { instance: pubsub } = await createComponent('pubsub', 'pubsub.mqtt3', { url: BROKER_URL, ...metadata }, { name: 'mqtt3', initTimeoutMs: 5000 });
  const subscribe = pubsub.subscribe.bind(pubsub);
  pubsub.subscribe = (req, handler) => {
    consumerIds.add(req.consumerId);
    return subscribe(req, handler);
  };
  return pubsub;
}

after(async () => {
  for (const clientId of consumerIds) {
    const client = await connectAsync(BROKER_URL, { clientId, clean: true, protocolVersion: 4, reconnectPeriod: 0 }).catch(() => undefined);
    await client?.endAsync();
  }
});

const skipWithoutMosquitto = async (t: TestContext): Promise<boolean> => !(await serviceAvailable(t, 'Mosquitto', 1883));

describePubSubConformance({
  name: 'pubsub.mqtt3',
  durable: true,
  create: () => createFromRegistry(),
  restartBroker: () => restartBroker('mosquitto'),
  skip: skipWithoutMosquitto,
});

test('pubsub.mqtt3 metadata', async (t) => {
  const meta = (properties: Record<string, string>) => ({ name: 'm', type: 'pubsub.mqtt3', version: 'v1', properties });

  await t.test("daprd's names and defaults, names matched ignoring case", () => {
    const settings = parseSettings(meta({ URL: 'tcp://us%40er:p%3Ass@broker.example:1884', consumerid: 'orders' }));
    assert.equal(settings.brokerUrl, 'mqtt://broker.example:1884');
    assert.equal(settings.username, 'us@er');
    assert.equal(settings.password, 'p:ss');
    assert.equal(settings.consumerId, 'orders');
    assert.deepEqual([settings.qos, settings.retain, settings.cleanSession], [1, false, false]);
    assert.deepEqual(settings.tls, {});
    const tls = parseSettings(meta({ url: 'ssl://broker.example', qos: '0', retain: 'true', cleanSession: 'yes' }));
    assert.equal(tls.brokerUrl, 'mqtts://broker.example:8883');
    assert.equal(tls.username, undefined);
    assert.deepEqual([tls.qos, tls.retain, tls.cleanSession], [0, true, true]);
  });

  await t.test('a bad value stops start-up, naming the field and never the credentials', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ url: '' }, /"url" is required/],
      [{ url: 'broker:1883' }, /"url" must start with tcp:\/\/ or ssl:\/\//],
      [{ url: 'ws://user:s3cret@broker:80' }, /"url" must start with tcp:\/\/ .*got scheme "ws:"/],
      [{ url: 'tcp://' }, /"url" has no host/],
      [{ url: 'tcp://user:s3cret@[bad' }, /"url" is not a valid URL/],
      [{ qos: '2' }, /"qos" must be 0 or 1 \(QoS 2 is not supported\)/],
      [{ qos: 'high' }, /"qos" must be an integer/],
      [{ qos: '-1' }, /"qos" must be an integer >= 0/],
      [{ retain: 'sometimes' }, /"retain" must be a boolean/],
      [{ cleanSession: 'maybe' }, /"cleanSession" must be a boolean/],
      [{ clientCert: '-----BEGIN CERTIFICATE-----' }, /"clientCert" and "clientKey" must be set together/],
      [{ caCert: 'not a certificate' }, /"caCert" is not a valid PEM certificate/],
    ];
    for (const [metadata, reason] of cases) {
      await assert.rejects(createFromRegistry(metadata), (err: Error) => {
        assert.match(err.message, reason);
        assert.match(err.message, /mqtt3\.yaml/);
        assert.doesNotMatch(err.message, /s3cret/);
        return true;
      });
    }
  });

  await t.test('an unreachable broker stops start-up', async () => {
    await assert.rejects(createFromRegistry({ url: 'tcp://127.0.0.1:1' }), /cannot connect to the MQTT broker at 127\.0\.0\.1:1/);
  });
});

test('pubsub.mqtt3 close() ends a publish and a subscribe the broker never answers', async (t) => {
  // A broker that accepts every connection and then acknowledges nothing: a fault Mosquitto does not produce.
  const sockets = new Set<Socket>();
  const silentBroker = createServer((socket) => {
    sockets.add(socket);
    socket.once('data', () => socket.write(CONNACK_ACCEPTED));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silentBroker.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silentBroker.close(resolve));
  });
  const { port } = silentBroker.address() as AddressInfo;
  const pubsub = await createFromRegistry({ url: `tcp://127.0.0.1:${port}` });
  const publishing = assert.rejects(
    pubsub.publish({ topic: 'unanswered', data: encoder.encode('x'), metadata: {} }),
    /publishing to "unanswered": publisher of pubsub\.mqtt3 is closed/,
  );
  const subscribing = assert.rejects(
    pubsub.subscribe({ topic: 'unanswered', metadata: {}, consumerId: name('unanswered'), maxInFlight: 1 }, async () => undefined),
    /subscribing to "unanswered": consumer "[^"]+" of pubsub\.mqtt3 is closed/,
  );
  await sleep(200);
  const started = Date.now();
  await pubsub.close();
  assert.ok(Date.now() - started < 1000, `close() took ${Date.now() - started} ms`);
  await publishing;
  await subscribing;
});

/** What a subscription received, in order; `decide` chooses each message's fate (default: acknowledge). */
class Inbox {
  readonly messages: Message[] = [];
  readonly calls: string[] = [];

  constructor(private readonly decide: (body: string) => Promise<void> = async () => undefined) {}

  readonly handler = async (message: Message): Promise<void> => {
    const body = decoder.decode(message.data);
    this.calls.push(body);
    await this.decide(body);
    this.messages.push(message);
  };

  texts(): string[] {
    return this.messages.map((m) => decoder.decode(m.data));
  }
}

test('pubsub.mqtt3 against Mosquitto', { timeout: 90_000 }, async (t) => {
  if (await skipWithoutMosquitto(t)) return;
  const open: PubSub[] = [];
  const subscriptions: Subscription[] = [];
  t.after(async () => {
    for (const subscription of subscriptions) await subscription.close().catch(() => undefined);
    for (const pubsub of open) await pubsub.close().catch(() => undefined);
  });
  const create = async (metadata: Record<string, string> = {}): Promise<PubSub> => {
    const pubsub = await createFromRegistry(metadata);
    open.push(pubsub);
    return pubsub;
  };
  const subscribe = async (pubsub: PubSub, req: Partial<SubscribeRequest> & { topic: string }, inbox: Inbox): Promise<Subscription> => {
    const subscription = await pubsub.subscribe({ metadata: {}, consumerId: name('consumer'), maxInFlight: 8, ...req }, inbox.handler);
    subscriptions.push(subscription);
    return subscription;
  };
  const publish = (pubsub: PubSub, topic: string, body: string, metadata: Record<string, string> = {}): Promise<void> =>
    pubsub.publish({ topic, data: encoder.encode(body), metadata });
  const pubsub = await create();

  await t.test('wildcard and shared subscriptions receive messages under their real topic', async () => {
    assert.deepEqual(pubsub.features(), [PubSubFeature.SUBSCRIBE_WILDCARDS]);
    const oneLevel = new Inbox();
    const allBelow = new Inbox();
    const shared = new Inbox();
    await subscribe(pubsub, { topic: `${name('wild')}/+/created`, consumerId: name('wild-plus') }, oneLevel);
    await subscribe(pubsub, { topic: `${name('wild')}/#`, consumerId: name('wild-hash') }, allBelow);
    await subscribe(pubsub, { topic: `$share/group/${name('wild')}/orders/created`, consumerId: name('wild-shared') }, shared);
    await publish(pubsub, `${name('wild')}/orders/created`, 'a');
    await publish(pubsub, `${name('wild')}/orders/deleted`, 'b');
    await publish(pubsub, `${name('wild')}/orders/created/late`, 'c');
    await eventually(10_000, async () => {
      assert.deepEqual(oneLevel.texts(), ['a']);
      assert.deepEqual(allBelow.texts().sort(), ['a', 'b', 'c']);
      assert.deepEqual(shared.texts(), ['a']);
    });
    assert.equal(oneLevel.messages[0]!.topic, `${name('wild')}/orders/created`);
    assert.equal(shared.messages[0]!.topic, `${name('wild')}/orders/created`);
  });

  await t.test('retain: the request overrides the component, and the subscriber learns "retained"', async () => {
    const topic = name('retained');
    await publish(pubsub, topic, 'kept', { retain: 'true' });
    await assert.rejects(publish(pubsub, topic, 'x', { retain: 'sometimes' }), /"retain" must be a boolean/);
    const inbox = new Inbox();
    await subscribe(pubsub, { topic, consumerId: name('retained') }, inbox);
    await publish(pubsub, topic, 'live');
    await eventually(10_000, async () => assert.deepEqual(inbox.texts(), ['kept', 'live']));
    assert.deepEqual(inbox.messages.map((m) => m.metadata), [{ retained: 'true' }, { retained: 'false' }]);
    // An empty retained message removes the broker's copy.
    await pubsub.publish({ topic, data: new Uint8Array(0), metadata: { retain: 'true' } });
    const retaining = await create({ retain: 'true' });
    const later = name('retained-by-default');
    await publish(retaining, later, 'kept by default');
    const lateInbox = new Inbox();
    await subscribe(pubsub, { topic: later, consumerId: name('retained-late') }, lateInbox);
    await eventually(10_000, async () => assert.deepEqual(lateInbox.texts(), ['kept by default']));
    await retaining.publish({ topic: later, data: new Uint8Array(0), metadata: {} });
  });

  await t.test('publish refuses topic names MQTT forbids, and the connection survives', async () => {
    for (const topic of ['', 'a/+/b', 'a/#']) await assert.rejects(publish(pubsub, topic, 'x'), /not a valid MQTT topic name/);
    const topic = name('valid');
    const inbox = new Inbox();
    await subscribe(pubsub, { topic, consumerId: name('valid') }, inbox);
    await publish(pubsub, topic, 'fine');
    await eventually(10_000, async () => assert.deepEqual(inbox.texts(), ['fine']));
  });

  await t.test('subscribe refuses an empty consumer id, a topic its consumer already has, an invalid filter', async () => {
    const topic = name('twice');
    await assert.rejects(subscribe(pubsub, { topic, consumerId: '' }, new Inbox()), /a consumer id is required/);
    await subscribe(pubsub, { topic, consumerId: name('twice') }, new Inbox());
    await assert.rejects(subscribe(pubsub, { topic, consumerId: name('twice') }, new Inbox()), /already subscribed with consumer id/);
    await assert.rejects(subscribe(pubsub, { topic: `${topic}/#/late`, consumerId: name('twice') }, new Inbox()), /Invalid topic/);
  });

  await t.test('at QoS 0 a rejected message is still retried by the component', async () => {
    const qos0 = await create({ qos: '0' });
    const topic = name('qos0');
    let attempts = 0;
    const inbox = new Inbox(async () => {
      if (++attempts < 2) throw new Error('not yet');
    });
    await subscribe(qos0, { topic, consumerId: name('qos0') }, inbox);
    await publish(qos0, topic, 'once');
    await eventually(10_000, async () => assert.deepEqual(inbox.texts(), ['once']));
    assert.equal(attempts, 2);
  });

  await t.test("a topic's messages that arrive before its subscription wait for it", async () => {
    const consumerId = name('startup');
    const [first, second] = [name('startup-a'), name('startup-b')];
    const before = await create();
    await subscribe(before, { topic: first, consumerId }, new Inbox());
    await subscribe(before, { topic: second, consumerId }, new Inbox());
    await before.close();
    await publish(pubsub, first, 'for a');
    await publish(pubsub, second, 'for b');
    // The resumed session sends both topics' messages as soon as the connection is up, before `second` is subscribed.
    const restarted = await create();
    const inboxA = new Inbox();
    const inboxB = new Inbox();
    await subscribe(restarted, { topic: first, consumerId }, inboxA);
    await eventually(10_000, async () => assert.deepEqual(inboxA.texts(), ['for a']));
    await sleep(200);
    await subscribe(restarted, { topic: second, consumerId }, inboxB);
    await eventually(10_000, async () => assert.deepEqual(inboxB.texts(), ['for b']));
  });

  await t.test("a closed subscription's unfinished messages go to the next subscription of its consumer", async () => {
    const consumerId = name('handover');
    const topic = name('handover');
    let fail!: () => void;
    const failing = new Promise<void>((_, reject) => (fail = () => reject(new Error('app gone'))));
    const first = new Inbox((body) => (body === 'in-handler' ? failing : Promise.resolve()));
    // A sibling keeps the consumer's connection open when the first subscription closes.
    await subscribe(pubsub, { topic: name('handover-sibling'), consumerId }, new Inbox());
    const subscription = await subscribe(pubsub, { topic, consumerId, maxInFlight: 1 }, first);
    await publish(pubsub, topic, 'in-handler');
    await publish(pubsub, topic, 'waiting');
    await eventually(10_000, async () => assert.deepEqual(first.calls, ['in-handler']));
    await subscription.close();
    fail();
    const next = new Inbox();
    await subscribe(pubsub, { topic, consumerId }, next);
    await eventually(10_000, async () => assert.deepEqual(next.texts().sort(), ['in-handler', 'waiting']));
    assert.deepEqual(first.texts(), []);
  });

  /** What a consumer gets after being away while `missed` was published, once `marker` (published after) arrives. */
  const receivedAfterAway = async (component: Record<string, string>, subscriptionMetadata: Record<string, string>, what: string): Promise<string[]> => {
    const topic = name(what);
    const consumerId = name(what);
    const away = await create(component);
    const subscription = await subscribe(away, { topic, consumerId, metadata: subscriptionMetadata }, new Inbox());
    await subscription.close();
    await away.close();
    await publish(pubsub, topic, 'missed');
    const inbox = new Inbox();
    await subscribe(await create(component), { topic, consumerId, metadata: subscriptionMetadata }, inbox);
    await publish(pubsub, topic, 'marker');
    // One topic keeps its order: had `missed` been kept, it would come first.
    await eventually(10_000, async () => assert.ok(inbox.texts().includes('marker')));
    return inbox.texts();
  };

  await t.test('unsubscribeOnClose makes the broker forget the subscription', async () => {
    assert.deepEqual(await receivedAfterAway({}, { unsubscribeOnClose: 'true' }, 'unsubscribed'), ['marker']);
  });

  await t.test('cleanSession: true keeps nothing while the consumer is away', async () => {
    assert.deepEqual(await receivedAfterAway({ cleanSession: 'true' }, {}, 'clean'), ['marker']);
  });

  await t.test('after a dropped connection: publish fails fast, the session resumes, nothing is lost', async () => {
    const relay = await TcpRelay.reserve(1883);
    await relay.start();
    t.after(() => relay.stop());
    const relayed = await create({ url: `tcp://127.0.0.1:${relay.port}` });
    const topic = name('drop');
    const probeTopic = name('drop-probe');
    const consumerId = name('drop');
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let heldOnce = false;
    const inbox = new Inbox(async (body) => {
      if (body === 'held' && !heldOnce) {
        heldOnce = true;
        await released;
      }
    });
    const probe = new Inbox();
    await subscribe(relayed, { topic, consumerId, maxInFlight: 1 }, inbox);
    await subscribe(relayed, { topic: probeTopic, consumerId }, probe);
    for (const body of ['before', 'held', 'waiting']) await publish(pubsub, topic, body);
    await eventually(10_000, async () => assert.deepEqual(inbox.calls, ['before', 'held']));

    await relay.stop();
    await sleep(300);
    await assert.rejects(publish(relayed, topic, 'refused'), /not connected to the MQTT broker at 127\.0\.0\.1:\d+ \(reconnecting\)/);
    await publish(pubsub, topic, 'while-down');
    await relay.start();
    // The broker sends what the session held before anything new: once the probe is in, so are those.
    await publish(pubsub, probeTopic, 'probe');
    await eventually(15_000, async () => assert.deepEqual(probe.texts(), ['probe']));
    // Handled now, on a connection that is gone: the broker already sent it again, so that copy is the one acknowledged.
    release();
    await eventually(10_000, async () => assert.deepEqual(inbox.calls, ['before', 'held', 'held', 'waiting', 'while-down']));
    await eventually(10_000, () => publish(relayed, topic, 'after'));
    await eventually(10_000, async () => assert.deepEqual(inbox.texts().slice(-1), ['after']));
  });

  await t.test('after close, publish and subscribe are refused', async () => {
    const closed = await create();
    await closed.close();
    await assert.rejects(publish(closed, name('closed'), 'x'), /pubsub\.mqtt3 is closed/);
    await assert.rejects(subscribe(closed, { topic: name('closed') }, new Inbox()), /pubsub\.mqtt3 is closed/);
  });
});

describeSidecarPubSubConformance({
  type: 'pubsub.mqtt3',
  metadata: () => ({ url: BROKER_URL }),
  durable: true,
  broker: 'mosquitto',
  skip: skipWithoutMosquitto,
});
