// The behaviour every pub/sub component must show through its own interface, in the spirit of components-contrib's
// pubsub conformance tests. The same guarantees seen through a running sidecar are in pubsub-sidecar-conformance.ts.

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Message, PubSub, SubscribeRequest, Subscription } from '../../components/pubsub/pubsub.js';
import { eventually } from './eventually.js';

export interface PubSubConformanceTarget {
  /** The component type, e.g. `pubsub.redis`. */
  name: string;
  /** A new instance over the same broker; configured to redeliver a rejected message within about a second. */
  create(): Promise<PubSub>;
  /** Whether messages for a consumer survive while it is away (durable queues, consumer groups, persistent sessions). */
  durable: boolean;
  /** Stops and starts the real broker; when given, the suite checks the component reconnects on its own. */
  restartBroker?(): Promise<void>;
  /** Resolves true to skip the whole suite (e.g. the broker is unreachable); may call t.skip(). */
  skip?(t: TestContext): Promise<boolean>;
}

const CASE_TIMEOUT_MS = 60_000;
const DELIVERY_LIMIT_MS = 20_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (data: Uint8Array): string => decoder.decode(data);

/** Collects what a subscription received; `decide` chooses each message's fate (default: acknowledge). */
export class Receiver {
  readonly received: Message[] = [];
  /** Handler calls, rejected ones included. */
  attempts = 0;
  inFlight = 0;
  maxInFlightSeen = 0;

  constructor(private readonly decide: (message: Message) => Promise<void> = async () => undefined) {}

  readonly handler = async (message: Message): Promise<void> => {
    this.attempts++;
    this.inFlight++;
    this.maxInFlightSeen = Math.max(this.maxInFlightSeen, this.inFlight);
    try {
      await this.decide(message);
      this.received.push(message);
    } finally {
      this.inFlight--;
    }
  };

  texts(): string[] {
    return this.received.map((m) => text(m.data));
  }
}

