// bindings.rabbitmq: what every broker binding shows runs from support/broker-binding-conformance.ts; here, what is
// its own: metadata checks, the queue's declaration, message properties from request metadata, prefetchCount.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { connect, type Channel } from 'amqplib';
import '../components/bindings/rabbitmq/rabbitmq.js';
import {
  BindingsUnderTest,
  create,
  describeBrokerBindingConformance,
  expectInFlightBound,
  type BrokerBindingTarget,
} from './support/broker-binding-conformance.js';
import { closeHttpAgent } from './support/http.js';
import { serviceAvailable } from './support/services.js';

const BROKER_URL = 'amqp://guest:guest@127.0.0.1:5672';
/** Short, so that reconnections in these tests take a fraction of a second. */
const RECONNECT_WAIT = '200ms';
const run = randomBytes(4).toString('hex');
const name = (what: string): string => `bindings-rabbitmq-${run}-${what}`;

/** Every queue the tests had the broker create, deleted once the file is done. */
const queues = new Set<string>();

after(async () => {
  closeHttpAgent();
  if (queues.size === 0) return;
  const admin = await connect(BROKER_URL);
  try {
    const channel = await admin.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue);
  } finally {
    await admin.close();
  }
});

/** A connection of the test's own, to look at the broker's side; the broker closes its channel on a failed check. */
async function inspect<T>(look: (channel: Channel) => Promise<T>): Promise<T> {
  const admin = await connect(BROKER_URL);
  try {
    const channel = await admin.createChannel();
    channel.on('error', () => undefined);
    return await look(channel);
  } finally {
    await admin.close().catch(() => undefined);
  }
}

const rabbitmq: BrokerBindingTarget = {
  type: 'bindings.rabbitmq',
  metadata: (queueName) => {
    queues.add(queueName);
    return { host: BROKER_URL, queueName, reconnectWaitInSeconds: RECONNECT_WAIT };
  },
  // A queue that is not durable is gone once the broker restarts.
  durable: { durable: 'true' },
  broker: 'rabbitmq',
  notConnected: /not connected to RabbitMQ/,
  // String headers arrive as metadata, escaped as daprd does.
  eventMetadata: () => ({ sent: { note: 'a b/c' }, received: { note: 'a+b%2Fc' } }),
  waiting: async (queueName) => (await inspect((channel) => channel.checkQueue(queueName))).messageCount,
  skip: async (t) => !(await serviceAvailable(t, 'RabbitMQ', 5672)),
};

describeBrokerBindingConformance(rabbitmq);

