// What every binding over a message broker (bindings.mqtt3, bindings.rabbitmq) must show: `create` and reading as
// a round trip, redelivery of what the app failed, maxInFlight, and a real broker restart in the middle, both
// through the component's own interface and through a running sidecar. What holds for every binding through the
// sidecar (the probe, delivery to the app, retries after a 500) is in bindings-sidecar-conformance.ts; what is one
// binding's own (its metadata, topics or queues) stays in its bindings-<name>.test.ts.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, test, type TestContext } from 'node:test';
import type { Binding, Reading } from '../../components/bindings/bindings.js';
import { BindingApp } from './binding-app.js';
import { invokeBinding } from './bindings-client.js';
import { restartBroker, type Broker } from './brokers.js';
import { createComponent, type CreatedComponent } from './components.js';
import { eventually } from './eventually.js';
import { http } from './http.js';
import { Receiver } from './pubsub-conformance.js';
import { componentYaml } from './resources.js';
import { startSidecar, tempDir, type SidecarProcess } from './sidecar.js';

export interface BrokerBindingTarget {
  /** The component type, e.g. `bindings.mqtt3`. */
  type: string;
  /** Component metadata for a binding that creates on and reads from `channel` (a topic, a queue). */
  metadata(channel: string): Record<string, string>;
  /** What a channel further needs to outlive a broker restart, e.g. a durable queue. */
  durable?: Record<string, string>;
  /** The broker that carries the channels, as restartBroker names it. */
  broker: Broker;
  /** What `create` fails with while the broker is down. */
  notConnected: RegExp;
  /** Request metadata the tests create events with, and the metadata those events reach the reader with. */
  eventMetadata(channel: string): { sent: Record<string, string>; received: Record<string, string> };
  /** How many messages the broker keeps for `channel`'s next reader, where the test can ask it. */
  waiting?(channel: string): Promise<number>;
  /** Resolves true to skip (the broker is unreachable); may call t.skip(). */
  skip(t: TestContext): Promise<boolean>;
}

export const DELIVERY_LIMIT_MS = 15_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A `create` of `data`, a string as its UTF-8 bytes. */
export const create = (binding: Binding, data: string | Uint8Array, metadata: Record<string, string> = {}): Promise<unknown> =>
  binding.output!.invoke({ operation: 'create', data: typeof data === 'string' ? encoder.encode(data) : data, metadata });

/** Bindings of one type made the way the sidecar makes them, and their readings; all closed when the test ends. */
export class BindingsUnderTest {
  private readonly bindings: Binding[] = [];
  private readonly readings: Reading[] = [];

  constructor(
    t: TestContext,
    private readonly type: string,
  ) {
    t.after(() => this.close());
  }

  /** `mqtt3-binding` for `bindings.mqtt3`: errors name the resource file, `<name>.yaml`. */
  private get componentName(): string {
    return `${this.type.replace(/^bindings\./, '')}-binding`;
  }

  /** From a Component resource, through the registry. */
  async component(metadata: Record<string, string>): Promise<CreatedComponent<'bindings'>> {
    const created = await createComponent('bindings', this.type, metadata, { name: this.componentName, initTimeoutMs: 5000 });
    this.bindings.push(created.instance);
    return created;
  }

  async open(metadata: Record<string, string>): Promise<Binding> {
    return (await this.component(metadata)).instance;
  }

  /** Opening with `metadata` fails at start-up, the error naming `reason` and the component's file, never `secret`. */
  async expectOpenFails(metadata: Record<string, string>, reason: RegExp, secret: string): Promise<void> {
    await assert.rejects(this.open(metadata), (err: Error) => {
      assert.match(err.message, reason);
      assert.ok(err.message.includes(`${this.componentName}.yaml`), err.message);
      assert.ok(!err.message.includes(secret), err.message);
      return true;
    });
  }

  /** Hands the binding's events to a Receiver, which records them and decides their fate. */
  async read(binding: Binding, receiver: Receiver, maxInFlight = 8): Promise<Reading> {
    const reading = await binding.input!.read(
      async (event) => {
        await receiver.handler({ topic: '', ...event });
        return new Uint8Array(0);
      },
      { maxInFlight },
    );
    this.readings.push(reading);
    return reading;
  }

  private async close(): Promise<void> {
    for (const reading of this.readings) await reading.close().catch(() => undefined);
    for (const binding of this.bindings) await binding.close?.().catch(() => undefined);
  }
}

