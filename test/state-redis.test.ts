import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import type { ComponentMetadata } from '../components/registry.js';
import { parseRedisSettings } from '../components/state/redis/connection.js';
import { RedisStateStore } from '../components/state/redis/store.js';
import { ETagInvalidError, ETagMismatchError, isTransactional, stateCapabilities, type Store } from '../components/state/store.js';
import { eventually } from './support/eventually.js';
import { serviceAvailable } from './support/services.js';
import { describeStateConformance } from './support/state-conformance.js';
import { TcpRelay } from './support/tcp-relay.js';
import { createComponent } from './support/components.js';

const REDIS_PORT = 6379;
const REDIS_HOST = `127.0.0.1:${REDIS_PORT}`;
const FIRST_WRITE = { concurrency: 'first-write' } as const;

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined): string | undefined => (data === undefined ? undefined : Buffer.from(data).toString('utf8'));

function componentMeta(properties: Record<string, string>): ComponentMetadata {
  return { name: 'redis-test', type: 'state.redis', version: 'v1', properties };
}

/** A store connected to `redisHost`, closed when the test ends. */
async function openStore(t: TestContext, properties: Record<string, string> = {}): Promise<RedisStateStore> {
  const store = await RedisStateStore.open(parseRedisSettings(componentMeta({ redisHost: REDIS_HOST, ...properties })));
  t.after(() => store.close());
  return store;
}

async function createFromRegistry(properties: Record<string, string>, initTimeoutMs = 5000): Promise<{ store: Store; capabilities: string[] }> {
  const { instance, info } = await createComponent('state', 'state.redis', properties, { initTimeoutMs });
  return { store: instance, capabilities: info.capabilities };
}

