// What every pub/sub component must give a Dapr app through running sidecars: payloads in CloudEvents, routing,
// RETRY / DROP / dead-lettering, at-least-once delivery to a flaky app, and for durable brokers nothing lost when the
// subscriber's sidecar is killed or the broker restarts. The component-level guarantees are in pubsub-conformance.ts.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { restartBroker, type Broker } from './brokers.js';
import { eventually } from './eventually.js';
import { http, json } from './http.js';
import { SubscriberApp, type Delivery } from './pubsub-app.js';
import { componentYaml, quickInboundRetryYaml } from './resources.js';
import { startSidecar, tempDir, type SidecarProcess } from './sidecar.js';

export interface SidecarPubSubTarget {
  /** The component type, e.g. `pubsub.redis`. */
  type: string;
  /** Component metadata for this run; `run` is unique per run, for names on a shared broker. */
  metadata(run: string): Record<string, string>;
  /** Messages survive the subscriber's sidecar: publisher and subscriber can be separate sidecars. */
  durable: boolean;
  /** The real broker to restart mid-stream. */
  broker?: Broker;
  /**
   * Whether the broker keeps accepted messages across its own restart. One that does not (Redis without
   * persistence) is only held to delivering what it accepted once it was back.
   */
  brokerPersists?: boolean;
  skip?(t: TestContext): Promise<boolean>;
}

const CASE_TIMEOUT_MS = 120_000;
const PUBSUB = 'pubsub';
// Redelivery through the sidecar: a short inbound retry policy, so failures retry in milliseconds, not minutes.
const RESILIENCY = quickInboundRetryYaml(PUBSUB);

interface Topics {
  payloads: string;
  routed: string;
  retried: string;
  dropped: string;
  failing: string;
  deadLetters: string;
  flaky: string;
  ordered: string;
  bulk: string;
  stream: string;
  restarted: string;
}

function subscriptionsFor(topics: Topics): unknown[] {
  const plain = (topic: string, route: string, extra: Record<string, unknown> = {}): unknown => ({ pubsubname: PUBSUB, topic, route, ...extra });
  return [
    plain(topics.payloads, '/payloads'),
    {
      pubsubname: PUBSUB,
      topic: topics.routed,
      routes: {
        rules: [
          { match: 'event.type == "order.created"', path: '/created' },
          { match: 'event.data.priority > 5', path: '/urgent' },
        ],
        default: '/other',
      },
    },
    plain(topics.retried, '/retried'),
    plain(topics.dropped, '/dropped'),
    plain(topics.failing, '/failing', { deadLetterTopic: topics.deadLetters }),
    plain(topics.deadLetters, '/dead-letters'),
    plain(topics.flaky, '/flaky'),
    plain(topics.bulk, '/bulk', { bulkSubscribe: { enabled: true, maxMessagesCount: 10, maxAwaitDurationMs: 200 } }),
    plain(topics.stream, '/stream'),
    plain(topics.restarted, '/restarted'),
  ];
}

class Harness {
  readonly sidecars: SidecarProcess[] = [];
  readonly apps: SubscriberApp[] = [];

  constructor(
    readonly resourcesDir: string,
    readonly registryDir: string,
  ) {}

  async sidecar(appId: string, app: SubscriberApp | null, args: string[] = []): Promise<SidecarProcess> {
    const sidecar = await startSidecar({
      appId,
      registryDir: this.registryDir,
      ...(app === null ? {} : { appPort: app.port }),
      args: ['--resources-path', this.resourcesDir, ...args],
    });
    this.sidecars.push(sidecar);
    if (app !== null) await eventually(15_000, async () => assert.equal((await http(sidecar.url('/v1.0/healthz'))).status, 204));
    return sidecar;
  }

  async app(subscriptions: readonly unknown[] | null, port = 0): Promise<SubscriberApp> {
    const app = await new SubscriberApp(subscriptions).start(port);
    this.apps.push(app);
    return app;
  }

  async close(): Promise<void> {
    await Promise.all(this.sidecars.map((s) => s.stop('SIGKILL')));
    await Promise.all(this.apps.map((a) => a.close()));
  }
}

async function publish(sidecar: SidecarProcess, topic: string, body: string | Buffer, contentType = 'application/json'): Promise<number> {
  const res = await http(sidecar.url(`/v1.0/publish/${PUBSUB}/${topic}`), { method: 'POST', headers: { 'content-type': contentType }, body });
  return res.status;
}

