// bindings.mqtt3: what every broker binding shows runs from support/broker-binding-conformance.ts; here, what is
// its own: metadata checks, request metadata `topic` and `retain`, wildcard topics.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { connectAsync } from 'mqtt';
import '../components/bindings/mqtt3.js';
import {
  BindingsUnderTest,
  create,
  DELIVERY_LIMIT_MS,
  describeBrokerBindingConformance,
  type BrokerBindingTarget,
} from './support/broker-binding-conformance.js';
import { eventually } from './support/eventually.js';
import { closeHttpAgent } from './support/http.js';
import { Receiver } from './support/pubsub-conformance.js';
import { serviceAvailable } from './support/services.js';

const BROKER_URL = 'tcp://127.0.0.1:1883';
const decoder = new TextDecoder();
const run = randomBytes(4).toString('hex');
const name = (what: string): string => `bindings-mqtt3-${run}-${what}`;

/** Client ids the tests read with: their persistent sessions are removed at the end. */
const consumerIds = new Set<string>();

after(async () => {
  closeHttpAgent();
  for (const clientId of consumerIds) {
    const client = await connectAsync(BROKER_URL, { clientId, clean: true, protocolVersion: 4, reconnectPeriod: 0 }).catch(() => undefined);
    await client?.endAsync();
  }
});

const mqtt3: BrokerBindingTarget = {
  type: 'bindings.mqtt3',
  // Each case's topic, unique per run, doubles as the client id it reads with.
  metadata: (topic) => {
    consumerIds.add(topic);
    return { url: BROKER_URL, topic, consumerID: topic };
  },
  broker: 'mosquitto',
  notConnected: /not connected to the MQTT broker/,
  // MQTT 3.1.1 messages carry no headers: an event's metadata is the topic it was published to.
  eventMetadata: (topic) => ({ sent: {}, received: { topic } }),
  skip: async (t) => !(await serviceAvailable(t, 'Mosquitto', 1883)),
};

describeBrokerBindingConformance(mqtt3);

test('bindings.mqtt3 metadata', async (t) => {
  const bindings = new BindingsUnderTest(t, mqtt3.type);
  const defaults = mqtt3.metadata(name('consumer'));

  await t.test('a bad or missing value stops start-up, naming the field and never the credentials', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ topic: '' }, /"topic" is required/],
      [{ consumerID: '' }, /"consumerID" is required/],
      [{ backOffMaxRetries: 'often' }, /"backOffMaxRetries" must be an integer >= -1/],
      [{ backOffMaxRetries: '-2' }, /"backOffMaxRetries" must be an integer >= -1/],
      [{ url: '' }, /"url" is required/],
      [{ url: 'ws://user:s3cret@broker:80' }, /"url" must start with tcp:\/\//],
      [{ qos: '2' }, /"qos" must be 0 or 1/],
      [{ retain: 'sometimes' }, /"retain" must be a boolean/],
      [{ cleanSession: 'maybe' }, /"cleanSession" must be a boolean/],
      [{ caCert: 'not a certificate' }, /"caCert" is not a valid PEM certificate/],
    ];
    for (const [metadata, reason] of cases) await bindings.expectOpenFails({ ...defaults, ...metadata }, reason, 's3cret');
  });

  await t.test('an unreachable broker stops start-up', async () => {
    await assert.rejects(bindings.open({ ...defaults, url: 'tcp://127.0.0.1:1' }), /cannot connect to the MQTT broker at 127\.0\.0\.1:1/);
  });
});

test('bindings.mqtt3 topics', { timeout: 60_000 }, async (t) => {
  if (await mqtt3.skip(t)) return;
  const bindings = new BindingsUnderTest(t, mqtt3.type);

  await t.test('request metadata topic and retain override the component', async () => {
    const base = name('override');
    const writer = await bindings.open({ ...mqtt3.metadata(name('override-writer')), topic: `${base}/default` });
    // Retained on the broker, so a reader that subscribes only afterwards still gets it.
    await create(writer, 'kept', { topic: `${base}/retained`, retain: 'true' });
    await assert.rejects(create(writer, 'x', { retain: 'sometimes' }), /"retain" must be a boolean/);
    const reader = await bindings.open({ ...mqtt3.metadata(name('override-reader')), topic: `${base}/retained` });
    const events = new Receiver();
    await bindings.read(reader, events);
    await eventually(DELIVERY_LIMIT_MS, async () => assert.deepEqual(events.texts(), ['kept']));
    // An empty retained message removes the broker's copy.
    await create(writer, new Uint8Array(0), { topic: `${base}/retained`, retain: 'true' });
  });

  await t.test('a wildcard topic reads every matching topic and names the real one; it cannot be written to', async () => {
    const base = name('wild');
    const binding = await bindings.open({ ...mqtt3.metadata(name('wild')), topic: `${base}/+/events` });
    const events = new Receiver();
    await bindings.read(binding, events);
    await assert.rejects(create(binding, 'nowhere'), /not a valid MQTT topic name/);
    await create(binding, 'a', { topic: `${base}/a/events` });
    await create(binding, 'b', { topic: `${base}/b/events` });
    await create(binding, 'other', { topic: `${base}/b/other` });
    await eventually(DELIVERY_LIMIT_MS, async () => assert.equal(events.received.length, 2));
    assert.deepEqual(
      events.received.map((event) => [decoder.decode(event.data), event.metadata['topic']]).sort(),
      [['a', `${base}/a/events`], ['b', `${base}/b/events`]],
    );
  });
});
