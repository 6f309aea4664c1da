import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import type { Binding, InvokeResponse, OutputBinding } from '../components/bindings/bindings.js';
import '../components/bindings/redis.js';
import { invokeBinding, responseMetadata } from './support/bindings-client.js';
import { restartBroker } from './support/brokers.js';
import { createComponent } from './support/components.js';
import { eventually } from './support/eventually.js';
import { closeHttpAgent, json } from './support/http.js';
import { componentYaml } from './support/resources.js';
import { serviceAvailable } from './support/services.js';
import { startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';
import { TcpRelay } from './support/tcp-relay.js';

const REDIS_PORT = 6379;
const REDIS_HOST = `127.0.0.1:${REDIS_PORT}`;
const RUN = randomBytes(5).toString('hex');
const PREFIX = `pillion-bind-redis-${RUN}-`;

let counter = 0;
const uniqueKey = (name: string): string => `${PREFIX}${name}-${++counter}`;
const bytes = (text: string): Uint8Array => Buffer.from(text);
const textOf = (response: InvokeResponse | null): string | undefined => (response === null ? undefined : Buffer.from(response.data).toString());

/** Clients of the test's own, to look at what the binding wrote; they connect (and reconnect) by themselves. */
const raw = new Redis({ host: '127.0.0.1', port: REDIS_PORT });
const rawDb1 = new Redis({ host: '127.0.0.1', port: REDIS_PORT, db: 1 });
// Their reconnection while a test restarts Redis is expected; it must not be reported as unhandled.
for (const client of [raw, rawDb1]) client.on('error', () => undefined);

async function openBinding(t: TestContext, properties: Record<string, string> = {}): Promise<{ binding: Binding; output: OutputBinding; capabilities: string[] }> {
  const { instance, info } = await createComponent('bindings', 'bindings.redis', { redisHost: REDIS_HOST, ...properties }, { initTimeoutMs: 5000 });
  t.after(() => instance.close?.());
  assert.ok(instance.output !== undefined);
  return { binding: instance, output: instance.output, capabilities: info.capabilities };
}

function call(output: OutputBinding, operation: string, metadata: Record<string, string>, data = 'null'): Promise<InvokeResponse | null> {
  return output.invoke({ operation, data: bytes(data), metadata });
}

after(async () => {
  for (const client of [raw, rawDb1]) {
    if (client.status === 'ready') {
      const leftovers = await client.keys(`${PREFIX}*`);
      if (leftovers.length > 0) await client.del(...leftovers);
    }
    client.disconnect();
  }
  closeHttpAgent();
});

describe('bindings.redis operations', () => {
  it('is an output binding with daprd operations', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const { binding, output, capabilities } = await openBinding(t);
    assert.deepEqual(capabilities, ['OUTPUT_BINDING']);
    assert.equal(binding.input, undefined);
    assert.deepEqual([...output.operations()], ['create', 'get', 'delete', 'increment']);
  });

  it('create stores the data bytes as they arrive and overwrites; get answers them', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const { output } = await openBinding(t);
    const key = uniqueKey('create');
    assert.equal(await call(output, 'create', { key }, '{"Hello":"World"}'), null);
    assert.equal(await raw.get(key), '{"Hello":"World"}');
    assert.equal(await call(output, 'create', { key }, '"a string"'), null);
    assert.equal(await raw.get(key), '"a string"');
    const found = await call(output, 'get', { key });
    assert.equal(textOf(found), '"a string"');
    assert.deepEqual(found!.metadata, {});
  });

  it('keeps binary data byte-exact', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const { output } = await openBinding(t);
    const key = uniqueKey('binary');
    const value = Uint8Array.from({ length: 256 }, (_, i) => i);
    await output.invoke({ operation: 'create', data: value.subarray(16, 48), metadata: { key } });
    const found = await call(output, 'get', { key });
    assert.deepEqual(Buffer.from(found!.data), Buffer.from(value.subarray(16, 48)));
  });

  it('create with ttlInSeconds sets an expiry; a create without it removes the expiry', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const { output } = await openBinding(t);
    const key = uniqueKey('ttl');
    await call(output, 'create', { key, ttlInSeconds: '100' }, '1');
    const ttl = await raw.ttl(key);
    assert.ok(ttl > 90 && ttl <= 100, `ttl ${ttl}`);
    await call(output, 'create', { key }, '2');
    assert.equal(await raw.ttl(key), -1);

    const shortLived = uniqueKey('expires');
    await call(output, 'create', { key: shortLived, ttlInSeconds: '1' }, '"soon gone"');
    await eventually(5000, async () => assert.equal(textOf(await call(output, 'get', { key: shortLived })), ''));
  });

  it('rejects a ttlInSeconds that is not an integer and writes nothing', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const { output } = await openBinding(t);
    const key = uniqueKey('bad-ttl');
    for (const ttlInSeconds of ['soon', '1.5', '-2']) {
      await assert.rejects(call(output, 'create', { key, ttlInSeconds }, '1'), /incorrect value for metadata 'ttlInSeconds'/);
      await assert.rejects(call(output, 'increment', { key, ttlInSeconds }), /incorrect value for metadata 'ttlInSeconds'/);
    }
    assert.equal(await raw.exists(key), 0);
  });

  it('get of a missing key answers an empty response, as daprd does', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const { output } = await openBinding(t);
    const found = await call(output, 'get', { key: uniqueKey('missing') });
    assert.ok(found !== null);
    assert.equal(found.data.length, 0);
    assert.deepEqual(found.metadata, {});
  });

  it('get with delete "true" reads and removes the key in one step; other values keep it', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const { output } = await openBinding(t);
    const key = uniqueKey('getdel');
    await call(output, 'create', { key }, '"once"');
    assert.equal(textOf(await call(output, 'get', { key, delete: 'false' })), '"once"');
    assert.equal(await raw.exists(key), 1);
    assert.equal(textOf(await call(output, 'get', { key, delete: 'true' })), '"once"');
    assert.equal(await raw.exists(key), 0);
    assert.equal(textOf(await call(output, 'get', { key, delete: 'true' })), '');
  });

  it('delete succeeds whether or not the key exists', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const { output } = await openBinding(t);
    const key = uniqueKey('delete');
    await call(output, 'create', { key }, '1');
    assert.equal(await call(output, 'delete', { key }), null);
    assert.equal(await raw.exists(key), 0);
    assert.equal(await call(output, 'delete', { key }), null);
  });

  it('increment counts from zero, applies ttlInSeconds, and leaves a non-integer value alone', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const { output } = await openBinding(t);
    const key = uniqueKey('counter');
    assert.equal(await call(output, 'increment', { key }), null);
    assert.equal(await call(output, 'increment', { key }), null);
    assert.equal(await raw.get(key), '2');
    assert.equal(await raw.ttl(key), -1);
    await call(output, 'increment', { key, ttlInSeconds: '100' });
    assert.equal(await raw.get(key), '3');
    assert.ok((await raw.ttl(key)) > 90);
    // What create stored, get answers: the counter as its digits.
    assert.equal(textOf(await call(output, 'get', { key })), '3');

    const word = uniqueKey('word');
    await call(output, 'create', { key: word }, '"not a number"');
    await assert.rejects(call(output, 'increment', { key: word, ttlInSeconds: '100' }), /not an integer/);
    assert.equal(await raw.get(word), '"not a number"');
    assert.equal(await raw.ttl(word), -1, 'a failed increment must not set an expiry');
  });

  it('requires the key metadata for every operation', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const { output } = await openBinding(t);
    for (const operation of output.operations()) {
      await assert.rejects(call(output, operation, {}), /missing key in request metadata/);
      await assert.rejects(call(output, operation, { key: '' }), /missing key in request metadata/);
    }
  });

  it('passes Redis errors on: a key of another type', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const { output } = await openBinding(t);
    const key = uniqueKey('hash');
    await raw.hset(key, 'field', 'value');
    await assert.rejects(call(output, 'get', { key }), /WRONGTYPE/);
    await assert.rejects(call(output, 'increment', { key }), /WRONGTYPE/);
    // SET replaces any type, as Redis does.
    await call(output, 'create', { key }, '"now a string"');
    assert.equal(await raw.get(key), '"now a string"');
  });

  it('uses the database redisDB names', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const { output } = await openBinding(t, { redisDB: '1' });
    const key = uniqueKey('db1');
    await call(output, 'create', { key }, '"in db 1"');
    assert.equal(await raw.exists(key), 0);
    assert.equal(await rawDb1.get(key), '"in db 1"');
  });

  it('fails start-up on bad settings', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    await assert.rejects(createComponent('bindings', 'bindings.redis', {}), /metadata "redisHost" is required/);
    await assert.rejects(createComponent('bindings', 'bindings.redis', { redisHost: REDIS_HOST, redisMaxRetries: 'many' }), /metadata "redisMaxRetries" must be an integer/);
    await assert.rejects(
      createComponent('bindings', 'bindings.redis', { redisHost: REDIS_HOST, redisUsername: 'nobody', redisPassword: 'wrong' }),
      /init failed: cannot connect to Redis at 127\.0\.0\.1:6379: WRONGPASS/,
    );
  });
});

