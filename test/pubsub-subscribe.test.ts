// Subscriptions through a running sidecar on the embedded broker: declarative resources and their scopes, raw
// payloads, expiry, the app token, backpressure from a slow app, and the official SDK's server on both ends.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fromBinary } from '@bufbuild/protobuf';
import { CommunicationProtocolEnum, DaprServer } from '@dapr/dapr';
import * as grpc from '@grpc/grpc-js';
import { GetMetadataResponseSchema, PubsubSubscriptionType, type GetMetadataResponse } from '../gen/proto/dapr/proto/runtime/v1/metadata_pb.js';
import { eventually } from './support/eventually.js';
import { http, json } from './support/http.js';
import { freePort } from './support/ports.js';
import { SubscriberApp } from './support/pubsub-app.js';
import { componentYaml } from './support/resources.js';
import { withEachSdkClient } from './support/sdk.js';
import { startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';

const PUBSUB = 'pubsub';

const DECLARATIVE = `apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: orders-v2
spec:
  pubsubname: ${PUBSUB}
  topic: orders
  routes:
    rules:
      - match: event.data.total > 100
        path: /orders/big
    default: /orders
  deadLetterTopic: orders-dead
---
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata:
  name: audit-v1
spec:
  pubsubname: ${PUBSUB}
  topic: audit
  route: /audit
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: raw
spec:
  pubsubname: ${PUBSUB}
  topic: raw
  routes:
    default: /raw
  metadata:
    rawPayload: "true"
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: someone-else
spec:
  pubsubname: ${PUBSUB}
  topic: not-mine
  routes:
    default: /not-mine
scopes: [another-app]
`;

interface Fixture {
  sidecar: SidecarProcess;
  app: SubscriberApp;
  cleanup(): Promise<void>;
}

async function fixture(appId: string, opts: { subscriptions?: unknown[] | null; declarative?: string; args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<Fixture> {
  const resources = tempDir('pubsub-subscribe');
  const registry = tempDir('pubsub-subscribe-registry');
  writeFileSync(join(resources.path, 'pubsub.yaml'), componentYaml({ name: PUBSUB, type: 'pubsub.in-memory' }));
  if (opts.declarative !== undefined) writeFileSync(join(resources.path, 'subscriptions.yaml'), opts.declarative);
  const app = await new SubscriberApp(opts.subscriptions ?? null).start();
  const sidecar = await startSidecar({
    appId,
    appPort: app.port,
    registryDir: registry.path,
    args: ['--resources-path', resources.path, ...(opts.args ?? [])],
    ...(opts.env === undefined ? {} : { env: opts.env }),
  });
  await eventually(15_000, async () => assert.equal((await http(sidecar.url('/v1.0/healthz'))).status, 204));
  return {
    sidecar,
    app,
    async cleanup() {
      await sidecar.stop('SIGKILL');
      await app.close();
      resources.remove();
      registry.remove();
    },
  };
}

async function grpcMetadata(sidecar: SidecarProcess): Promise<GetMetadataResponse> {
  const client = new grpc.Client(`127.0.0.1:${sidecar.ports.grpc}`, grpc.credentials.createInsecure());
  try {
    const bytes = await new Promise<Buffer>((resolve, reject) => {
      client.makeUnaryRequest('/dapr.proto.runtime.v1.Dapr/GetMetadata', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), (err, res) =>
        err === null || err === undefined ? resolve(res!) : reject(err),
      );
    });
    return fromBinary(GetMetadataResponseSchema, bytes);
  } finally {
    client.close();
  }
}

const publish = (sidecar: SidecarProcess, topic: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }, query = '') =>
  http(sidecar.url(`/v1.0/publish/${PUBSUB}/${topic}${query}`), { method: 'POST', headers, body });

describe('declarative subscriptions', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture('decl-app', { declarative: DECLARATIVE });
  });
  after(() => f.cleanup());

  test('v2alpha1 rules and v1alpha1 routes deliver; scoped-out subscriptions are not loaded', async () => {
    assert.equal((await publish(f.sidecar, 'orders', '{"total": 500}')).status, 204);
    assert.equal((await publish(f.sidecar, 'orders', '{"total": 5}')).status, 204);
    assert.equal((await publish(f.sidecar, 'audit', '{"who": "me"}')).status, 204);
    assert.equal((await publish(f.sidecar, 'not-mine', '{"x": 1}')).status, 204);
    await eventually(10_000, async () => {
      assert.deepEqual(f.app.data('/orders/big'), [{ total: 500 }]);
      assert.deepEqual(f.app.data('/orders'), [{ total: 5 }]);
      assert.deepEqual(f.app.data('/audit'), [{ who: 'me' }]);
    });
    await sleep(300);
    assert.equal(f.app.received('/not-mine').length, 0);
    const metadata = json(await http(f.sidecar.url('/v1.0/metadata'))) as { subscriptions: Array<Record<string, unknown>> };
    assert.deepEqual(
      metadata.subscriptions.map((s) => [s['topic'], s['type'], s['deadLetterTopic']]),
      [
        ['orders', 'DECLARATIVE', 'orders-dead'],
        ['audit', 'DECLARATIVE', ''],
        ['raw', 'DECLARATIVE', ''],
      ],
    );
    const overGrpc = await grpcMetadata(f.sidecar);
    const orders = overGrpc.subscriptions.find((s) => s.topic === 'orders')!;
    assert.equal(orders.type, PubsubSubscriptionType.DECLARATIVE);
    assert.equal(orders.deadLetterTopic, 'orders-dead');
    assert.deepEqual(
      orders.rules?.rules.map((r) => [r.match, r.path]),
      [
        ['event.data.total > 100', '/orders/big'],
        ['', '/orders'],
      ],
    );
  });

  test('a raw-payload subscription gets an envelope with the bytes in data_base64', async () => {
    assert.equal((await publish(f.sidecar, 'raw', 'not json at all', { 'content-type': 'text/plain' }, '?metadata.rawPayload=true')).status, 204);
    await eventually(10_000, async () => assert.equal(f.app.received('/raw').length, 1));
    const event = f.app.received('/raw')[0]!.event;
    assert.equal(event['datacontenttype'], 'application/octet-stream');
    assert.equal(Buffer.from(event['data_base64'] as string, 'base64').toString(), 'not json at all');
    assert.equal(event['topic'], 'raw');
    assert.equal(event['pubsubname'], PUBSUB);
  });
});