async function publishOk(sidecar: SidecarProcess, topic: string, body: string | Buffer, contentType?: string): Promise<void> {
  assert.equal(await publish(sidecar, topic, body, contentType), 204);
}

interface Accepted {
  n: number;
  at: number;
}

/** Keeps publishing `{"n": i}` until `count` were accepted (204); a failed publish is retried later. */
async function publishStream(sidecar: () => SidecarProcess, topic: string, count: number, pauseMs: number): Promise<Accepted[]> {
  const accepted: Accepted[] = [];
  for (let n = 0; accepted.length < count; n++) {
    const status = await publish(sidecar(), topic, JSON.stringify({ n })).catch(() => 0);
    if (status === 204) accepted.push({ n, at: Date.now() });
    else await sleep(100);
    if (pauseMs > 0) await sleep(pauseMs);
  }
  return accepted;
}

function assertAllDelivered(accepted: readonly Accepted[], deliveries: readonly Delivery[]): void {
  const got = numbersOn(deliveries);
  const missing = accepted.filter(({ n }) => !got.has(n)).map(({ n }) => n);
  assert.equal(missing.length, 0, `missing ${missing.length} of ${accepted.length}: ${missing.slice(0, 10).join(',')}`);
}

const numbersOn = (deliveries: readonly Delivery[]): Set<number> => new Set(deliveries.map((d) => (d.event['data'] as { n: number }).n));