describe('bindings.redis while Redis comes and goes', () => {
  /** Every operation fails at once with the reason while the connection is down. */
  async function assertFailsFast(output: OutputBinding, key: string, unavailable: RegExp): Promise<void> {
    for (const [operation, metadata] of [
      ['create', { key }],
      ['get', { key }],
      ['delete', { key }],
      ['increment', { key: `${key}-n` }],
    ] as const) {
      const started = performance.now();
      await assert.rejects(call(output, operation, metadata), unavailable);
      assert.ok(performance.now() - started < 100, `${operation} must not wait while Redis is away`);
    }
  }

  it('fails fast while the connection is cut and works again once it is back', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const relay = new TcpRelay(REDIS_PORT);
    await relay.start();
    t.after(() => relay.stop());
    const { output } = await openBinding(t, { redisHost: `127.0.0.1:${relay.port}` });
    const key = uniqueKey('cut');
    await call(output, 'create', { key }, '"before"');

    await relay.stop();
    const unavailable = new RegExp(`bindings\\.redis: Redis at 127\\.0\\.0\\.1:${relay.port} is unavailable`);
    await eventually(2000, () => assert.rejects(call(output, 'get', { key }), unavailable));
    await assertFailsFast(output, key, unavailable);

    await relay.start();
    await eventually(10_000, () => call(output, 'create', { key }, '"after"'));
    assert.equal(textOf(await call(output, 'get', { key })), '"after"');
  });

  it('starts while Redis is unreachable and connects once it is there', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const relay = await TcpRelay.reserve(REDIS_PORT);
    t.after(() => relay.stop());
    const started = performance.now();
    const { output } = await openBinding(t, { redisHost: `127.0.0.1:${relay.port}` });
    assert.ok(performance.now() - started < 1000, 'a refused connection must not hold start-up');
    const key = uniqueKey('late');
    await assertFailsFast(output, key, /is unavailable: .*ECONNREFUSED/);
    await relay.start();
    await eventually(10_000, () => call(output, 'create', { key }, '"connected"'));
    assert.equal(await raw.get(key), '"connected"');
  });

  it('fails while the Redis server restarts and works again after', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const { output } = await openBinding(t);
    const key = uniqueKey('restart');
    await call(output, 'create', { key }, '"before"');
    let failedMeanwhile: Error | undefined;
    const restart = restartBroker('redis', 1500);
    // Calls made while the server is down fail with the reason rather than hanging until it is back.
    const watch = eventually(20_000, async () => {
      await call(output, 'get', { key }).then(
        () => assert.fail('still answering'),
        (err: unknown) => {
          failedMeanwhile = err as Error;
        },
      );
    });
    await Promise.all([restart, watch]);
    assert.match(failedMeanwhile!.message, /is unavailable/);
    await eventually(15_000, () => call(output, 'create', { key }, '"after"'));
    assert.equal(textOf(await call(output, 'get', { key })), '"after"');
  });
});