export function describePubSubConformance(target: PubSubConformanceTarget): void {
  test(`${target.name} conformance`, { timeout: 15 * CASE_TIMEOUT_MS }, async (t) => {
    if ((await target.skip?.(t)) === true) return;
    const run = randomBytes(4).toString('hex');
    const topicOf = (name: string): string => `conf-${run}-${name}`;
    const open: PubSub[] = [];
    const subscriptions: Subscription[] = [];
    const create = async (): Promise<PubSub> => {
      const pubsub = await target.create();
      open.push(pubsub);
      return pubsub;
    };
    const subscribe = async (pubsub: PubSub, req: Partial<SubscribeRequest> & { topic: string }, receiver: Receiver): Promise<Subscription> => {
      const subscription = await pubsub.subscribe({ metadata: {}, consumerId: `conf-${run}`, maxInFlight: 16, ...req }, receiver.handler);
      subscriptions.push(subscription);
      return subscription;
    };
    const publish = (pubsub: PubSub, topic: string, body: string | Uint8Array, contentType?: string): Promise<void> =>
      pubsub.publish({
        topic,
        data: typeof body === 'string' ? encoder.encode(body) : body,
        metadata: {},
        ...(contentType === undefined ? {} : { contentType }),
      });
    t.after(async () => {
      for (const subscription of subscriptions) await subscription.close().catch(() => undefined);
      for (const pubsub of open) await pubsub.close().catch(() => undefined);
    });

    const pubsub = await create();

    await t.test('delivers JSON, text and binary payloads byte for byte', { timeout: CASE_TIMEOUT_MS }, async () => {
      const topic = topicOf('payloads');
      const receiver = new Receiver();
      await subscribe(pubsub, { topic }, receiver);
      const binary = new Uint8Array(256).map((_, i) => i);
      await publish(pubsub, topic, '{"order":1,"name":"ünïcødé"}', 'application/json');
      await publish(pubsub, topic, 'plain text', 'text/plain');
      await publish(pubsub, topic, binary, 'application/octet-stream');
      await eventually(DELIVERY_LIMIT_MS, async () => assert.equal(receiver.received.length, 3));
      const byFirstByte = new Map(receiver.received.map((m) => [m.data[0], m]));
      assert.equal(text(byFirstByte.get(0x7b)!.data), '{"order":1,"name":"ünïcødé"}');
      assert.equal(text(byFirstByte.get(0x70)!.data), 'plain text');
      assert.deepEqual([...byFirstByte.get(0)!.data], [...binary]);
      for (const message of receiver.received) assert.equal(message.topic, topic);
    });

    await t.test('each consumer id gets its own copy of every message', { timeout: CASE_TIMEOUT_MS }, async () => {
      const topic = topicOf('fanout');
      const first = new Receiver();
      const second = new Receiver();
      await subscribe(pubsub, { topic, consumerId: `conf-${run}-a` }, first);
      await subscribe(pubsub, { topic, consumerId: `conf-${run}-b` }, second);
      for (let i = 0; i < 5; i++) await publish(pubsub, topic, `m${i}`);
      await eventually(DELIVERY_LIMIT_MS, async () => {
        assert.deepEqual(first.texts().sort(), ['m0', 'm1', 'm2', 'm3', 'm4']);
        assert.deepEqual(second.texts().sort(), ['m0', 'm1', 'm2', 'm3', 'm4']);
      });
    });

    await t.test('keeps publish order with one message in flight', { timeout: CASE_TIMEOUT_MS }, async () => {
      const topic = topicOf('order');
      const receiver = new Receiver(() => sleep(Math.random() * 3));
      await subscribe(pubsub, { topic, maxInFlight: 1 }, receiver);
      const expected = Array.from({ length: 50 }, (_, i) => `o${i}`);
      for (const body of expected) await publish(pubsub, topic, body);
      await eventually(DELIVERY_LIMIT_MS, async () => assert.deepEqual(receiver.texts(), expected));
    });

    await t.test('never has more handler calls pending than maxInFlight', { timeout: CASE_TIMEOUT_MS }, async () => {
      const topic = topicOf('inflight');
      const receiver = new Receiver(() => sleep(30));
      await subscribe(pubsub, { topic, maxInFlight: 3 }, receiver);
      await Promise.all(Array.from({ length: 24 }, (_, i) => publish(pubsub, topic, `f${i}`)));
      await eventually(DELIVERY_LIMIT_MS, async () => assert.equal(new Set(receiver.texts()).size, 24));
      assert.ok(receiver.maxInFlightSeen <= 3, `saw ${receiver.maxInFlightSeen} handler calls at once`);
    });

    await t.test('redelivers a rejected message until it is acknowledged', { timeout: CASE_TIMEOUT_MS }, async () => {
      const topic = topicOf('redeliver');
      let attempts = 0;
      const receiver = new Receiver(async () => {
        attempts++;
        if (attempts < 3) throw new Error('not yet');
      });
      await subscribe(pubsub, { topic }, receiver);
      await publish(pubsub, topic, 'again');
      await eventually(30_000, async () => assert.deepEqual(receiver.texts(), ['again']));
      assert.equal(attempts, 3);
    });

    await t.test('1000 messages with 30% rejected are all delivered', { timeout: 3 * CASE_TIMEOUT_MS }, async () => {
      const topic = topicOf('flaky');
      const receiver = new Receiver(async () => {
        if (Math.random() < 0.3) throw new Error('flaky app');
      });
      await subscribe(pubsub, { topic, maxInFlight: 32 }, receiver);
      const expected = Array.from({ length: 1000 }, (_, i) => `n${i}`);
      for (let i = 0; i < expected.length; i += 50) await Promise.all(expected.slice(i, i + 50).map((body) => publish(pubsub, topic, body)));
      await eventually(120_000, async () => assert.equal(new Set(receiver.texts()).size, 1000));
    });

    if (target.durable) {
      await t.test('keeps messages for a consumer that is away and hands them over when it is back', { timeout: CASE_TIMEOUT_MS }, async () => {
        const topic = topicOf('away');
        const consumerId = `conf-${run}-away`;
        const subscriber = await create();
        const before = new Receiver();
        const subscription = await subscribe(subscriber, { topic, consumerId }, before);
        await publish(pubsub, topic, 'while-here');
        await eventually(DELIVERY_LIMIT_MS, async () => assert.deepEqual(before.texts(), ['while-here']));
        await subscription.close();
        await subscriber.close();
        for (let i = 0; i < 10; i++) await publish(pubsub, topic, `away${i}`);
        const after = new Receiver();
        await subscribe(await create(), { topic, consumerId }, after);
        await eventually(DELIVERY_LIMIT_MS, async () => assert.deepEqual(new Set(after.texts()), new Set(Array.from({ length: 10 }, (_, i) => `away${i}`))));
      });

      await t.test('redelivers a message its subscriber died holding', { timeout: CASE_TIMEOUT_MS }, async () => {
        const topic = topicOf('died');
        const consumerId = `conf-${run}-died`;
        const subscriber = await create();
        const stuck = new Receiver(() => new Promise<void>(() => undefined));
        await subscribe(subscriber, { topic, consumerId }, stuck);
        await publish(pubsub, topic, 'held');
        await eventually(DELIVERY_LIMIT_MS, async () => assert.equal(stuck.inFlight, 1));
        await subscriber.close();
        const successor = new Receiver();
        await subscribe(await create(), { topic, consumerId }, successor);
        await eventually(30_000, async () => assert.ok(successor.texts().includes('held')));
      });
    }

    if (target.restartBroker !== undefined) {
      const restartBroker = target.restartBroker;
      await t.test('reconnects on its own after the broker restarts', { timeout: 3 * CASE_TIMEOUT_MS }, async () => {
        const topic = topicOf('restart');
        const receiver = new Receiver();
        await subscribe(pubsub, { topic }, receiver);
        await publish(pubsub, topic, 'before');
        await eventually(DELIVERY_LIMIT_MS, async () => assert.ok(receiver.texts().includes('before')));
        await restartBroker();
        // Publishing may fail while the client reconnects; what was accepted must arrive.
        const accepted: string[] = [];
        const deadline = Date.now() + 60_000;
        for (let i = 0; accepted.length < 5 && Date.now() < deadline; i++) {
          const body = `after-${i}-${randomUUID()}`;
          try {
            await publish(pubsub, topic, body);
            accepted.push(body);
          } catch {
            await sleep(250);
          }
        }
        assert.equal(accepted.length, 5, 'publishing never recovered after the broker restart');
        await eventually(60_000, async () => {
          for (const body of accepted) assert.ok(receiver.texts().includes(body), `${body} not received`);
        });
      });
    }
  });
}
