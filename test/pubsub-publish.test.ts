import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { CommunicationProtocolEnum, DaprClient } from '@dapr/dapr';
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { EmptySchema } from '@bufbuild/protobuf/wkt';
import {
  BulkPublishRequestSchema,
  BulkPublishResponseSchema,
  PublishEventRequestSchema,
} from '../gen/proto/dapr/proto/runtime/v1/pubsub_pb.js';
import {
  PubSubFeature,
  type BulkPublishEntry,
  type BulkPublisher,
  type BulkPublishFailure,
  type PubSub,
  type PubSubMetadata,
  type PublishRequest,
  type Subscription,
} from '../components/pubsub/pubsub.js';
import type { ComponentSet } from '../components/registry.js';
import type { Component } from '../proxy/resources/component.js';
import { GrpcApiServer } from '../proxy/grpc/api-server.js';
import { HttpFront } from '../proxy/http/front.js';
import { Router } from '../proxy/http/router.js';
import { DaprError, errors } from '../proxy/runtime/errors.js';
import { registerPubSubGrpc } from '../proxy/pubsub/grpc-api.js';
import { registerPubSubRoutes } from '../proxy/pubsub/http-routes.js';
import { PubSubPublisher } from '../proxy/pubsub/publisher.js';
import { daprUnary } from './support/grpc.js';
import { closeHttpAgent, http, json, type HttpResult } from './support/http.js';
import { componentYaml } from './support/resources.js';
import { startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

/** A pub/sub that records what it was given; `fail` decides which publishes the broker refuses. */
class RecordingPubSub implements PubSub {
  readonly published: PublishRequest[] = [];
  inFlight = 0;
  maxInFlight = 0;

  constructor(
    private readonly featureList: PubSubFeature[] = [],
    private readonly fail: (req: PublishRequest) => Error | undefined = () => undefined,
    private readonly delayMs = 0,
  ) {}

  features(): readonly PubSubFeature[] {
    return this.featureList;
  }

  async publish(req: PublishRequest): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      const failure = this.fail(req);
      if (failure !== undefined) throw failure;
      this.published.push({ ...req, data: Buffer.from(req.data) });
    } finally {
      this.inFlight--;
    }
  }

  async subscribe(): Promise<Subscription> {
    throw new Error('not used by publishing');
  }

  async close(): Promise<void> {}
}

class RecordingBulkPubSub extends RecordingPubSub implements BulkPublisher {
  readonly bulkCalls: Array<{ topic: string; entries: readonly BulkPublishEntry[]; metadata: PubSubMetadata }> = [];

  constructor(private readonly bulkOutcome: (entries: readonly BulkPublishEntry[]) => BulkPublishFailure[]) {
    super([PubSubFeature.BULK_PUBLISH]);
  }

  async bulkPublish(topic: string, entries: readonly BulkPublishEntry[], metadata: PubSubMetadata): Promise<BulkPublishFailure[]> {
    this.bulkCalls.push({ topic, entries, metadata });
    return this.bulkOutcome(entries);
  }
}

function componentsOf(pubsubs: Record<string, PubSub>): ComponentSet {
  return {
    get: (kind, name) => (kind === 'pubsub' && Object.hasOwn(pubsubs, name) ? pubsubs[name] : undefined) as never,
    ofKind: (kind) =>
      (kind === 'pubsub' ? Object.entries(pubsubs).map(([name, instance]) => ({ component: { name } as Component, instance })) : []) as never,
    list: () => [],
    close: async () => {},
  };
}

function publisherWith(pubsubs: Record<string, PubSub>): PubSubPublisher {
  return new PubSubPublisher(componentsOf(pubsubs), 'checkout', () => NOW);
}

function eventOf(req: PublishRequest): Record<string, unknown> {
  return JSON.parse(Buffer.from(req.data).toString('utf8')) as Record<string, unknown>;
}

function daprError(code: string, httpStatus: number, message?: string | RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof DaprError, String(err));
    assert.equal(err.errorCode, code);
    assert.equal(err.httpStatus, httpStatus);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message !== undefined) assert.match(err.message, message);
    return true;
  };
}