describe('bindings.redis through the sidecar', () => {
  const registry = tempDir('bind-redis-registry');
  const resources = tempDir('bind-redis-res');
  let relay: TcpRelay;
  let sidecar: SidecarProcess | undefined;

  before(async () => {
    relay = await TcpRelay.reserve(REDIS_PORT);
    await relay.start();
    writeFileSync(join(resources.path, 'components.yaml'), componentYaml({ name: 'cache', type: 'bindings.redis', metadata: { redisHost: `127.0.0.1:${relay.port}` } }));
    sidecar = await startSidecar({ appId: `bind-redis-${RUN}`, registryDir: registry.path, args: ['--resources-path', resources.path] });
  });

  after(async () => {
    await sidecar?.stop();
    await relay?.stop();
    registry.remove();
    resources.remove();
  });

  it('answers create and delete with 204, get with 200 and the stored JSON', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const key = uniqueKey('http');
    const created = await invokeBinding(sidecar!, 'cache', { operation: 'create', data: { Hello: 'World' }, metadata: { key, ttlInSeconds: '100' } });
    assert.equal(created.status, 204);
    assert.equal(created.body.length, 0);
    assert.equal(await raw.get(key), '{"Hello":"World"}');
    assert.ok((await raw.ttl(key)) > 90);

    const found = await invokeBinding(sidecar!, 'cache', { operation: 'get', metadata: { key } });
    assert.equal(found.status, 200);
    assert.deepEqual(json(found), { Hello: 'World' });
    assert.deepEqual(responseMetadata(found), {});

    // A JSON string arrives quoted, is stored quoted and comes back as the same JSON string.
    await invokeBinding(sidecar!, 'cache', { operation: 'create', data: 'plain text', metadata: { key } });
    assert.equal(await raw.get(key), '"plain text"');
    assert.equal(json(await invokeBinding(sidecar!, 'cache', { operation: 'get', metadata: { key } })), 'plain text');

    const removed = await invokeBinding(sidecar!, 'cache', { operation: 'get', metadata: { key, delete: 'true' } });
    assert.equal(removed.status, 200);
    assert.equal(json(removed), 'plain text');
    const missing = await invokeBinding(sidecar!, 'cache', { operation: 'get', metadata: { key } });
    assert.equal(missing.status, 200);
    assert.equal(missing.body.length, 0);

    assert.equal((await invokeBinding(sidecar!, 'cache', { operation: 'delete', metadata: { key } })).status, 204);
  });

  it('answers increment with 204 and counts', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const key = uniqueKey('http-counter');
    for (let i = 0; i < 3; i++) assert.equal((await invokeBinding(sidecar!, 'cache', { operation: 'increment', metadata: { key } })).status, 204);
    assert.equal(json(await invokeBinding(sidecar!, 'cache', { operation: 'get', metadata: { key } })), 3);
  });

  it('answers 500 ERR_INVOKE_OUTPUT_BINDING for a missing key and an unknown operation', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const noKey = await invokeBinding(sidecar!, 'cache', { operation: 'create', data: 1 });
    assert.equal(noKey.status, 500);
    assert.equal((json(noKey) as { errorCode: string }).errorCode, 'ERR_INVOKE_OUTPUT_BINDING');
    assert.match((json(noKey) as { message: string }).message, /missing key in request metadata/);
    const unknown = await invokeBinding(sidecar!, 'cache', { operation: 'expire', metadata: { key: uniqueKey('x') } });
    assert.equal(unknown.status, 500);
    assert.match((json(unknown) as { message: string }).message, /does not support operation expire/);
  });

  it('answers 500 while Redis is away and 200 again once it is back', async (t) => {
    if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
    const key = uniqueKey('http-outage');
    assert.equal((await invokeBinding(sidecar!, 'cache', { operation: 'create', data: 'before', metadata: { key } })).status, 204);
    await relay.stop();
    const failed = await eventually(2000, async () => {
      const result = await invokeBinding(sidecar!, 'cache', { operation: 'get', metadata: { key } });
      assert.equal(result.status, 500);
      return result;
    });
    assert.match((json(failed) as { message: string }).message, /Redis at 127\.0\.0\.1:\d+ is unavailable/);
    await relay.start();
    const back = await eventually(10_000, async () => {
      const result = await invokeBinding(sidecar!, 'cache', { operation: 'get', metadata: { key } });
      assert.equal(result.status, 200);
      return result;
    });
    assert.equal(json(back), 'before');
  });
});