/** Creates ten events for a reading that holds each one until the test lets it go: never more than `bound` pending. */
export async function expectInFlightBound(bindings: BindingsUnderTest, binding: Binding, maxInFlight: number, bound: number): Promise<void> {
  const waiting: Array<() => void> = [];
  const events = new Receiver(() => new Promise<void>((resolve) => waiting.push(resolve)));
  await bindings.read(binding, events, maxInFlight);
  for (let i = 0; i < 10; i++) await create(binding, `m${i}`);
  await eventually(DELIVERY_LIMIT_MS, async () => assert.equal(events.inFlight, bound));
  // Each accepted event frees a slot for exactly one more.
  while (events.received.length < 10) {
    await eventually(DELIVERY_LIMIT_MS, async () => assert.ok(waiting.length > 0));
    waiting.shift()!();
    await eventually(DELIVERY_LIMIT_MS, async () => assert.equal(events.inFlight, Math.min(bound, 10 - events.received.length)));
  }
  assert.equal(events.maxInFlightSeen, bound);
  assert.deepEqual(events.texts().sort(), Array.from({ length: 10 }, (_, i) => `m${i}`).sort());
}

export function describeBrokerBindingConformance(target: BrokerBindingTarget): void {
  const run = randomBytes(4).toString('hex');
  const channelOf = (what: string): string => `${target.type.replace('.', '-')}-${run}-${what}`;

  test(`${target.type} against ${target.broker}`, { timeout: 180_000 }, async (t) => {
    if (await target.skip(t)) return;
    const bindings = new BindingsUnderTest(t, target.type);

    await t.test('both directions, operation create only', async () => {
      const { instance, info } = await bindings.component(target.metadata(channelOf('caps')));
      assert.deepEqual(info.capabilities, ['INPUT_BINDING', 'OUTPUT_BINDING']);
      assert.deepEqual(instance.output!.operations(), ['create']);
      await assert.rejects(instance.output!.invoke({ operation: 'get', data: new Uint8Array(0), metadata: {} }), /operation "get" is not supported/);
    });

    await t.test('create reaches the reader byte for byte, with the event metadata', async () => {
      const channel = channelOf('bytes');
      const binding = await bindings.open(target.metadata(channel));
      const events = new Receiver();
      await bindings.read(binding, events);
      const { sent, received } = target.eventMetadata(channel);
      const binary = Uint8Array.from({ length: 256 }, (_, i) => i);
      assert.equal(await create(binding, '"quoted text"', sent), null);
      await create(binding, '{"n":1}', sent);
      await create(binding, binary, sent);
      await eventually(DELIVERY_LIMIT_MS, async () => assert.equal(events.received.length, 3));
      assert.deepEqual(events.texts().slice(0, 2), ['"quoted text"', '{"n":1}']);
      assert.deepEqual(Buffer.from(events.received[2]!.data), Buffer.from(binary));
      for (const event of events.received) assert.deepEqual(event.metadata, received);
    });

    await t.test('an event the app failed comes again until the app accepts it', async () => {
      const binding = await bindings.open(target.metadata(channelOf('flaky')));
      let failures = 0;
      const events = new Receiver(async () => {
        if (++failures <= 2) throw new Error('app failed');
      });
      await bindings.read(binding, events);
      await create(binding, 'flaky');
      await eventually(DELIVERY_LIMIT_MS, async () => assert.deepEqual(events.texts(), ['flaky']));
      assert.equal(events.attempts, 3);
    });

    await t.test('an event the app never accepted stays with the broker for the next reading and the next binding', async () => {
      const channel = channelOf('unaccepted');
      /** Reads until the app failed the event, then stops reading: the broker must keep the event. */
      const failThenStop = async (binding: Binding, afterSubscribing: () => Promise<unknown> = async () => undefined): Promise<() => void> => {
        const failing = new Receiver(async () => {
          throw new Error('app down');
        });
        const reading = await bindings.read(binding, failing);
        await afterSubscribing();
        await eventually(DELIVERY_LIMIT_MS, async () => assert.ok(failing.attempts >= 1));
        await reading.close();
        const attempts = failing.attempts;
        if (target.waiting !== undefined) await eventually(DELIVERY_LIMIT_MS, async () => assert.equal(await target.waiting!(channel), 1));
        return () => assert.equal(failing.attempts, attempts, 'a closed reading got events');
      };
      const first = await bindings.open(target.metadata(channel));
      const firstGotNoMore = await failThenStop(first, () => create(first, 'keep me'));
      const secondGotNoMore = await failThenStop(first);
      // Another binding over the same channel, as after a sidecar restart, takes it over.
      await first.close!();
      const events = new Receiver();
      await bindings.read(await bindings.open(target.metadata(channel)), events);
      await eventually(DELIVERY_LIMIT_MS, async () => assert.deepEqual(events.texts(), ['keep me']));
      firstGotNoMore();
      secondGotNoMore();
    });

    await t.test('no more handler calls pending than maxInFlight', async () => {
      await expectInFlightBound(bindings, await bindings.open(target.metadata(channelOf('inflight'))), 3, 3);
    });

    await t.test('across a broker restart: create fails while it is down, reading resumes, nothing accepted is lost', { timeout: 150_000 }, async () => {
      const binding = await bindings.open({ ...target.metadata(channelOf('restart')), ...target.durable });
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let held = false;
      // The first copy of "held" is still with the app when the broker goes down.
      const events = new Receiver(async (event) => {
        if (decoder.decode(event.data) === 'held' && !held) {
          held = true;
          await released;
        }
      });
      await bindings.read(binding, events, 2);
      const published: string[] = [];
      const publish = async (body: string): Promise<void> => {
        await create(binding, body);
        published.push(body);
      };
      await publish('before');
      await publish('held');
      await eventually(DELIVERY_LIMIT_MS, async () => assert.ok(held && events.texts().includes('before')));

      const restarting = restartBroker(target.broker, 2000);
      await eventually(60_000, () => assert.rejects(publish(`while-down-${randomBytes(2).toString('hex')}`), target.notConnected));
      await restarting;
      release();
      for (let i = 0; i < 5; i++) await eventually(30_000, () => publish(`after-${i}`));
      await eventually(30_000, async () => {
        for (const body of published) assert.ok(events.texts().includes(body), `${body} not received`);
      });
    });
  });

  describe(`${target.type} through a running sidecar`, { timeout: 180_000 }, () => {
    const BINDING = 'broker-events';

    /** A sidecar with the binding, reading into a BindingApp; closed after the test. */
    async function sidecarWithBinding(t: TestContext, what: string): Promise<{ sidecar: SidecarProcess; app: BindingApp; channel: string }> {
      const dir = tempDir(channelOf('sidecar'));
      t.after(() => dir.remove());
      const channel = channelOf(`sidecar-${what}`);
      const metadata = { ...target.metadata(channel), ...target.durable };
      writeFileSync(join(dir.path, 'binding.yaml'), componentYaml({ name: BINDING, type: target.type, metadata }));
      const app = await new BindingApp([BINDING]).start();
      t.after(() => app.close());
      const sidecar = await startSidecar({ appId: channelOf(what), appPort: app.port, registryDir: dir.path, args: ['--resources-path', dir.path] });
      t.after(() => sidecar.stop());
      // Healthy once the input bindings read: an event created before could miss a subscription not yet made.
      await eventually(15_000, async () => assert.equal((await http(sidecar.url('/v1.0/healthz'))).status, 204));
      return { sidecar, app, channel };
    }

    it("delivers the created bytes to the app's POST /{name}, the event metadata as headers", async (t) => {
      if (await target.skip(t)) return;
      const { sidecar, app, channel } = await sidecarWithBinding(t, 'headers');
      const { sent, received } = target.eventMetadata(channel);
      const data = { a: 'héllo ✓', b: [1, 2.5] };
      assert.equal((await invokeBinding(sidecar, BINDING, { operation: 'create', data, metadata: sent })).status, 204);
      const event = await eventually(DELIVERY_LIMIT_MS, async () => {
        const [only, ...more] = app.eventsFor(BINDING);
        assert.ok(only !== undefined && more.length === 0);
        return only;
      });
      assert.equal(event.body.toString(), JSON.stringify(data));
      for (const [header, value] of Object.entries(received)) assert.equal(event.headers[header.toLowerCase()], value, header);
    });

    it('across a broker restart: create answers 500 while it is down and 204 after; reading resumes', { timeout: 150_000 }, async (t) => {
      if (await target.skip(t)) return;
      const { sidecar, app } = await sidecarWithBinding(t, 'restart');
      const accepted: string[] = [];
      const createThroughSidecar = async (body: string): Promise<number> => {
        const { status } = await invokeBinding(sidecar, BINDING, { operation: 'create', data: body });
        if (status === 204) accepted.push(JSON.stringify(body));
        return status;
      };
      assert.equal(await createThroughSidecar('before'), 204);
      const restarting = restartBroker(target.broker, 2000);
      await eventually(60_000, async () => assert.equal(await createThroughSidecar(`while-down-${randomBytes(2).toString('hex')}`), 500));
      await restarting;
      await eventually(30_000, async () => assert.equal(await createThroughSidecar('after'), 204));
      await eventually(30_000, async () => {
        const received = app.eventsFor(BINDING).map((event) => event.body.toString());
        for (const body of accepted) assert.ok(received.includes(body), `${body} not received`);
      });
    });
  });
}