describe('PubSubPublisher', () => {
  it('hands the broker the CloudEvent bytes daprd would, with the request metadata', async () => {
    const broker = new RecordingPubSub();
    await publisherWith({ pubsub: broker }).publish({
      pubsubName: 'pubsub',
      topic: 'orders',
      body: Buffer.from('{"orderId":7}'),
      contentType: 'application/json',
      metadata: { ttlInSeconds: '30', partitionKey: 'k' },
      traceparent: CALLER_TRACEPARENT,
      tracestate: 'vendor=x',
    });
    assert.equal(broker.published.length, 1);
    const [req] = broker.published;
    assert.equal(req!.topic, 'orders');
    assert.equal(req!.contentType, 'application/cloudevents+json');
    assert.deepEqual(req!.metadata, { ttlInSeconds: '30', partitionKey: 'k' });
    const event = eventOf(req!);
    const traceparent = event['traceparent'] as string;
    assert.match(traceparent, new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`), 'a child of the caller span');
    assert.notEqual(traceparent, CALLER_TRACEPARENT);
    assert.equal(
      Buffer.from(req!.data).toString(),
      '{"data":{"orderId":7},"datacontenttype":"application/json","expiration":"2024-05-01T12:00:30Z",' +
        `"id":"${String(event['id'])}","pubsubname":"pubsub","source":"checkout","specversion":"1.0","topic":"orders",` +
        `"traceid":"${traceparent}","traceparent":"${traceparent}","tracestate":"vendor=x","type":"com.dapr.event.sent"}`,
    );
  });

  it('starts a new unsampled trace when the caller sent no valid traceparent', async () => {
    const broker = new RecordingPubSub();
    const publisher = publisherWith({ pubsub: broker });
    for (const traceparent of [undefined, 'garbage', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`]) {
      await publisher.publish({ pubsubName: 'pubsub', topic: 't', body: Buffer.from('x'), contentType: '', metadata: {}, traceparent, tracestate: 'dropped=1' });
    }
    const traces = broker.published.map(eventOf);
    for (const event of traces) {
      assert.match(event['traceparent'] as string, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      assert.equal(event['tracestate'], '');
    }
    assert.equal(new Set(traces.map((e) => e['traceparent'])).size, 3);
  });

  it('leaves the expiration to a broker with MESSAGE_TTL', async () => {
    const broker = new RecordingPubSub([PubSubFeature.MESSAGE_TTL]);
    await publisherWith({ pubsub: broker }).publish({ pubsubName: 'pubsub', topic: 't', body: Buffer.from('x'), contentType: '', metadata: { ttlInSeconds: '30' } });
    assert.equal(eventOf(broker.published[0]!)['expiration'], undefined);
    assert.deepEqual(broker.published[0]!.metadata, { ttlInSeconds: '30' });
  });

  it('sends a raw payload unchanged with its own content type', async () => {
    const broker = new RecordingPubSub();
    const publisher = publisherWith({ pubsub: broker });
    const body = Buffer.from([0, 159, 146, 150]);
    for (const rawPayload of ['true', 'True', '1', 't']) {
      await publisher.publish({ pubsubName: 'pubsub', topic: 't', body, contentType: 'application/octet-stream', metadata: { rawPayload } });
    }
    await publisher.publish({ pubsubName: 'pubsub', topic: 't', body, contentType: '', metadata: { rawPayload: 'TRUE' } });
    assert.equal(broker.published.length, 5);
    for (const req of broker.published) assert.deepEqual(Buffer.from(req.data), body);
    assert.equal(broker.published[0]!.contentType, 'application/octet-stream');
    assert.equal(broker.published[4]!.contentType, undefined);
    await publisher.publish({ pubsubName: 'pubsub', topic: 't', body, contentType: 'application/octet-stream', metadata: { rawPayload: 'false' } });
    assert.equal(eventOf(broker.published[5]!)['data_base64'], body.toString('base64'));
  });

  it('reports daprd\'s errors for bad targets and metadata, in daprd\'s order', async () => {
    const broker = new RecordingPubSub();
    const publisher = publisherWith({ pubsub: broker });
    const call = { pubsubName: 'pubsub', topic: 't', body: Buffer.from('x'), contentType: '', metadata: {} };
    await assert.rejects(publisherWith({}).publish(call), daprError('ERR_PUBSUB_NOT_CONFIGURED', 400, 'pubsub pubsub is not configured'));
    await assert.rejects(publisher.publish({ ...call, pubsubName: 'nope', topic: '' }), daprError('ERR_PUBSUB_NOT_FOUND', 404, 'pubsub nope is not found'));
    await assert.rejects(publisher.publish({ ...call, pubsubName: '' }), daprError('ERR_PUBSUB_EMPTY', 404, 'pubsub name is empty'));
    await assert.rejects(publisher.publish({ ...call, topic: '' }), daprError('ERR_TOPIC_NAME_EMPTY', 404, 'topic is empty in pubsub pubsub'));
    await assert.rejects(
      publisher.publish({ ...call, metadata: { rawPayload: 'yes' } }),
      daprError('ERR_PUBSUB_REQUEST_METADATA', 400, "failed deserializing metadata. Error: rawPayload value must be a valid boolean: actual is 'yes'"),
    );
    await assert.rejects(
      publisher.publish({ ...call, contentType: 'application/cloudevents+json', body: Buffer.from('[1]') }),
      daprError('ERR_PUBSUB_CLOUD_EVENTS_SER', 500, /^cannot create cloudevent: /),
    );
    assert.equal(broker.published.length, 0);
  });

  it('reports a broker failure as ERR_PUBSUB_PUBLISH_MESSAGE with daprd\'s wording', async () => {
    const broker = new RecordingPubSub([], () => new Error('connection refused'));
    await assert.rejects(
      publisherWith({ pubsub: broker }).publish({ pubsubName: 'pubsub', topic: 'orders', body: Buffer.from('x'), contentType: '', metadata: {} }),
      daprError('ERR_PUBSUB_PUBLISH_MESSAGE', 500, 'error when publishing to topic orders in pubsub pubsub: connection refused'),
    );
  });
});