describe('delivery details', () => {
  test('sends the app token, pubsubname and traceparent headers; no /dapr/subscribe means no programmatic subscriptions', async () => {
    const f = await fixture('token-app', {
      declarative: DECLARATIVE,
      env: { APP_API_TOKEN: 'app-secret' },
    });
    try {
      const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      assert.equal((await publish(f.sidecar, 'audit', '{"t": 1}', { 'content-type': 'application/json', traceparent })).status, 204);
      await eventually(10_000, async () => assert.equal(f.app.received('/audit').length, 1));
      const { headers, event } = f.app.received('/audit')[0]!;
      assert.equal(headers['dapr-api-token'], 'app-secret');
      assert.equal(headers['pubsubname'], PUBSUB);
      assert.equal(headers['traceparent'], event['traceparent']);
      // The event carries the publish span: a child in the caller's trace.
      const [, traceId, , flags] = traceparent.split('-');
      assert.match(event['traceparent'] as string, new RegExp(`^00-${traceId}-[0-9a-f]{16}-${flags}$`));
    } finally {
      await f.cleanup();
    }
  });

  test('drops an event that expired before it could be delivered', async () => {
    const f = await fixture('ttl-app', {
      subscriptions: [{ pubsubname: PUBSUB, topic: 'slow', route: '/slow' }],
      args: ['--app-max-concurrency', '1'],
    });
    try {
      f.app.on('/slow', async (d) => {
        if ((d.event['data'] as { n: number }).n === 0) await sleep(2500);
        return { status: 200 };
      });
      assert.equal((await publish(f.sidecar, 'slow', '{"n": 0}')).status, 204);
      assert.equal((await publish(f.sidecar, 'slow', '{"n": 1}', undefined, '?metadata.ttlInSeconds=1')).status, 204);
      assert.equal((await publish(f.sidecar, 'slow', '{"n": 2}')).status, 204);
      await eventually(10_000, async () => assert.deepEqual(f.app.data('/slow'), [{ n: 0 }, { n: 2 }]));
      assert.match(f.sidecar.output(), /dropping expired event/);
    } finally {
      await f.cleanup();
    }
  });

  test('an app that goes away gets every event once it is back on its port', async () => {
    const f = await fixture('restarting-app', { subscriptions: [{ pubsubname: PUBSUB, topic: 'away', route: '/away' }] });
    const port = f.app.port;
    let back: SubscriberApp | null = null;
    try {
      await f.app.close();
      for (let n = 0; n < 5; n++) assert.equal((await publish(f.sidecar, 'away', JSON.stringify({ n }))).status, 204);
      await sleep(300);
      back = await new SubscriberApp([{ pubsubname: PUBSUB, topic: 'away', route: '/away' }]).start(port);
      const restarted = back;
      await eventually(15_000, async () =>
        assert.deepEqual(new Set(restarted.data('/away').map((d) => JSON.stringify(d))), new Set([0, 1, 2, 3, 4].map((n) => JSON.stringify({ n })))),
      );
    } finally {
      await back?.close();
      await f.cleanup();
    }
  });

  test('a stalled app holds messages back at --app-max-concurrency, then gets them all', async () => {
    const f = await fixture('stall-app', {
      subscriptions: [{ pubsubname: PUBSUB, topic: 'stall', route: '/stall' }],
      args: ['--app-max-concurrency', '2'],
    });
    try {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      f.app.on('/stall', async () => {
        await released;
        return { status: 200 };
      });
      for (let n = 0; n < 40; n++) assert.equal((await publish(f.sidecar, 'stall', JSON.stringify({ n }))).status, 204);
      await sleep(500);
      assert.equal(f.app.received('/stall').length, 2, 'only as many deliveries as --app-max-concurrency allows');
      release();
      await eventually(10_000, async () => assert.equal(f.app.received('/stall').length, 40));
    } finally {
      await f.cleanup();
    }
  });
});

