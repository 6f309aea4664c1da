import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommunicationProtocolEnum, DaprClient } from '@dapr/dapr';
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { EmptySchema } from '@bufbuild/protobuf/wkt';
import {
  ExecuteStateTransactionRequestSchema,
  GetStateRequestSchema,
  GetStateResponseSchema,
  QueryStateRequestSchema,
  QueryStateResponseSchema,
  SaveStateRequestSchema,
} from '../gen/proto/dapr/proto/runtime/v1/state_pb.js';
import { closeHttpAgent, http, json, type HttpResult } from './support/http.js';
import { componentYaml } from './support/resources.js';
import { startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';

const COMPONENTS = componentYaml(
  { name: 'statestore', type: 'state.in-memory' },
  { name: 'shared', type: 'state.in-memory', metadata: { keyPrefix: 'none' } },
);

function errorCode(res: HttpResult): string {
  return (json(res) as { errorCode: string }).errorCode;
}

function post(sidecar: SidecarProcess, path: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
  return http(sidecar.url(path), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

describe('state on the embedded SQLite store', () => {
  it('keeps an acknowledged write across a sidecar killed with SIGKILL', async () => {
    const registry = tempDir('sqlite-state');
    const resources = tempDir('sqlite-res');
    const data = tempDir('sqlite-data');
    try {
      writeFileSync(
        join(resources.path, 'sqlite.yaml'),
        componentYaml({ name: 'durable', type: 'state.sqlite', metadata: { connectionString: join(data.path, 'state.db') } }),
      );
      const args = ['--resources-path', resources.path];
      const first = await startSidecar({ appId: 'keeper', registryDir: registry.path, args });
      assert.equal((await post(first, '/v1.0/state/durable', [{ key: 'k', value: { kept: true } }])).status, 204);
      await first.stop('SIGKILL');
      const second = await startSidecar({ appId: 'keeper', registryDir: registry.path, args });
      try {
        const res = await http(second.url('/v1.0/state/durable/k'));
        assert.equal(res.status, 200);
        assert.deepEqual(json(res), { kept: true });
      } finally {
        await second.stop();
      }
    } finally {
      closeHttpAgent();
      registry.remove();
      resources.remove();
      data.remove();
    }
  });
});

describe('state API through a running sidecar', () => {
  const registry = tempDir('state');
  const resources = tempDir('state-res');
  let sidecar: SidecarProcess;
  let bare: SidecarProcess;

  before(async () => {
    writeFileSync(join(resources.path, 'components.yaml'), COMPONENTS);
    sidecar = await startSidecar({ appId: 'stateful', registryDir: registry.path, args: ['--resources-path', resources.path] });
    bare = await startSidecar({ appId: 'stateless', registryDir: registry.path });
  });

  after(async () => {
    await Promise.all([sidecar?.stop(), bare?.stop()]);
    closeHttpAgent();
    registry.remove();
    resources.remove();
  });

  it('saves and reads values as daprd stores them', async () => {
    const save = await post(sidecar, '/v1.0/state/statestore', [
      { key: 'obj', value: { b: 1, a: 'x<y' } },
      { key: 'str', value: 'abc' },
      { Key: 'num', Value: 42, Metadata: null },
    ]);
    assert.equal(save.status, 204);
    const obj = await http(sidecar.url('/v1.0/state/statestore/obj'));
    assert.equal(obj.status, 200);
    assert.equal(obj.headers['content-type'], 'application/json');
    assert.equal(obj.body.toString(), '{"a":"x\\u003cy","b":1}');
    assert.ok(typeof obj.headers.etag === 'string' && obj.headers.etag !== '');
    assert.equal((await http(sidecar.url('/v1.0/state/statestore/str'))).body.toString(), '"abc"');
    assert.equal((await http(sidecar.url('/v1.0/state/statestore/num'))).body.toString(), '42');
    const missing = await http(sidecar.url('/v1.0/state/statestore/nothing'));
    assert.equal(missing.status, 204);
    assert.equal(missing.body.length, 0);
  });

  it('enforces ETags on save and delete: 409 on mismatch, 400 on an invalid one', async () => {
    await post(sidecar, '/v1.0/state/statestore', [{ key: 'e', value: 1 }]);
    const etag = String((await http(sidecar.url('/v1.0/state/statestore/e'))).headers.etag);
    const stale = await post(sidecar, '/v1.0/state/statestore', [{ key: 'e', value: 2, etag: etag + '0' }]);
    assert.equal(stale.status, 409);
    assert.equal(errorCode(stale), 'ERR_STATE_SAVE');
    const invalid = await post(sidecar, '/v1.0/state/statestore', [{ key: 'e', value: 2, etag: 'not-an-etag' }]);
    assert.equal(invalid.status, 400);
    assert.equal((await post(sidecar, '/v1.0/state/statestore', [{ key: 'e', value: 2, etag }])).status, 204);
    const wrongDelete = await http(sidecar.url('/v1.0/state/statestore/e'), { method: 'DELETE', headers: { 'if-match': etag } });
    assert.equal(wrongDelete.status, 409);
    assert.equal(errorCode(wrongDelete), 'ERR_STATE_DELETE');
    const current = String((await http(sidecar.url('/v1.0/state/statestore/e'))).headers.etag);
    assert.equal((await http(sidecar.url('/v1.0/state/statestore/e'), { method: 'DELETE', headers: { 'if-match': current } })).status, 204);
    assert.equal((await http(sidecar.url('/v1.0/state/statestore/e'))).status, 204);
  });

  it('honours first-write concurrency', async () => {
    const options = { concurrency: 'first-write', consistency: 'strong' };
    assert.equal((await post(sidecar, '/v1.0/state/statestore', [{ key: 'fw', value: 1, options }])).status, 204);
    const again = await post(sidecar, '/v1.0/state/statestore', [{ key: 'fw', value: 2, options }]);
    assert.equal(again.status, 409);
    const bad = await post(sidecar, '/v1.0/state/statestore', [{ key: 'fw', value: 2, options: { concurrency: 'sometimes' } }]);
    assert.equal(bad.status, 400);
  });

  it('bulk-gets in request order with absent keys reduced to their key', async () => {
    await post(sidecar, '/v1.0/state/statestore', [{ key: 'b1', value: { n: 1 } }, { key: 'b2', value: 'two' }]);
    const res = await post(sidecar, '/v1.0/state/statestore/bulk', { keys: ['b2', 'none', 'b1'], parallelism: 2 });
    assert.equal(res.status, 200);
    const items = json(res) as Array<{ key: string; data?: unknown; etag?: string }>;
    assert.deepEqual(items.map((i) => [i.key, i.data]), [['b2', 'two'], ['none', undefined], ['b1', { n: 1 }]]);
    assert.ok(items[0]!.etag !== undefined);
  });

  it('runs transactions atomically and reports failures as ERR_STATE_TRANSACTION', async () => {
    await post(sidecar, '/v1.0/state/statestore', [{ key: 't1', value: 'old' }]);
    const ok = await post(sidecar, '/v1.0/state/statestore/transaction', {
      operations: [
        { operation: 'upsert', request: { key: 't2', value: 'new' } },
        { operation: 'delete', request: { key: 't1' } },
      ],
      metadata: null,
    });
    assert.equal(ok.status, 204);
    assert.equal((await http(sidecar.url('/v1.0/state/statestore/t1'))).status, 204);
    const failing = await post(sidecar, '/v1.0/state/statestore/transaction', {
      operations: [
        { operation: 'upsert', request: { key: 't3', value: 'x' } },
        { operation: 'upsert', request: { key: 't2', value: 'y', etag: '999999' } },
      ],
    });
    assert.equal(failing.status, 500);
    assert.equal(errorCode(failing), 'ERR_STATE_TRANSACTION');
    assert.equal((await http(sidecar.url('/v1.0/state/statestore/t3'))).status, 204, 'nothing applied');
    const unsupported = await post(sidecar, '/v1.0/state/statestore/transaction', { operations: [{ operation: 'merge', request: { key: 'x' } }] });
    assert.equal(unsupported.status, 400);
    assert.equal(errorCode(unsupported), 'ERR_NOT_SUPPORTED_STATE_OPERATION');
  });

  it('passes TTL metadata and reports the expiry time', async () => {
    assert.equal((await post(sidecar, '/v1.0/state/statestore?metadata.ttlInSeconds=60', [{ key: 'ttl', value: 1 }])).status, 204);
    const res = await http(sidecar.url('/v1.0/state/statestore/ttl'));
    assert.ok(Date.parse(String(res.headers['metadata.ttlexpiretime'])) > Date.now());
  });

  it('prefixes keys per app, or not at all with keyPrefix none', async () => {
    const other = await startSidecar({ appId: 'neighbour', registryDir: registry.path, args: ['--resources-path', resources.path] });
    try {
      await post(sidecar, '/v1.0/state/statestore', [{ key: 'mine', value: 1 }]);
      // Each sidecar has its own in-memory store, so this checks the prefix through bulk answers instead.
      await post(sidecar, '/v1.0/state/shared', [{ key: 'plain', value: 1 }]);
      const items = json(await post(sidecar, '/v1.0/state/shared/bulk', { keys: ['plain'] })) as Array<{ key: string }>;
      assert.equal(items[0]!.key, 'plain');
    } finally {
      await other.stop();
    }
  });

  it('queries JSON values with filters, sorting and paging', async () => {
    const people = [
      { key: 'p1', value: { person: { org: 'dev', id: 3 }, city: 'Oslo' } },
      { key: 'p2', value: { person: { org: 'ops', id: 1 }, city: 'Rome' } },
      { key: 'p3', value: { person: { org: 'dev', id: 2 }, city: 'Lima' } },
    ];
    assert.equal((await post(sidecar, '/v1.0/state/shared', people)).status, 204);
    const byOrg = await post(sidecar, '/v1.0-alpha1/state/shared/query', {
      filter: { EQ: { 'person.org': 'dev' } },
      sort: [{ key: 'person.id', order: 'DESC' }],
    });
    assert.equal(byOrg.status, 200);
    const body = json(byOrg) as { results: Array<{ key: string; data: { person: { id: number } }; etag: string }> };
    assert.deepEqual(body.results.map((r) => r.key), ['p1', 'p3']);
    assert.equal(body.results[0]!.data.person.id, 3);
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = json(await post(sidecar, '/v1.0-alpha1/state/shared/query', {
        filter: { IN: { city: ['Oslo', 'Rome', 'Lima'] } },
        sort: [{ key: 'person.id' }],
        page: { limit: 2, ...(token === undefined ? {} : { token }) },
      })) as { results: Array<{ key: string }>; token?: string };
      seen.push(...page.results.map((r) => r.key));
      token = page.token;
    } while (token !== undefined);
    assert.deepEqual(seen, ['p2', 'p3', 'p1']);
    const bad = await post(sidecar, '/v1.0-alpha1/state/shared/query', { filter: { NOPE: {} } });
    assert.equal(bad.status, 500);
    assert.equal(errorCode(bad), 'ERR_STATE_QUERY');
  });

  it('answers bad input with Dapr errors', async () => {
    const malformed = await post(sidecar, '/v1.0/state/statestore', '[{"key": "a", "value": ');
    assert.equal(malformed.status, 400);
    assert.equal(errorCode(malformed), 'ERR_MALFORMED_REQUEST');
    const notArray = await post(sidecar, '/v1.0/state/statestore', { key: 'a', value: 1 });
    assert.equal(notArray.status, 400);
    const pipes = await post(sidecar, '/v1.0/state/statestore', [{ key: 'a||b', value: 1 }]);
    assert.equal(pipes.status, 400);
    assert.equal(errorCode(pipes), 'ERR_MALFORMED_REQUEST');
    const noKey = await post(sidecar, '/v1.0/state/statestore', [{ value: 1 }]);
    assert.equal(noKey.status, 400);
    const unknown = await http(sidecar.url('/v1.0/state/nostore/k'));
    assert.equal(unknown.status, 400);
    assert.equal(errorCode(unknown), 'ERR_STATE_STORE_NOT_FOUND');
    const unconfigured = await http(bare.url('/v1.0/state/statestore/k'));
    assert.equal(unconfigured.status, 500);
    assert.equal(errorCode(unconfigured), 'ERR_STATE_STORE_NOT_CONFIGURED');
    const badConsistency = await http(sidecar.url('/v1.0/state/statestore/k?consistency=sometimes'));
    assert.equal(badConsistency.status, 400);
    assert.equal((await post(sidecar, '/v1.0/state/statestore', [])).status, 204);
  });

  it('answers gRPC state calls with daprd status codes, and queries over gRPC', async () => {
    const raw = new grpc.Client(`127.0.0.1:${sidecar.ports.grpc}`, grpc.credentials.createInsecure());
    const call = <I extends DescMessage, O extends DescMessage>(method: string, input: I, output: O, request: MessageShape<I>) =>
      new Promise<{ code: number; response?: MessageShape<O> }>((resolve) => {
        raw.makeUnaryRequest(
          `/dapr.proto.runtime.v1.Dapr/${method}`,
          (value: MessageShape<I>) => Buffer.from(toBinary(input, value)),
          (bytes: Buffer) => fromBinary(output, bytes),
          request,
          (err, response) => resolve({ code: err?.code ?? 0, response: response as MessageShape<O> | undefined }),
        );
      });
    const save = (states: Array<{ key: string; value: string; etag?: string }>, storeName = 'statestore') =>
      call('SaveState', SaveStateRequestSchema, EmptySchema, create(SaveStateRequestSchema, {
        storeName,
        states: states.map((st) => ({ key: st.key, value: Buffer.from(st.value), ...(st.etag === undefined ? {} : { etag: { value: st.etag } }) })),
      }));
    try {
      assert.equal((await save([{ key: 'raw', value: '\u0000binary' }])).code, 0);
      const got = await call('GetState', GetStateRequestSchema, GetStateResponseSchema, create(GetStateRequestSchema, { storeName: 'statestore', key: 'raw' }));
      assert.equal(Buffer.from(got.response!.data).toString(), '\u0000binary', 'gRPC values are stored verbatim');
      const etag = got.response!.etag;
      assert.equal((await save([{ key: 'raw', value: 'x', etag: String(Number(etag) + 100) }])).code, grpc.status.ABORTED);
      assert.equal((await save([{ key: 'raw', value: 'x', etag: 'garbage' }])).code, grpc.status.INVALID_ARGUMENT);
      assert.equal((await save([{ key: 'raw', value: 'x' }], 'nostore')).code, grpc.status.INVALID_ARGUMENT);
      const failedTx = await call('ExecuteStateTransaction', ExecuteStateTransactionRequestSchema, EmptySchema, create(ExecuteStateTransactionRequestSchema, {
        storeName: 'statestore',
        operations: [{ operationType: 'upsert', request: { key: 'raw', value: Buffer.from('y'), etag: { value: String(Number(etag) + 100) } } }],
      }));
      assert.equal(failedTx.code, grpc.status.INTERNAL);
      await post(sidecar, '/v1.0/state/shared', [{ key: 'q1', value: { kind: 'grpc-query', n: 1 } }]);
      const queried = await call('QueryStateAlpha1', QueryStateRequestSchema, QueryStateResponseSchema, create(QueryStateRequestSchema, {
        storeName: 'shared',
        query: JSON.stringify({ filter: { EQ: { kind: 'grpc-query' } } }),
      }));
      assert.equal(queried.code, 0);
      assert.deepEqual(queried.response!.results.map((r) => r.key), ['q1']);
    } finally {
      raw.close();
    }
  });

  it('serves the official SDK over gRPC: save, get, bulk, delete, transaction', async () => {
    const client = new DaprClient({
      daprHost: '127.0.0.1',
      daprPort: String(sidecar.ports.grpc),
      communicationProtocol: CommunicationProtocolEnum.GRPC,
      logger: { level: 0 as never },
    });
    try {
      await client.state.save('statestore', [
        { key: 'g1', value: { hello: 'grpc' } },
        { key: 'g2', value: 'text' },
      ]);
      assert.deepEqual(await client.state.get('statestore', 'g1'), { hello: 'grpc' });
      const bulk = (await client.state.getBulk('statestore', ['g1', 'g2'])) as Array<{ key: string; data: unknown }>;
      assert.deepEqual(bulk.map((b) => b.key).sort(), ['g1', 'g2']);
      await client.state.transaction('statestore', [
        { operation: 'delete', request: { key: 'g1' } },
        { operation: 'upsert', request: { key: 'g3', value: 'three' } },
      ]);
      assert.equal(await client.state.get('statestore', 'g1'), '');
      assert.equal(await client.state.get('statestore', 'g3'), 'three');
      await client.state.delete('statestore', 'g3');
      assert.equal(await client.state.get('statestore', 'g3'), '');
      await assert.rejects(client.state.get('nostore', 'x'), /not found|INVALID_ARGUMENT|invalid_argument/i);
    } finally {
      await client.stop();
    }
  });
});