test('state.redis', { timeout: 120_000 }, async (t) => {
  if (!(await serviceAvailable(t, 'Redis', REDIS_PORT))) return;
  const prefix = `pillion-redis-test-${randomBytes(6).toString('hex')}||`;
  const raw = new Redis({ host: '127.0.0.1', port: REDIS_PORT, lazyConnect: true });
  await raw.connect();
  const rawDb1 = new Redis({ host: '127.0.0.1', port: REDIS_PORT, db: 1, lazyConnect: true });
  await rawDb1.connect();
  t.after(async () => {
    for (const client of [raw, rawDb1]) {
      const leftovers = await client.keys(`${prefix}*`);
      if (leftovers.length > 0) await client.del(...leftovers);
      await client.quit();
    }
  });
  let counter = 0;
  const key = (name: string): string => `${prefix}${name}-${++counter}`;

  await t.test('gets, sets and deletes byte-exact binary values', async (t) => {
    const store = await openStore(t);
    const k = key('binary');
    assert.equal(await store.get({ key: k }), null);
    const value = Uint8Array.from({ length: 256 }, (_, i) => i);
    await store.set({ key: k, value });
    value.fill(0);
    const found = await store.get({ key: k });
    assert.deepEqual(Buffer.from(found!.data), Buffer.from(Uint8Array.from({ length: 256 }, (_, i) => i)));
    assert.equal(found!.etag, '1');
    assert.equal(found!.metadata, undefined);
    await store.set({ key: k, value: new Uint8Array(0) });
    assert.equal((await store.get({ key: k }))!.data.length, 0);
    await store.delete({ key: k });
    assert.equal(await store.get({ key: k }), null);
    await store.delete({ key: k });
  });

  await t.test('stores entries in daprd layout: a hash of data and version', async (t) => {
    const store = await openStore(t);
    const k = key('layout');
    await store.set({ key: k, value: bytes('{"n":1}') });
    assert.equal(await raw.type(k), 'hash');
    assert.deepEqual(await raw.hgetall(k), { data: '{"n":1}', version: '1' });
    await store.set({ key: k, value: bytes('{"n":2}') });
    assert.deepEqual(await raw.hgetall(k), { data: '{"n":2}', version: '2' });
    assert.equal((await store.get({ key: k }))!.etag, '2');
  });

  await t.test('reads and writes entries daprd wrote', async (t) => {
    const store = await openStore(t);
    const k = key('daprd');
    await raw.hset(k, 'data', '"from daprd"', 'version', '5');
    const found = await store.get({ key: k });
    assert.equal(text(found!.data), '"from daprd"');
    assert.equal(found!.etag, '5');
    await assert.rejects(store.set({ key: k, value: bytes('"stale"'), etag: '4' }), ETagMismatchError);
    await store.set({ key: k, value: bytes('"from pillion"'), etag: '5' });
    assert.deepEqual(await raw.hgetall(k), { data: '"from pillion"', version: '6' });
    await assert.rejects(store.set({ key: k, value: bytes('"again"'), etag: '5' }), ETagMismatchError);
    await store.delete({ key: k, etag: '6' });
    assert.equal(await raw.exists(k), 0);
  });

  await t.test('enforces etags and rejects ones it could never issue', async (t) => {
    const store = await openStore(t);
    const k = key('etag');
    await store.set({ key: k, value: bytes('v1') });
    await store.set({ key: k, value: bytes('v2'), etag: '1' });
    await assert.rejects(store.set({ key: k, value: bytes('stale'), etag: '1' }), (err: unknown) => {
      assert.ok(err instanceof ETagMismatchError);
      assert.equal(err.key, k);
      assert.match(err.message, /^possible etag mismatch/);
      return true;
    });
    for (const invalid of ['abc', 'W/"2"', '-2', '2.0', ' 2']) {
      await assert.rejects(store.set({ key: k, value: bytes('bad'), etag: invalid }), ETagInvalidError, invalid);
      await assert.rejects(store.delete({ key: k, etag: invalid }), ETagInvalidError, invalid);
    }
    const absent = key('absent');
    await assert.rejects(store.set({ key: absent, value: bytes('x'), etag: '1' }), ETagMismatchError);
    await assert.rejects(store.delete({ key: absent, etag: '1' }), ETagMismatchError);
    assert.equal(await raw.exists(absent), 0);
    await store.set({ key: k, value: bytes('v3'), etag: '' });
    await assert.rejects(store.delete({ key: k, etag: '2' }), ETagMismatchError);
    assert.equal(text((await store.get({ key: k }))!.data), 'v3');
    await store.delete({ key: k, etag: '3' });
    assert.equal(await store.get({ key: k }), null);
  });

  await t.test('applies first-write concurrency', async (t) => {
    const store = await openStore(t);
    const k = key('first-write');
    await store.set({ key: k, value: bytes('created'), options: FIRST_WRITE });
    await assert.rejects(store.set({ key: k, value: bytes('again'), options: FIRST_WRITE }), ETagMismatchError);
    await assert.rejects(store.set({ key: k, value: bytes('old'), etag: '7', options: FIRST_WRITE }), ETagMismatchError);
    await store.set({ key: k, value: bytes('updated'), etag: '1', options: FIRST_WRITE });
    await store.set({ key: k, value: bytes('last-write'), options: { concurrency: 'last-write' } });
    assert.deepEqual(await raw.hgetall(k), { data: 'last-write', version: '3' });
  });

  await t.test('lets exactly one of many concurrent first writers win', async (t) => {
    const stores = await Promise.all(Array.from({ length: 8 }, () => openStore(t)));
    const k = key('race');
    const outcomes = await Promise.allSettled(stores.map((store, i) => store.set({ key: k, value: bytes(`writer-${i}`), options: FIRST_WRITE })));
    const winners = outcomes.flatMap((outcome, i) => (outcome.status === 'fulfilled' ? [i] : []));
    assert.equal(winners.length, 1);
    for (const outcome of outcomes) if (outcome.status === 'rejected') assert.ok(outcome.reason instanceof ETagMismatchError);
    assert.deepEqual(await raw.hgetall(k), { data: `writer-${winners[0]}`, version: '1' });

    const updates = await Promise.allSettled(stores.map((store, i) => store.set({ key: k, value: bytes(`update-${i}`), etag: '1' })));
    assert.equal(updates.filter((outcome) => outcome.status === 'fulfilled').length, 1);
    assert.equal(await raw.hget(k, 'version'), '2');
  });

  await t.test('expires entries after ttlInSeconds and reports the expiry time', async (t) => {
    const store = await openStore(t);
    const k = key('ttl');
    const before = Date.now();
    await store.set({ key: k, value: bytes('short-lived'), metadata: { ttlInSeconds: '1' } });
    const found = await store.get({ key: k });
    const expiry = Date.parse(found!.metadata!['ttlExpireTime']!);
    assert.match(found!.metadata!['ttlExpireTime']!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.ok(expiry >= before - 1000 && expiry <= Date.now() + 1000, `expiry ${expiry} should be about a second away`);
    assert.ok((await raw.pttl(k)) > 0);
    await eventually(3000, async () => assert.equal(await store.get({ key: k }), null));

    const kept = key('ttl-cleared');
    await store.set({ key: kept, value: bytes('a'), metadata: { ttlInSeconds: '100' } });
    assert.ok((await raw.ttl(kept)) > 90);
    await store.set({ key: kept, value: bytes('b') });
    assert.equal(await raw.ttl(kept), -1);
    assert.equal((await store.get({ key: kept }))!.metadata, undefined);
    await store.set({ key: kept, value: bytes('c'), metadata: { ttlInSeconds: '-1' } });
    assert.equal(await raw.ttl(kept), -1);
    await assert.rejects(store.set({ key: kept, value: bytes('d'), metadata: { ttlInSeconds: 'soon' } }), /ttlInSeconds/);
    assert.equal(await raw.hget(kept, 'data'), 'c');
  });

  await t.test('applies the component ttlInSeconds to writes that set none', async (t) => {
    const store = await openStore(t, { ttlInSeconds: '100' });
    const k = key('default-ttl');
    await store.set({ key: k, value: bytes('x') });
    assert.ok((await raw.ttl(k)) > 90);
    await store.set({ key: k, value: bytes('y'), metadata: { ttlInSeconds: '5' } });
    assert.ok((await raw.ttl(k)) <= 5);
    await store.set({ key: k, value: bytes('z'), metadata: { ttlInSeconds: '-1' } });
    assert.equal(await raw.ttl(k), -1);
  });

  await t.test('bulk operations attempt every item and report the failures together', async (t) => {
    const store = await openStore(t);
    const [a, b, c, d] = [key('bulk-a'), key('bulk-b'), key('bulk-c'), key('bulk-d')];
    await store.set({ key: c, value: bytes('existing') });
    await assert.rejects(
      store.bulkSet([
        { key: a, value: bytes('A') },
        { key: b, value: bytes('B'), etag: 'bogus' },
        { key: c, value: bytes('C'), options: FIRST_WRITE },
        { key: d, value: bytes('D'), etag: '3' },
        { key: b, value: bytes('B2'), metadata: { ttlInSeconds: '60' } },
      ]),
      (err: unknown) => {
        assert.ok(err instanceof AggregateError);
        assert.equal(err.errors.length, 3);
        assert.ok(err.errors[0] instanceof ETagInvalidError);
        assert.ok(err.errors[1] instanceof ETagMismatchError);
        assert.ok(err.errors[2] instanceof ETagMismatchError);
        return true;
      },
    );
    const items = await store.bulkGet([{ key: a }, { key: b }, { key: c }, { key: d }]);
    assert.deepEqual(
      items.map((item) => [item.key, text(item.data), item.etag]),
      [
        [a, 'A', '1'],
        [b, 'B2', '1'],
        [c, 'existing', '1'],
        [d, undefined, undefined],
      ],
    );
    assert.ok(items[1]!.metadata?.['ttlExpireTime'] !== undefined);

    const foreign = key('bulk-foreign');
    await raw.rpush(foreign, 'a list');
    const withForeign = await store.bulkGet([{ key: foreign }, { key: a }]);
    assert.match(withForeign[0]!.error!, /WRONGTYPE/);
    assert.equal(text(withForeign[1]!.data), 'A');

    await assert.rejects(
      store.bulkDelete([{ key: a }, { key: b, etag: '9' }, { key: c, etag: 'x' }, { key: d }]),
      (err: unknown) => err instanceof AggregateError && err.errors.length === 2,
    );
    assert.equal(await raw.exists(a, b, c), 2);
    await store.bulkDelete([{ key: b, etag: '1' }, { key: c }]);
    assert.equal(await raw.exists(a, b, c), 0);
    await store.bulkSet([]);
    assert.deepEqual(await store.bulkGet([]), []);
  });

  await t.test('applies transactions all-or-nothing', async (t) => {
    const store = await openStore(t);
    assert.ok(isTransactional(store));
    const [a, b, c] = [key('tx-a'), key('tx-b'), key('tx-c')];
    await store.set({ key: a, value: bytes('a1') });
    await store.set({ key: b, value: bytes('b1') });
    await store.multi({
      operations: [
        { operation: 'upsert', request: { key: a, value: bytes('a2'), etag: '1' } },
        { operation: 'delete', request: { key: b, etag: '1' } },
        { operation: 'upsert', request: { key: c, value: bytes('c1'), options: FIRST_WRITE, metadata: { ttlInSeconds: '60' } } },
      ],
    });
    assert.deepEqual(await raw.hgetall(a), { data: 'a2', version: '2' });
    assert.equal(await raw.exists(b), 0);
    assert.ok((await raw.ttl(c)) > 50);

    const snapshot = async (): Promise<unknown> => [await raw.hgetall(a), await raw.exists(b), await raw.hgetall(c), await raw.ttl(c) > 50];
    const before = await snapshot();
    const rejected: [string, Parameters<typeof store.multi>[0]['operations'], new (...args: never[]) => Error][] = [
      [
        'a stale etag at the end',
        [
          { operation: 'upsert', request: { key: a, value: bytes('lost') } },
          { operation: 'delete', request: { key: c } },
          { operation: 'upsert', request: { key: b, value: bytes('lost') } },
          { operation: 'upsert', request: { key: a, value: bytes('lost'), etag: '2' } },
        ],
        ETagMismatchError,
      ],
      [
        'first-write on an existing key',
        [
          { operation: 'delete', request: { key: a } },
          { operation: 'upsert', request: { key: c, value: bytes('lost'), options: FIRST_WRITE } },
        ],
        ETagMismatchError,
      ],
      [
        'an etag on a missing key',
        [
          { operation: 'upsert', request: { key: a, value: bytes('lost') } },
          { operation: 'delete', request: { key: b, etag: '1' } },
        ],
        ETagMismatchError,
      ],
      [
        'an invalid etag',
        [
          { operation: 'upsert', request: { key: a, value: bytes('lost') } },
          { operation: 'upsert', request: { key: c, value: bytes('lost'), etag: 'W/"1"' } },
        ],
        ETagInvalidError,
      ],
    ];
    for (const [label, operations, kind] of rejected) {
      await assert.rejects(store.multi({ operations }), kind, label);
      assert.deepEqual(await snapshot(), before, `${label} must change nothing`);
    }
    await assert.rejects(
      store.multi({
        operations: [
          { operation: 'upsert', request: { key: b, value: bytes('x') } },
          { operation: 'delete', request: { key: c, etag: '5' } },
        ],
      }),
      (err: unknown) => err instanceof ETagMismatchError && err.key === c,
    );

    // Later operations see what earlier ones in the same transaction leave behind.
    await store.multi({
      operations: [
        { operation: 'upsert', request: { key: a, value: bytes('a3'), etag: '2' } },
        { operation: 'upsert', request: { key: a, value: bytes('a4'), etag: '3' } },
        { operation: 'delete', request: { key: c, etag: '1' } },
        { operation: 'upsert', request: { key: c, value: bytes('c-new'), options: FIRST_WRITE } },
      ],
    });
    assert.deepEqual(await raw.hgetall(a), { data: 'a4', version: '4' });
    assert.deepEqual(await raw.hgetall(c), { data: 'c-new', version: '1' });
    assert.equal(await raw.ttl(c), -1);
    await store.multi({ operations: [] });
  });

  await t.test('keeps 1 MiB values and keys with unicode and separators intact', async (t) => {
    const store = await openStore(t);
    const big = key('big');
    const value = randomBytes(1024 * 1024);
    await store.set({ key: big, value });
    assert.ok(Buffer.from((await store.get({ key: big }))!.data).equals(value));
    assert.ok((await raw.hgetBuffer(big, 'data'))!.equals(value));

    const odd = key('ключ-🔑-日本||nested||key with spaces');
    await store.set({ key: odd, value: bytes('odd') });
    assert.equal(await raw.hget(odd, 'data'), 'odd');
    assert.equal(text((await store.get({ key: odd }))!.data), 'odd');
    await store.delete({ key: odd, etag: '1' });
    assert.equal(await raw.exists(odd), 0);
  });

  await t.test('replaces keys of other Redis types on write, as daprd does', async (t) => {
    const store = await openStore(t);
    const k = key('foreign');
    await raw.set(k, 'a plain string');
    await assert.rejects(store.get({ key: k }), /WRONGTYPE/);
    await assert.rejects(store.set({ key: k, value: bytes('x'), etag: '1' }), ETagMismatchError);
    await store.set({ key: k, value: bytes('now a hash') });
    assert.deepEqual(await raw.hgetall(k), { data: 'now a hash', version: '1' });
    const partial = key('partial');
    await raw.hset(partial, 'data', 'no version');
    await assert.rejects(store.get({ key: partial }), /"data" and "version"/);
  });

  await t.test('keeps working after Redis forgets its scripts', async (t) => {
    const store = await openStore(t);
    const k = key('noscript');
    await store.set({ key: k, value: bytes('before') });
    await raw.script('FLUSH');
    await store.set({ key: k, value: bytes('after'), etag: '1' });
    await store.bulkSet([{ key: k, value: bytes('bulk'), etag: '2' }]);
    await raw.script('FLUSH');
    assert.equal(text((await store.get({ key: k }))!.data), 'bulk');
  });

  await t.test('uses the database redisDB names', async (t) => {
    const store = await openStore(t, { redisDB: '1' });
    const k = key('db1');
    await store.set({ key: k, value: bytes('in db 1') });
    assert.equal(await raw.exists(k), 0);
    assert.equal(await rawDb1.hget(k, 'data'), 'in db 1');
  });

  await t.test('fails fast while Redis is unreachable and recovers by itself', async (t) => {
    const relay = new TcpRelay(REDIS_PORT);
    await relay.start();
    t.after(() => relay.stop());
    const store = await RedisStateStore.open(parseRedisSettings(componentMeta({ redisHost: `127.0.0.1:${relay.port}` })));
    t.after(() => store.close());
    const closedDuringOutage = await RedisStateStore.open(parseRedisSettings(componentMeta({ redisHost: `127.0.0.1:${relay.port}` })));
    const k = key('outage');
    await store.set({ key: k, value: bytes('before') });

    const inFlight = store.get({ key: k }).then(
      (found) => text(found?.data),
      (err: unknown) => (err as Error).message,
    );
    await relay.stop();
    assert.match((await inFlight)!, /^before$|is unavailable/);
    // Closing while Redis is away must stop the reconnection attempts, or this test file would never exit.
    await closedDuringOutage.close();
    await assert.rejects(closedDuringOutage.get({ key: k }), /closed/);
    const failure = await eventually(2000, async () => {
      const outcome = await store.get({ key: k }).then(
        () => undefined,
        (err: unknown) => err as Error,
      );
      assert.ok(outcome !== undefined, 'calls should fail once the connection is gone');
      return outcome;
    });
    assert.match(failure.message, new RegExp(`^state\\.redis: Redis at 127\\.0\\.0\\.1:${relay.port} is unavailable: .+`));
    for (const call of [
      () => store.get({ key: k }),
      () => store.set({ key: k, value: bytes('during') }),
      () => store.bulkSet([{ key: k, value: bytes('during') }]),
      () => store.multi({ operations: [{ operation: 'delete', request: { key: k } }] }),
    ]) {
      const started = performance.now();
      await assert.rejects(call(), /is unavailable/);
      assert.ok(performance.now() - started < 100, 'a call during an outage must not wait');
    }

    await relay.start();
    await eventually(10_000, () => store.set({ key: k, value: bytes('after'), etag: '1' }));
    assert.deepEqual(await raw.hgetall(k), { data: 'after', version: '2' });
  });

  await t.test('starts while Redis is unreachable, fails fast meanwhile and connects once it is there', async (t) => {
    const relay = new TcpRelay(REDIS_PORT);
    await relay.start();
    await relay.stop();
    t.after(() => relay.stop());
    const started = performance.now();
    const { store } = await createFromRegistry({ redisHost: `127.0.0.1:${relay.port}` });
    t.after(() => store.close());
    assert.ok(performance.now() - started < 1000, 'a refused connection must not hold start-up');
    const k = key('late');
    const unavailable = new RegExp(`state\\.redis: Redis at 127\\.0\\.0\\.1:${relay.port} is unavailable: .*ECONNREFUSED`);
    for (const call of [
      () => store.get({ key: k }),
      () => store.set({ key: k, value: bytes('early') }),
      () => store.delete({ key: k }),
      () => store.bulkGet([{ key: k }]),
    ]) {
      const callStarted = performance.now();
      await assert.rejects(call(), unavailable);
      assert.ok(performance.now() - callStarted < 100, 'a call while Redis is away must not wait');
    }

    await relay.start();
    await eventually(10_000, () => store.set({ key: k, value: bytes('connected') }));
    assert.equal(text((await store.get({ key: k }))!.data), 'connected');
    await relay.stop();
    await eventually(2000, async () => assert.rejects(store.get({ key: k }), unavailable));
    await relay.start();
    await eventually(10_000, () => store.set({ key: k, value: bytes('again'), etag: '1' }));
    assert.deepEqual(await raw.hgetall(k), { data: 'again', version: '2' });
  });

  await t.test('starts within the init timeout when Redis accepts connections and never answers', async (t) => {
    const silentSockets = new Set<Socket>();
    const mute = createServer((socket) => {
      silentSockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    const { port } = mute.address() as AddressInfo;
    t.after(() => {
      for (const socket of silentSockets) socket.destroy();
      mute.close();
    });
    const started = performance.now();
    const { store } = await createFromRegistry({ redisHost: `127.0.0.1:${port}` });
    t.after(() => store.close());
    const elapsed = performance.now() - started;
    assert.ok(elapsed > 1500 && elapsed < 3000, `start-up waited ${elapsed} ms`);
    const callStarted = performance.now();
    await assert.rejects(store.get({ key: key('mute') }), new RegExp(`state\\.redis: Redis at 127\\.0\\.0\\.1:${port} is unavailable: no answer to the handshake within 2000 ms`));
    assert.ok(performance.now() - callStarted < 100);
  });

  await t.test('fails start-up when a reachable Redis refuses the settings', async () => {
    await assert.rejects(
      createFromRegistry({ redisHost: REDIS_HOST, redisUsername: 'nobody', redisPassword: 'wrong' }),
      /init failed: cannot connect to Redis at 127\.0\.0\.1:6379: WRONGPASS/,
    );
    await assert.rejects(createFromRegistry({ redisHost: REDIS_HOST, redisDB: '100000' }), /cannot connect to Redis at 127\.0\.0\.1:6379: .*DB index is out of range/);
  });

  await t.test('validates its component metadata', () => {
    const parse = (properties: Record<string, string>): unknown => parseRedisSettings(componentMeta(properties));
    assert.throws(() => parse({}), /"redisHost" is required/);
    assert.throws(() => parse({ redisHost: 'localhost:http' }), /invalid port/);
    assert.throws(() => parse({ redisHost: 'localhost:6379', redisDB: 'one' }), /"redisDB"/);
    assert.throws(() => parse({ redisHost: 'localhost:6379', maxRetries: '-1' }), /"maxRetries"/);
    assert.throws(() => parse({ redisHost: 'localhost:6379', ttlInSeconds: 'x' }), /ttlInSeconds/);
    assert.throws(() => parse({ redisHost: 'localhost:6379', redisType: 'cluster' }), /not supported/);
    assert.throws(() => parse({ redisHost: 'localhost:6379', failover: 'true' }), /not supported/);
    assert.deepEqual(
      parse({ RedisHost: '[::1]:7000', REDISDB: '2', enableTLS: 'true', redisPassword: 'pw', ttlInSeconds: '30', actorStateStore: 'true', keyPrefix: 'none' }),
      { host: '::1', port: 7000, db: 2, tls: true, maxRetries: 3, defaultTtlSeconds: 30, password: 'pw' },
    );
    assert.deepEqual(parse({ redisHost: 'redis' }), { host: 'redis', port: 6379, db: 0, tls: false, maxRetries: 3, defaultTtlSeconds: undefined });
  });

  await t.test('registers as state.redis with actor-capable features and closes cleanly', async () => {
    const { store, capabilities } = await createFromRegistry({ redisHost: REDIS_HOST, actorStateStore: 'true' });
    assert.ok(store instanceof RedisStateStore);
    assert.deepEqual([...capabilities].sort(), ['ACTOR', 'ETAG', 'TRANSACTIONAL', 'TTL']);
    assert.deepEqual([...stateCapabilities(store)].sort(), ['ACTOR', 'ETAG', 'TRANSACTIONAL', 'TTL']);
    await store.close();
    await store.close();
    await assert.rejects(store.get({ key: key('closed') }), /closed/);
  });
});

describeStateConformance({
  name: 'state.redis',
  persistent: true,
  skip: async (t) => !(await serviceAvailable(t, 'Redis', REDIS_PORT)),
  create: async () => (await createFromRegistry({ redisHost: REDIS_HOST })).store,
});