describe('the official SDK', () => {
  test('DaprServer subscribes and DaprClient publishes, over HTTP and gRPC', async () => {
    const resources = tempDir('pubsub-sdk');
    const registry = tempDir('pubsub-sdk-registry');
    writeFileSync(join(resources.path, 'pubsub.yaml'), componentYaml({ name: PUBSUB, type: 'pubsub.in-memory' }));
    const appPort = await freePort();
    const sidecar = await startSidecar({ appId: 'sdk-app', appPort, registryDir: registry.path, args: ['--resources-path', resources.path] });
    const server = new DaprServer({
      serverHost: '127.0.0.1',
      serverPort: String(appPort),
      clientOptions: { daprHost: '127.0.0.1', daprPort: String(sidecar.ports.http) },
      logger: { level: 0 as never },
    });
    const received: unknown[] = [];
    try {
      await server.pubsub.subscribe(PUBSUB, 'sdk-topic', async (data: unknown) => {
        received.push(data);
      });
      await server.start();
      await eventually(15_000, async () => assert.equal((await http(sidecar.url('/v1.0/healthz'))).status, 204));
      await withEachSdkClient(sidecar, async (client, protocol) => {
        const result = await client.pubsub.publish(PUBSUB, 'sdk-topic', { via: protocol });
        assert.equal(result.error, undefined);
      });
      await eventually(10_000, async () =>
        assert.deepEqual(new Set(received.map((r) => JSON.stringify(r))), new Set([JSON.stringify({ via: CommunicationProtocolEnum.HTTP }), JSON.stringify({ via: CommunicationProtocolEnum.GRPC })])),
      );
    } finally {
      await server.stop().catch(() => undefined);
      await sidecar.stop('SIGKILL');
      resources.remove();
      registry.remove();
    }
  });
});