export function describeSidecarPubSubConformance(target: SidecarPubSubTarget): void {
  test(`${target.type} through sidecars`, { timeout: 10 * CASE_TIMEOUT_MS }, async (t) => {
    if ((await target.skip?.(t)) === true) return;
    const run = randomBytes(4).toString('hex');
    const topic = (name: string): string => `sc-${run}-${name}`;
    const topics: Topics = {
      payloads: topic('payloads'),
      routed: topic('routed'),
      retried: topic('retried'),
      dropped: topic('dropped'),
      failing: topic('failing'),
      deadLetters: topic('dead-letters'),
      flaky: topic('flaky'),
      ordered: topic('ordered'),
      bulk: topic('bulk'),
      stream: topic('stream'),
      restarted: topic('restarted'),
    };
    const resources = tempDir('pubsub-conformance');
    const registry = tempDir('pubsub-registry');
    writeFileSync(join(resources.path, 'pubsub.yaml'), componentYaml({ name: PUBSUB, type: target.type, metadata: target.metadata(run) }));
    writeFileSync(join(resources.path, 'resiliency.yaml'), RESILIENCY);
    const harness = new Harness(resources.path, registry.path);
    t.after(async () => {
      await harness.close();
      resources.remove();
      registry.remove();
    });

    const app = await harness.app(subscriptionsFor(topics));
    const subscriberAppId = `sub-${run}`;
    let subscriber = await harness.sidecar(subscriberAppId, app);
    // A broker outside the sidecar lets another sidecar publish; the in-memory broker lives in the subscriber's.
    const publisher = target.durable ? await harness.sidecar(`pub-${run}`, null) : subscriber;

    await t.test('lists the subscriptions in the metadata API', async () => {
      const metadata = json(await http(subscriber.url('/v1.0/metadata'))) as { subscriptions: Array<Record<string, unknown>> };
      const routed = metadata.subscriptions.find((s) => s['topic'] === topics.routed);
      assert.deepEqual(routed, {
        pubsubname: PUBSUB,
        topic: topics.routed,
        rules: [
          { match: 'event.type == "order.created"', path: '/created' },
          { match: 'event.data.priority > 5', path: '/urgent' },
          { path: '/other' },
        ],
        deadLetterTopic: '',
        type: 'PROGRAMMATIC',
      });
      assert.equal(metadata.subscriptions.find((s) => s['topic'] === topics.failing)?.['deadLetterTopic'], topics.deadLetters);
    });

    await t.test('delivers JSON, text, binary and CloudEvents as CloudEvents', { timeout: CASE_TIMEOUT_MS }, async () => {
      await publishOk(publisher, topics.payloads, JSON.stringify({ kind: 'json', n: 1 }));
      await publishOk(publisher, topics.payloads, 'plain words', 'text/plain');
      await publishOk(publisher, topics.payloads, Buffer.from([0, 1, 2, 254, 255]), 'application/octet-stream');
      const ownEvent = { specversion: '1.0', id: 'own-id-1', source: 'elsewhere', type: 'custom.type', datacontenttype: 'application/json', data: { kind: 'ce' } };
      await publishOk(publisher, topics.payloads, JSON.stringify(ownEvent), 'application/cloudevents+json');
      await eventually(30_000, async () => assert.equal(app.received('/payloads').length, 4));
      const events = app.received('/payloads');
      for (const d of events) {
        assert.equal(d.headers['content-type'], 'application/cloudevents+json');
        assert.equal(d.event['specversion'], '1.0');
        assert.equal(d.event['topic'], topics.payloads);
        assert.equal(d.event['pubsubname'], PUBSUB);
      }
      const own = events.find((d) => d.event['id'] === 'own-id-1')!.event;
      assert.equal(own['type'], 'custom.type');
      assert.equal(own['source'], 'elsewhere');
      assert.deepEqual(own['data'], { kind: 'ce' });
      const wrapped = events.filter((d) => d.event['id'] !== 'own-id-1').map((d) => d.event);
      const byContentType = new Map(wrapped.map((event) => [event['datacontenttype'], event]));
      assert.deepEqual(byContentType.get('application/json')?.['data'], { kind: 'json', n: 1 });
      assert.equal(byContentType.get('text/plain')?.['data'], 'plain words');
      assert.equal(byContentType.get('application/octet-stream')?.['data_base64'], Buffer.from([0, 1, 2, 254, 255]).toString('base64'));
      for (const event of wrapped) {
        assert.equal(event['source'], target.durable ? `pub-${run}` : subscriberAppId);
        assert.equal(event['type'], 'com.dapr.event.sent');
      }
    });

    await t.test('routes by CEL rules, first match wins, default last', { timeout: CASE_TIMEOUT_MS }, async () => {
      const ce = (type: string, data: unknown): string => JSON.stringify({ specversion: '1.0', id: `${type}-${JSON.stringify(data)}`, source: 's', type, datacontenttype: 'application/json', data });
      await publishOk(publisher, topics.routed, ce('order.created', { priority: 9 }), 'application/cloudevents+json');
      await publishOk(publisher, topics.routed, ce('order.updated', { priority: 9 }), 'application/cloudevents+json');
      await publishOk(publisher, topics.routed, ce('order.updated', { priority: 1 }), 'application/cloudevents+json');
      await publishOk(publisher, topics.routed, ce('order.updated', { nopriority: true }), 'application/cloudevents+json');
      await eventually(30_000, async () => {
        assert.deepEqual(app.data('/created'), [{ priority: 9 }]);
        assert.deepEqual(app.data('/urgent'), [{ priority: 9 }]);
        assert.deepEqual(new Set(app.data('/other').map((d) => JSON.stringify(d))), new Set(['{"priority":1}', '{"nopriority":true}']));
      });
    });

    await t.test('redelivers on RETRY until SUCCESS', { timeout: CASE_TIMEOUT_MS }, async () => {
      let answers = 0;
      app.on('/retried', () => (++answers < 3 ? { status: 200, body: '{"status":"RETRY"}' } : { status: 200, body: '{"status":"SUCCESS"}' }));
      await publishOk(publisher, topics.retried, JSON.stringify({ once: true }));
      await eventually(30_000, async () => assert.equal(answers, 3));
      await sleep(1500);
      assert.equal(answers, 3, 'acknowledged after SUCCESS: no further deliveries');
    });

    await t.test('does not redeliver on DROP', { timeout: CASE_TIMEOUT_MS }, async () => {
      app.on('/dropped', () => ({ status: 200, body: '{"status":"DROP"}' }));
      await publishOk(publisher, topics.dropped, JSON.stringify({ drop: true }));
      await eventually(30_000, async () => assert.equal(app.received('/dropped').length, 1));
      await sleep(2000);
      assert.equal(app.received('/dropped').length, 1);
    });

    await t.test('sends to the dead-letter topic after the retries fail', { timeout: CASE_TIMEOUT_MS }, async () => {
      app.on('/failing', () => ({ status: 500 }));
      await publishOk(publisher, topics.failing, JSON.stringify({ poison: true }));
      await eventually(30_000, async () => assert.deepEqual(app.data('/dead-letters'), [{ poison: true }]));
      // One delivery plus the policy's two retries, then the dead-letter topic has it and it is acknowledged.
      assert.equal(app.received('/failing').length, 3);
      await sleep(1500);
      assert.equal(app.received('/failing').length, 3);
    });

    await t.test('1000 messages to an app failing 30% of the time all arrive', { timeout: 3 * CASE_TIMEOUT_MS }, async () => {
      const succeeded = new Set<number>();
      app.on('/flaky', (d) => {
        if (Math.random() < 0.3) return { status: 500 };
        succeeded.add((d.event['data'] as { n: number }).n);
        return { status: 200 };
      });
      const sent = Array.from({ length: 1000 }, (_, n) => n);
      for (let i = 0; i < sent.length; i += 50) {
        await Promise.all(sent.slice(i, i + 50).map((n) => publishOk(publisher, topics.flaky, JSON.stringify({ n }))));
      }
      await eventually(150_000, async () => assert.equal(succeeded.size, 1000, `${succeeded.size} of 1000 delivered`));
    });

    await t.test('delivers in bulk when bulkSubscribe is on, per-entry statuses', { timeout: CASE_TIMEOUT_MS }, async () => {
      const succeeded = new Set<number>();
      app.on('/bulk', (d) => {
        const entries = d.event['entries'] as Array<{ entryId: string; event: { data: { n: number } } }>;
        // Every entry with an odd number fails the first time it is seen.
        const statuses = entries.map(({ entryId, event }) => {
          const n = event.data.n;
          const retry = n % 2 === 1 && !succeeded.has(-n - 1);
          if (retry) succeeded.add(-n - 1);
          else succeeded.add(n);
          return { entryId, status: retry ? 'RETRY' : 'SUCCESS' };
        });
        return { status: 200, body: JSON.stringify({ statuses }) };
      });
      await Promise.all(Array.from({ length: 30 }, (_, n) => publishOk(publisher, topics.bulk, JSON.stringify({ n }))));
      await eventually(30_000, async () => assert.equal([...succeeded].filter((n) => n >= 0).length, 30));
      const bulk = app.received('/bulk');
      assert.ok(bulk.some((d) => (d.event['entries'] as unknown[]).length > 1), 'events were batched');
      const first = bulk[0]!;
      assert.equal(first.headers['content-type'], 'application/json');
      assert.equal(first.event['type'], 'com.dapr.event.sent.bulk');
      assert.equal(first.event['topic'], topics.bulk);
      const entry = (first.event['entries'] as Array<Record<string, unknown>>)[0]!;
      assert.equal(entry['contentType'], 'application/cloudevents+json');
    });

    await t.test('keeps publish order with --app-max-concurrency 1', { timeout: CASE_TIMEOUT_MS }, async () => {
      const orderedApp = await harness.app([{ pubsubname: PUBSUB, topic: topics.ordered, route: '/ordered' }]);
      const orderedSidecar = await harness.sidecar(`ord-${run}`, orderedApp, ['--app-max-concurrency', '1']);
      const from = target.durable ? publisher : orderedSidecar;
      for (let n = 0; n < 100; n++) await publishOk(from, topics.ordered, JSON.stringify({ n }));
      await eventually(30_000, async () => assert.equal(orderedApp.received('/ordered').length, 100));
      assert.deepEqual(orderedApp.data('/ordered'), Array.from({ length: 100 }, (_, n) => ({ n })));
    });

    if (target.durable) {
      await t.test('loses nothing when the subscriber sidecar is killed and restarted mid-stream', { timeout: 2 * CASE_TIMEOUT_MS }, async () => {
        const publishing = publishStream(() => publisher, topics.stream, 300, 5);
        await eventually(30_000, async () => assert.ok(app.received('/stream').length >= 50));
        await subscriber.stop('SIGKILL');
        await sleep(500);
        subscriber = await harness.sidecar(subscriberAppId, app);
        const accepted = await publishing;
        await eventually(60_000, async () => assertAllDelivered(accepted, app.received('/stream')));
      });
    }

    if (target.broker !== undefined) {
      const broker = target.broker;
      await t.test('reconnects after the broker restarts mid-stream and loses nothing accepted', { timeout: 3 * CASE_TIMEOUT_MS }, async () => {
        const publishing = publishStream(() => publisher, topics.restarted, 200, 10);
        await eventually(30_000, async () => assert.ok(app.received('/restarted').length >= 20));
        await restartBroker(broker);
        const backAt = Date.now();
        const accepted = await publishing;
        const held = target.brokerPersists === false ? accepted.filter((a) => a.at > backAt) : accepted;
        await eventually(90_000, async () => assertAllDelivered(held, app.received('/restarted')));
      });
    }
  });
}