test('bindings.rabbitmq metadata', async (t) => {
  const bindings = new BindingsUnderTest(t, rabbitmq.type);
  const defaults = rabbitmq.metadata(name('metadata'));
  const open = (metadata: Record<string, string>) => bindings.open({ ...defaults, ...metadata });

  await t.test('a bad or missing value stops start-up, naming the field and never the credentials', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ queueName: '' }, /"queueName" is required/],
      [{ host: '' }, /"host" is required/],
      [{ host: 'user:s3cret@broker' }, /"host" must start with amqp:\/\/ or amqps:\/\//],
      [{ host: 'amqp://user:s3cret@[bad' }, /"host" is not a URL/],
      [{ durable: 'sometimes' }, /"durable" must be a boolean/],
      [{ exclusive: 'maybe' }, /"exclusive" must be a boolean/],
      [{ deleteWhenUnused: 'later' }, /"deleteWhenUnused" must be a boolean/],
      [{ prefetchCount: '-1' }, /"prefetchCount" must be an integer >= 0/],
      [{ prefetchCount: '70000' }, /"prefetchCount" must be at most 65535/],
      [{ maxPriority: '0' }, /"maxPriority" must be an integer >= 1/],
      [{ maxPriority: '256' }, /"maxPriority" must be between 1 and 255/],
      [{ ttlInSeconds: 'soon' }, /"ttlInSeconds" must be a number of seconds/],
      [{ ttlInSeconds: '0' }, /"ttlInSeconds" must be positive/],
      [{ reconnectWaitInSeconds: 'often' }, /"reconnectWaitInSeconds" must be a duration/],
      [{ reconnectWaitInSeconds: '', reconnectWait: '-1' }, /"reconnectWait" must be a duration/],
      [{ caCert: '-----BEGIN CERTIFICATE-----' }, /"caCert" is not supported/],
      [{ externalSasl: 'true' }, /"externalSasl" is not supported/],
    ];
    for (const [metadata, reason] of cases) await bindings.expectOpenFails({ ...defaults, ...metadata }, reason, 's3cret');
  });

  await t.test('bad request metadata fails the create, naming the field', async (t) => {
    if (await rabbitmq.skip(t)) return;
    const binding = await open({});
    await assert.rejects(create(binding, 'x', { ttlInSeconds: 'soon' }), /"ttlInSeconds" must be a number of seconds/);
    await assert.rejects(create(binding, 'x', { priority: 'high' }), /"priority" must be an integer >= 0/);
    await assert.rejects(create(binding, 'x', { priority: '256' }), /"priority" must be between 0 and 255/);
  });

  await t.test('a refused login stops start-up', async (t) => {
    if (await rabbitmq.skip(t)) return;
    await assert.rejects(open({ host: 'amqp://guest:wrong@127.0.0.1:5672' }), /refused the connection/);
  });

  await t.test('an unreachable broker does not stop start-up; create fails until it is reachable', async () => {
    const binding = await open({ queueName: 'never-declared', host: 'amqp://127.0.0.1:1' });
    await assert.rejects(create(binding, 'x'), /not connected to RabbitMQ at amqp:\/\/127\.0\.0\.1:1/);
  });
});

test('bindings.rabbitmq queues and message properties', { timeout: 60_000 }, async (t) => {
  if (await rabbitmq.skip(t)) return;
  const bindings = new BindingsUnderTest(t, rabbitmq.type);

  await t.test('the queue is declared with the metadata at start-up', async () => {
    const queueName = name('declared');
    await bindings.open({ ...rabbitmq.metadata(queueName), durable: 'true', maxPriority: '5', ttlInSeconds: '60' });
    // Declaring it again with the same properties succeeds; with others the broker refuses.
    const expected = { durable: true, arguments: { 'x-max-priority': 5, 'x-message-ttl': 60_000 } };
    await inspect((channel) => channel.assertQueue(queueName, expected));
    await assert.rejects(
      inspect((channel) => channel.assertQueue(queueName, { ...expected, arguments: { 'x-max-priority': 5 } })),
      /PRECONDITION_FAILED/,
    );
    // A binding declaring the same queue otherwise fails to start, saying why.
    await assert.rejects(bindings.open({ ...rabbitmq.metadata(queueName), durable: 'false' }), /declaring queue ".*declared".*PRECONDITION_FAILED/);
  });

  await t.test('request metadata sets the expiration, priority, content type and headers of the message', async () => {
    const queueName = name('properties');
    const binding = await bindings.open({ ...rabbitmq.metadata(queueName), maxPriority: '9', contentType: 'application/json' });
    await create(binding, '{}', { ttlInSeconds: '30', priority: '7', contentType: 'text/csv', custom: 'value' });
    await create(binding, '{}');
    const [first, second] = await inspect(async (channel) => [await channel.get(queueName, { noAck: true }), await channel.get(queueName, { noAck: true })]);
    assert.ok(first && second);
    assert.equal(first.properties.expiration, '30000');
    assert.equal(first.properties.priority, 7);
    assert.equal(first.properties.contentType, 'text/csv');
    assert.equal(first.properties.deliveryMode, 2);
    assert.deepEqual(first.properties.headers, { ttlInSeconds: '30', priority: '7', contentType: 'text/csv', custom: 'value' });
    assert.equal(second.properties.expiration, undefined);
    assert.equal(second.properties.contentType, 'application/json');
  });

  await t.test('a prefetchCount smaller than maxInFlight bounds the pending handler calls further', async () => {
    const binding = await bindings.open({ ...rabbitmq.metadata(name('prefetch')), prefetchCount: '2' });
    await expectInFlightBound(bindings, binding, 5, 2);
  });
});