describe('PubSubPublisher bulk', () => {
  const entry = (entryId: string, event: string, contentType = 'text/plain', metadata: PubSubMetadata = {}) => ({
    entryId,
    event: Buffer.from(event),
    contentType,
    metadata,
  });

  it('publishes each entry in its own envelope and span, merging request metadata under the entry\'s', async () => {
    const broker = new RecordingPubSub();
    const failed = await publisherWith({ pubsub: broker }).bulkPublish({
      pubsubName: 'pubsub',
      topic: 'orders',
      metadata: { shared: 'request', ttlInSeconds: '5' },
      entries: [entry('a', '{"n":1}', 'application/json', { shared: 'entry' }), entry('b', 'plain'), entry('c', '<x/>', 'application/xml')],
      traceparent: CALLER_TRACEPARENT,
    });
    assert.deepEqual(failed, []);
    assert.equal(broker.published.length, 3);
    const byData = new Map(broker.published.map((req) => [JSON.stringify(eventOf(req)['data']), req]));
    const a = byData.get('{"n":1}')!;
    assert.deepEqual(a.metadata, { shared: 'entry', ttlInSeconds: '5' });
    assert.equal(byData.get('"plain"')!.metadata['shared'], 'request');
    assert.equal(eventOf(byData.get('"<x/>"')!)['datacontenttype'], 'application/xml');
    const spans = broker.published.map((req) => eventOf(req)['traceparent'] as string);
    for (const span of spans) assert.match(span, new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
    assert.equal(new Set(spans).size, 3);
    for (const req of broker.published) {
      assert.equal(eventOf(req)['expiration'], '2024-05-01T12:00:05Z');
      assert.equal(req.contentType, 'application/cloudevents+json');
    }
  });

  it('publishes at most 100 entries at once to a pub/sub without bulk support', async () => {
    const broker = new RecordingPubSub([], () => undefined, 5);
    const entries = Array.from({ length: 250 }, (_, i) => entry(`e${i}`, `event ${i}`));
    assert.deepEqual(await publisherWith({ pubsub: broker }).bulkPublish({ pubsubName: 'pubsub', topic: 't', metadata: {}, entries }), []);
    assert.equal(broker.published.length, 250);
    assert.equal(broker.maxInFlight, 100);
  });

  it('reports the failed entries in request order with the broker\'s error', async () => {
    const broker = new RecordingPubSub([], (req) => (eventOf(req)['data'] === 'bad' ? new Error('rejected') : undefined));
    const entries = ['bad', 'good', 'bad', 'good'].map((event, i) => entry(`e${i}`, event));
    const failed = await publisherWith({ pubsub: broker }).bulkPublish({ pubsubName: 'pubsub', topic: 't', metadata: {}, entries });
    assert.deepEqual(failed, [
      { entryId: 'e0', error: 'rejected' },
      { entryId: 'e2', error: 'rejected' },
    ]);
    assert.equal(broker.published.length, 2);
  });

  it('uses the component\'s bulk publish when it has one', async () => {
    const broker = new RecordingBulkPubSub((entries) => [{ entryId: entries[1]!.entryId, error: new Error('too big') }]);
    const failed = await publisherWith({ pubsub: broker }).bulkPublish({
      pubsubName: 'pubsub',
      topic: 'orders',
      metadata: { rawPayload: 'true', m: '1' },
      entries: [entry('x', 'one'), entry('y', 'two', 'text/plain', { m: '2' })],
    });
    assert.deepEqual(failed, [{ entryId: 'y', error: 'too big' }]);
    assert.equal(broker.published.length, 0);
    const [call] = broker.bulkCalls;
    assert.equal(call!.topic, 'orders');
    assert.deepEqual(call!.metadata, { rawPayload: 'true', m: '1' });
    assert.deepEqual(
      call!.entries.map((e) => [e.entryId, Buffer.from(e.data).toString(), e.contentType, e.metadata]),
      [
        ['x', 'one', 'text/plain', { rawPayload: 'true', m: '1' }],
        ['y', 'two', 'text/plain', { rawPayload: 'true', m: '2' }],
      ],
    );
  });

  it('fails every entry when the component\'s bulk publish throws', async () => {
    const broker = new RecordingBulkPubSub(() => {
      throw new Error('broker down');
    });
    const failed = await publisherWith({ pubsub: broker }).bulkPublish({ pubsubName: 'pubsub', topic: 't', metadata: {}, entries: [entry('a', '1'), entry('b', '2')] });
    assert.deepEqual(failed, [
      { entryId: 'a', error: 'broker down' },
      { entryId: 'b', error: 'broker down' },
    ]);
  });

  it('requires unique, present entry ids before publishing anything', async () => {
    const broker = new RecordingPubSub();
    const publisher = publisherWith({ pubsub: broker });
    const bad = daprError(
      'ERR_PUBSUB_EVENTS_SER',
      400,
      'error marshaling events to bytes for topic t pubsub pubsub. error: entryId is duplicated or not present for entry',
    );
    await assert.rejects(publisher.bulkPublish({ pubsubName: 'pubsub', topic: 't', metadata: {}, entries: [entry('a', '1'), entry('a', '2')] }), bad);
    await assert.rejects(publisher.bulkPublish({ pubsubName: 'pubsub', topic: 't', metadata: {}, entries: [entry('a', '1'), entry('', '2')] }), bad);
    assert.deepEqual(await publisher.bulkPublish({ pubsubName: 'pubsub', topic: 't', metadata: {}, entries: [] }), []);
    assert.equal(broker.published.length, 0);
  });
});

/** An HTTP exchange on a raw socket, for a request the server may answer before it has read the whole body. */
function rawExchange(port: number, head: string, body: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(head);
      socket.write(body);
    });
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve(received) : reject(err)));
    socket.on('close', () => resolve(received));
  });
}

describe('publish fronts over a broker that refuses some events', () => {
  // In-process HTTP and gRPC fronts, so the broker can fail on demand and record the exact bytes it got.
  const broker = new RecordingPubSub([], (req) => (Buffer.from(req.data).includes('refuse') ? new Error('queue full') : undefined));
  const publisher = publisherWith({ pubsub: broker });
  let front: HttpFront;
  let grpcApi: GrpcApiServer;
  let httpPort: number;
  let client: grpc.Client;

  before(async () => {
    const router = new Router();
    registerPubSubRoutes(router, publisher);
    front = new HttpFront(router, { maxBodyBytes: 1 << 20, apiToken: '', fallback: (_req, reply) => reply.error(errors.badRequest('no route')) });
    httpPort = await front.listen('127.0.0.1', 0);
    grpcApi = new GrpcApiServer({ maxMessageBytes: 1 << 20, apiToken: '' });
    registerPubSubGrpc(grpcApi, publisher);
    client = new grpc.Client(`127.0.0.1:${await grpcApi.listen('127.0.0.1', 0)}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await Promise.all([front?.close(0), grpcApi?.close(0)]);
    closeHttpAgent();
  });

  const url = (path: string) => `http://127.0.0.1:${httpPort}${path}`;

  it('passes the request\'s content type, metadata, trace context and decoded topic to the envelope', async () => {
    broker.published.length = 0;
    const res = await http(url('/v1.0/publish/pubsub/eu%2Forders/new?metadata.key=k1&other=ignored'), {
      method: 'PUT',
      headers: { 'content-type': 'application/json; charset=utf-8', traceparent: CALLER_TRACEPARENT, tracestate: 'a=b' },
      body: '{"id":1}',
    });
    assert.equal(res.status, 204);
    const [req] = broker.published;
    assert.equal(req!.topic, 'eu/orders/new');
    assert.deepEqual(req!.metadata, { key: 'k1' });
    const event = eventOf(req!);
    assert.deepEqual(event['data'], { id: 1 });
    assert.equal(event['datacontenttype'], 'application/json; charset=utf-8');
    assert.equal(event['topic'], 'eu/orders/new');
    assert.equal(event['tracestate'], 'a=b');
    assert.match(event['traceparent'] as string, new RegExp(`^00-${TRACE_ID}-`));
  });

  it('answers a broker failure with 500 ERR_PUBSUB_PUBLISH_MESSAGE over HTTP and INTERNAL over gRPC', async () => {
    const res = await http(url('/v1.0/publish/pubsub/orders'), { method: 'POST', body: 'refuse me' });
    assert.equal(res.status, 500);
    assert.deepEqual(json(res), { errorCode: 'ERR_PUBSUB_PUBLISH_MESSAGE', message: 'error when publishing to topic orders in pubsub pubsub: queue full' });
    const viaGrpc = await daprUnary(client, 'PublishEvent', PublishEventRequestSchema, EmptySchema, create(PublishEventRequestSchema, {
      pubsubName: 'pubsub',
      topic: 'orders',
      data: Buffer.from('refuse me'),
    }));
    assert.equal(viaGrpc.code, grpc.status.INTERNAL);
    assert.equal(viaGrpc.details, 'error when publishing to topic orders in pubsub pubsub: queue full');
  });

  it('lists the failed bulk entries in a 500 answer over HTTP; fails the call with the first one over gRPC', async () => {
    broker.published.length = 0;
    const res = await http(url('/v1.0-alpha1/publish/bulk/pubsub/orders'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        { entryId: 'ok', event: 'fine', contentType: 'text/plain' },
        { entryId: 'no1', event: 'refuse 1', contentType: 'text/plain' },
        { entryId: 'no2', event: { note: 'refuse 2' }, contentType: 'application/json' },
      ]),
    });
    assert.equal(res.status, 500);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(
      res.body.toString(),
      '{"failedEntries":[{"entryId":"no1","error":"queue full"},{"entryId":"no2","error":"queue full"}],"errorCode":"ERR_PUBSUB_PUBLISH_MESSAGE"}',
    );
    assert.equal(broker.published.length, 1);
    const viaGrpc = await daprUnary(client, 'BulkPublishEventAlpha1', BulkPublishRequestSchema, BulkPublishResponseSchema, create(BulkPublishRequestSchema, {
      pubsubName: 'pubsub',
      topic: 'orders',
      entries: [
        { entryId: 'ok', event: Buffer.from('fine'), contentType: 'text/plain' },
        { entryId: 'no', event: Buffer.from('refuse'), contentType: 'text/plain' },
      ],
    }));
    assert.equal(viaGrpc.code, grpc.status.INTERNAL);
    assert.equal(viaGrpc.details, 'error when publishing to topic orders in pubsub pubsub: queue full');
  });

  it('converts bulk events as daprd does before wrapping them', async () => {
    broker.published.length = 0;
    const res = await http(url('/v1.0-alpha1/publish/bulk/pubsub/orders'), {
      method: 'POST',
      body: JSON.stringify([
        { entryId: 'j', event: { b: '<tag>', a: 1 }, contentType: 'application/json' },
        { entryId: 'b', event: Buffer.from([0, 255]).toString('base64'), contentType: 'application/octet-stream' },
        { entryId: 'c', event: { specversion: '1.0', id: 'own', source: 'mine', type: 'kind', data: 'd' }, contentType: 'application/cloudevents+json' },
      ]),
    });
    assert.equal(res.status, 204);
    const events = new Map(broker.published.map((req) => [Buffer.from(req.data).toString(), eventOf(req)]));
    const texts = [...events.keys()];
    assert.ok(texts.some((text) => text.startsWith('{"data":{"a":1,"b":"\\u003ctag\\u003e"},"datacontenttype":"application/json",')), texts.join('\n'));
    const values = [...events.values()];
    assert.ok(values.some((event) => event['data_base64'] === 'AP8=' && event['datacontenttype'] === 'application/octet-stream'));
    assert.ok(values.some((event) => event['id'] === 'own' && event['source'] === 'mine' && event['topic'] === 'orders'));
  });
});

describe('publishing through a running sidecar', () => {
  const MAX_BODY = 256 * 1024;
  const registry = tempDir('publish');
  const resources = tempDir('publish-res');
  let sidecar: SidecarProcess;
  let bare: SidecarProcess;
  let grpcClient: grpc.Client;

  before(async () => {
    writeFileSync(join(resources.path, 'pubsub.yaml'), componentYaml({ name: 'pubsub', type: 'pubsub.in-memory' }));
    [sidecar, bare] = await Promise.all([
      startSidecar({ appId: 'publisher', registryDir: registry.path, args: ['--resources-path', resources.path, '--max-body-size', '256Ki'] }),
      startSidecar({ appId: 'nopubsub', registryDir: registry.path }),
    ]);
    grpcClient = new grpc.Client(`127.0.0.1:${sidecar.ports.grpc}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    grpcClient?.close();
    await Promise.all([sidecar?.stop(), bare?.stop()]);
    closeHttpAgent();
    registry.remove();
    resources.remove();
  });

  const post = (target: SidecarProcess, path: string, body: string | Buffer, headers: Record<string, string> = {}, method = 'POST') =>
    http(target.url(path), { method, headers, body });
  const errorOf = (res: HttpResult) => json(res) as { errorCode: string; message: string };

  it('answers 204 to publishes of every kind, POST and PUT, topics with slashes included', async () => {
    const cases: Array<[string, string | Buffer, Record<string, string>, string?]> = [
      ['/v1.0/publish/pubsub/orders', '{"orderId":1}', { 'content-type': 'application/json' }],
      ['/v1.0/publish/pubsub/orders', 'plain text', {}, 'PUT'],
      ['/v1.0/publish/pubsub/orders/eu/new', Buffer.from([1, 2, 3]), { 'content-type': 'application/octet-stream' }],
      ['/v1.0/publish/pubsub/a%2Fb?metadata.rawPayload=true&metadata.ttlInSeconds=10', 'raw', {}],
      ['/v1.0/publish/pubsub/orders', '{"specversion":"1.0","id":"x","source":"s","type":"t"}', { 'content-type': 'application/cloudevents+json' }],
      ['/v1.0/publish/pubsub/orders?metadata.cloudevent.id=fixed', '', { traceparent: CALLER_TRACEPARENT }],
    ];
    for (const [path, body, headers, method] of cases) {
      const res = await post(sidecar, path, body, headers, method);
      assert.equal(res.status, 204, `${path}: ${res.body.toString()}`);
      assert.equal(res.body.length, 0);
    }
  });

  it('answers bad publishes with daprd\'s status and error body', async () => {
    const unknown = await post(sidecar, '/v1.0/publish/nope/orders', 'x');
    assert.equal(unknown.status, 404);
    assert.deepEqual(errorOf(unknown), { errorCode: 'ERR_PUBSUB_NOT_FOUND', message: 'pubsub nope is not found' });
    assert.equal(unknown.headers['content-type'], 'application/json');
    const unconfigured = await post(bare, '/v1.0/publish/pubsub/orders', 'x');
    assert.equal(unconfigured.status, 400);
    assert.equal(errorOf(unconfigured).errorCode, 'ERR_PUBSUB_NOT_CONFIGURED');
    const noTopic = await post(sidecar, '/v1.0/publish/pubsub/', 'x');
    assert.equal(noTopic.status, 404);
    assert.equal(errorOf(noTopic).errorCode, 'ERR_TOPIC_NAME_EMPTY');
    const badRaw = await post(sidecar, '/v1.0/publish/pubsub/orders?metadata.rawPayload=maybe', 'x');
    assert.equal(badRaw.status, 400);
    assert.deepEqual(errorOf(badRaw), {
      errorCode: 'ERR_PUBSUB_REQUEST_METADATA',
      message: "failed deserializing metadata. Error: rawPayload value must be a valid boolean: actual is 'maybe'",
    });
    const badEvent = await post(sidecar, '/v1.0/publish/pubsub/orders', '{"id":', { 'content-type': 'application/cloudevents+json' });
    assert.equal(badEvent.status, 500);
    assert.equal(errorOf(badEvent).errorCode, 'ERR_PUBSUB_CLOUD_EVENTS_SER');
  });

  it('answers a body over --max-body-size with 413 ERR_BODY_TOO_LARGE', async () => {
    const size = MAX_BODY + 1;
    const answer = await rawExchange(
      sidecar.ports.http,
      `POST /v1.0/publish/pubsub/orders HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: ${size}\r\n\r\n`,
      Buffer.alloc(64 * 1024, 0x61),
    );
    assert.match(answer, /^HTTP\/1\.1 413/);
    assert.match(answer, /"errorCode":"ERR_BODY_TOO_LARGE"/);
    const tooBig = await daprUnary(grpcClient, 'PublishEvent', PublishEventRequestSchema, EmptySchema, create(PublishEventRequestSchema, {
      pubsubName: 'pubsub',
      topic: 'orders',
      data: Buffer.alloc(size, 0x61),
    }));
    assert.equal(tooBig.code, grpc.status.RESOURCE_EXHAUSTED);
  });

  it('bulk-publishes over HTTP: 204 when all succeed, entry fields matched ignoring case', async () => {
    const ok = await post(
      sidecar,
      '/v1.0-alpha1/publish/bulk/pubsub/orders/bulk?metadata.ttlInSeconds=60',
      JSON.stringify([
        { entryId: '1', event: { orderId: 1 }, contentType: 'application/json' },
        { entryID: '2', event: 'text event', contentType: 'text/plain', metadata: { key: 'v' } },
        { EntryId: '3', Event: Buffer.from('bytes').toString('base64'), ContentType: 'application/octet-stream', Metadata: null },
        { entryId: '4', event: { specversion: '1.0', id: 'ce', source: 's', type: 't' }, contentType: 'application/cloudevents+json' },
      ]),
      { 'content-type': 'application/json' },
    );
    assert.equal(ok.status, 204, ok.body.toString());
    assert.equal((await post(sidecar, '/v1.0-alpha1/publish/bulk/pubsub/orders', 'null')).status, 204);
    assert.equal((await post(sidecar, '/v1.0-alpha1/publish/bulk/pubsub/orders', '[]', {}, 'PUT')).status, 204);
  });

  it('answers bad bulk requests with daprd\'s status and error body', async () => {
    const bulk = (path: string, body: string) => post(sidecar, path, body, { 'content-type': 'application/json' });
    const malformed = await bulk('/v1.0-alpha1/publish/bulk/pubsub/orders', '{"not":"a list"}');
    assert.equal(malformed.status, 400);
    assert.equal(errorOf(malformed).errorCode, 'ERR_PUBSUB_EVENTS_SER');
    assert.match(errorOf(malformed).message, /^error when unmarshaling the request for topic orders pubsub pubsub: /);
    const notJson = await bulk('/v1.0-alpha1/publish/bulk/pubsub/orders', '[{');
    assert.equal(notJson.status, 400);
    assert.equal(errorOf(notJson).errorCode, 'ERR_PUBSUB_EVENTS_SER');
    const duplicate = await bulk('/v1.0-alpha1/publish/bulk/pubsub/orders', JSON.stringify([
      { entryId: 'a', event: 'x', contentType: 'text/plain' },
      { entryId: 'a', event: 'y', contentType: 'text/plain' },
    ]));
    assert.equal(duplicate.status, 400);
    assert.deepEqual(errorOf(duplicate), {
      errorCode: 'ERR_PUBSUB_EVENTS_SER',
      message: 'error marshaling events to bytes for topic orders pubsub pubsub. error: entryId is duplicated or not present for entry',
    });
    const missingId = await bulk('/v1.0-alpha1/publish/bulk/pubsub/orders', JSON.stringify([{ event: 'x', contentType: 'text/plain' }]));
    assert.equal(missingId.status, 400);
    assert.equal(errorOf(missingId).errorCode, 'ERR_PUBSUB_EVENTS_SER');
    for (const [event, contentType] of [[{ a: 1 }, 'text/plain'], ['not base64!', 'application/octet-stream'], ['x', 'image/png'], ['x', '']] as const) {
      const mismatch = await bulk('/v1.0-alpha1/publish/bulk/pubsub/orders', JSON.stringify([{ entryId: '1', event, contentType }]));
      assert.equal(mismatch.status, 400, `${contentType}: ${mismatch.body.toString()}`);
      assert.match(errorOf(mismatch).message, /^error when marshalling cloud event envelope for topic orders pubsub pubsub: error: /);
    }
    const unknownFirst = await bulk('/v1.0-alpha1/publish/bulk/nope/orders', '[{');
    assert.equal(unknownFirst.status, 404, 'an unknown pub/sub is reported before the body is read');
    assert.equal(errorOf(unknownFirst).errorCode, 'ERR_PUBSUB_NOT_FOUND');
    const badRaw = await bulk('/v1.0-alpha1/publish/bulk/pubsub/orders?metadata.rawPayload=2', '[{');
    assert.equal(badRaw.status, 400);
    assert.equal(errorOf(badRaw).errorCode, 'ERR_PUBSUB_REQUEST_METADATA');
    const unconfigured = await post(bare, '/v1.0-alpha1/publish/bulk/pubsub/orders', '[]');
    assert.equal(unconfigured.status, 400);
    assert.equal(errorOf(unconfigured).errorCode, 'ERR_PUBSUB_NOT_CONFIGURED');
  });

  it('serves PublishEvent, BulkPublishEventAlpha1 and BulkPublishEvent over gRPC with daprd\'s status codes', async () => {
    const publish = (pubsubName: string, topic: string, client = grpcClient) =>
      daprUnary(client, 'PublishEvent', PublishEventRequestSchema, EmptySchema, create(PublishEventRequestSchema, {
        pubsubName,
        topic,
        data: Buffer.from('{"a":1}'),
        dataContentType: 'application/json',
        metadata: { ttlInSeconds: '10' },
      }));
    assert.equal((await publish('pubsub', 'orders')).code, 0);
    const unknown = await publish('nope', 'orders');
    assert.equal(unknown.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(unknown.details, 'pubsub nope is not found');
    assert.equal((await publish('pubsub', '')).code, grpc.status.INVALID_ARGUMENT);
    assert.equal((await publish('', 'orders')).code, grpc.status.INVALID_ARGUMENT);
    const bareClient = new grpc.Client(`127.0.0.1:${bare.ports.grpc}`, grpc.credentials.createInsecure());
    try {
      assert.equal((await publish('pubsub', 'orders', bareClient)).code, grpc.status.FAILED_PRECONDITION);
    } finally {
      bareClient.close();
    }
    const badEvent = await daprUnary(grpcClient, 'PublishEvent', PublishEventRequestSchema, EmptySchema, create(PublishEventRequestSchema, {
      pubsubName: 'pubsub',
      topic: 'orders',
      data: Buffer.from('nope'),
      dataContentType: 'application/cloudevents+json',
    }));
    assert.equal(badEvent.code, grpc.status.INVALID_ARGUMENT);
    assert.match(badEvent.details, /^cannot create cloudevent/);

    for (const method of ['BulkPublishEventAlpha1', 'BulkPublishEvent']) {
      const bulk = (entries: Array<{ entryId: string; event: string; contentType: string }>) =>
        daprUnary(grpcClient, method, BulkPublishRequestSchema, BulkPublishResponseSchema, create(BulkPublishRequestSchema, {
          pubsubName: 'pubsub',
          topic: 'orders',
          entries: entries.map((e) => ({ ...e, event: Buffer.from(e.event) })),
          metadata: { m: '1' },
        }));
      const ok = await bulk([
        { entryId: '1', event: '{"n":1}', contentType: 'application/json' },
        { entryId: '2', event: 'two', contentType: 'text/plain' },
      ]);
      assert.equal(ok.code, 0, `${method}: ${ok.details}`);
      assert.deepEqual(ok.response!.failedEntries, []);
      const duplicate = await bulk([
        { entryId: '1', event: 'x', contentType: 'text/plain' },
        { entryId: '1', event: 'y', contentType: 'text/plain' },
      ]);
      assert.equal(duplicate.code, grpc.status.INVALID_ARGUMENT, method);
    }
  });

  for (const protocol of [CommunicationProtocolEnum.HTTP, CommunicationProtocolEnum.GRPC]) {
    it(`serves the official SDK over ${protocol === CommunicationProtocolEnum.HTTP ? 'HTTP' : 'gRPC'}: publish and publishBulk`, async () => {
      const client = new DaprClient({
        daprHost: '127.0.0.1',
        daprPort: String(protocol === CommunicationProtocolEnum.HTTP ? sidecar.ports.http : sidecar.ports.grpc),
        communicationProtocol: protocol,
        logger: { level: 0 as never },
      });
      try {
        assert.deepEqual(await client.pubsub.publish('pubsub', 'sdk-orders', { orderId: 1 }), {});
        assert.deepEqual(await client.pubsub.publish('pubsub', 'sdk-orders', 'a string'), {});
        assert.deepEqual(await client.pubsub.publish('pubsub', 'sdk-orders', Buffer.from([1, 2, 3])), {});
        assert.deepEqual(await client.pubsub.publish('pubsub', 'sdk-orders', { specversion: '1.0', id: 'e1', source: 'sdk', type: 'order', data: { n: 1 } }), {});
        assert.deepEqual(await client.pubsub.publish('pubsub', 'sdk-orders', { orderId: 2 }, { metadata: { ttlInSeconds: '30' } }), {});
        const bulk = await client.pubsub.publishBulk('pubsub', 'sdk-orders', [
          'text',
          { orderId: 3 },
          { entryID: 'mine', event: { orderId: 4 }, contentType: 'application/json' },
          { event: 'plain', contentType: 'text/plain', metadata: { m: '1' } },
        ]);
        assert.deepEqual(bulk, { failedMessages: [] });
      } finally {
        await client.stop();
      }
    });
  }
});
