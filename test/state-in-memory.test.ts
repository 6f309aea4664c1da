import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryStore } from '../components/state/in-memory.js';
import { ETagInvalidError, ETagMismatchError, isTransactional, stateCapabilities } from '../components/state/store.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined): string | undefined => (data === undefined ? undefined : new TextDecoder().decode(data));

/** A store that is closed when the test ends. */
function storeFor(t: { after(fn: () => Promise<void>): void }): InMemoryStore {
  const store = new InMemoryStore();
  t.after(() => store.close());
  return store;
}

async function etagOf(store: InMemoryStore, key: string): Promise<string> {
  const found = await store.get({ key });
  assert.ok(found?.etag !== undefined, `${key} should exist`);
  return found.etag;
}

describe('state.in-memory', () => {
  it('gets, sets and deletes, keeping its own copy of the value', async (t) => {
    const store = storeFor(t);
    assert.equal(await store.get({ key: 'k' }), null);
    const value = bytes('hello');
    await store.set({ key: 'k', value, contentType: 'text/plain' });
    value.fill(0);
    const found = await store.get({ key: 'k' });
    assert.equal(text(found?.data), 'hello');
    assert.equal(found?.contentType, 'text/plain');
    assert.equal(found?.metadata, undefined);
    await store.delete({ key: 'k' });
    assert.equal(await store.get({ key: 'k' }), null);
    await store.delete({ key: 'never-there' });
  });

  it('issues increasing etags and enforces them on writes and deletes', async (t) => {
    const store = storeFor(t);
    await store.set({ key: 'k', value: bytes('v1') });
    const first = await etagOf(store, 'k');
    await store.set({ key: 'k', value: bytes('v2'), etag: first });
    const second = await etagOf(store, 'k');
    assert.ok(Number(second) > Number(first));

    await assert.rejects(store.set({ key: 'k', value: bytes('stale'), etag: first }), ETagMismatchError);
    await assert.rejects(store.set({ key: 'k', value: bytes('bad'), etag: 'not-an-etag' }), ETagInvalidError);
    await assert.rejects(store.set({ key: 'absent', value: bytes('x'), etag: second }), ETagMismatchError);
    assert.equal(text((await store.get({ key: 'k' }))?.data), 'v2');
    assert.equal(await store.get({ key: 'absent' }), null);

    await store.set({ key: 'k', value: bytes('v3'), etag: '' });
    const third = await etagOf(store, 'k');
    await assert.rejects(store.delete({ key: 'k', etag: second }), (err: unknown) => {
      assert.ok(err instanceof ETagMismatchError);
      assert.equal(err.key, 'k');
      assert.match(err.message, /^possible etag mismatch/);
      return true;
    });
    await assert.rejects(store.delete({ key: 'k', etag: 'W/"x"' }), ETagInvalidError);
    await assert.rejects(store.delete({ key: 'gone', etag: third }), ETagMismatchError);
    await store.delete({ key: 'k', etag: third });
    assert.equal(await store.get({ key: 'k' }), null);
  });

  it('applies first-write concurrency', async (t) => {
    const store = storeFor(t);
    const firstWrite = { concurrency: 'first-write' } as const;
    await store.set({ key: 'k', value: bytes('created'), options: firstWrite });
    await assert.rejects(store.set({ key: 'k', value: bytes('again'), options: firstWrite }), ETagMismatchError);
    const etag = await etagOf(store, 'k');
    await assert.rejects(store.set({ key: 'k', value: bytes('old'), etag: String(Number(etag) + 100), options: firstWrite }), ETagMismatchError);
    await store.set({ key: 'k', value: bytes('updated'), etag, options: firstWrite });
    assert.equal(text((await store.get({ key: 'k' }))?.data), 'updated');
    await store.set({ key: 'k', value: bytes('last-write'), options: { concurrency: 'last-write' } });
    assert.equal(text((await store.get({ key: 'k' }))?.data), 'last-write');
  });

  it('expires keys after ttlInSeconds and reports the expiry time', async (t) => {
    const store = storeFor(t);
    const before = Date.now();
    await store.set({ key: 'brief', value: bytes('x'), metadata: { ttlInSeconds: '1' } });
    await store.set({ key: 'forever', value: bytes('y'), metadata: { ttlInSeconds: '-1' } });
    const found = await store.get({ key: 'brief' });
    const expiry = found?.metadata?.['ttlExpireTime'];
    assert.match(expiry ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const expiresAt = Date.parse(expiry!);
    assert.ok(expiresAt >= Math.floor((before + 1000) / 1000) * 1000 && expiresAt <= Date.now() + 1000);
    assert.equal((await store.get({ key: 'forever' }))?.metadata, undefined);

    await store.set({ key: 'renewed', value: bytes('z'), metadata: { ttlInSeconds: '1' } });
    await store.set({ key: 'renewed', value: bytes('z2') });

    await new Promise((resolve) => setTimeout(resolve, 1100));
    assert.equal(await store.get({ key: 'brief' }), null);
    assert.deepEqual(await store.bulkGet([{ key: 'brief' }]), [{ key: 'brief' }]);
    assert.equal(text((await store.get({ key: 'forever' }))?.data), 'y');
    assert.equal(text((await store.get({ key: 'renewed' }))?.data), 'z2');
    await assert.rejects(store.set({ key: 'brief', value: bytes('x'), etag: found!.etag! }), ETagMismatchError);
  });

  it('rejects malformed ttlInSeconds', async (t) => {
    const store = storeFor(t);
    await assert.rejects(store.set({ key: 'k', value: bytes('x'), metadata: { ttlInSeconds: 'soon' } }), /ttlInSeconds.*not an integer/);
    await assert.rejects(store.set({ key: 'k', value: bytes('x'), metadata: { ttlInSeconds: '-5' } }), /ttlInSeconds.*-1 or greater/);
    assert.equal(await store.get({ key: 'k' }), null);
  });

  it('runs transactions atomically: a failing etag leaves everything untouched', async (t) => {
    const store = storeFor(t);
    assert.ok(isTransactional(store));
    await store.set({ key: 'a', value: bytes('a0') });
    await store.set({ key: 'b', value: bytes('b0') });
    const etagA = await etagOf(store, 'a');

    await assert.rejects(
      store.multi({
        operations: [
          { operation: 'upsert', request: { key: 'a', value: bytes('a1'), etag: etagA } },
          { operation: 'delete', request: { key: 'b' } },
          { operation: 'upsert', request: { key: 'c', value: bytes('c1'), etag: '999999' } },
        ],
      }),
      ETagMismatchError,
    );
    await assert.rejects(
      store.multi({
        operations: [
          { operation: 'upsert', request: { key: 'new', value: bytes('n') } },
          { operation: 'upsert', request: { key: 'a', value: bytes('a1'), metadata: { ttlInSeconds: 'x' } } },
        ],
      }),
      /ttlInSeconds/,
    );
    assert.equal(await etagOf(store, 'a'), etagA);
    assert.equal(text((await store.get({ key: 'b' }))?.data), 'b0');
    assert.equal(await store.get({ key: 'c' }), null);
    assert.equal(await store.get({ key: 'new' }), null);

    await store.multi({
      operations: [
        { operation: 'upsert', request: { key: 'a', value: bytes('a1'), etag: etagA } },
        { operation: 'delete', request: { key: 'b' } },
        { operation: 'upsert', request: { key: 'b', value: bytes('b1'), options: { concurrency: 'first-write' } } },
        { operation: 'upsert', request: { key: 'c', value: bytes('c1') } },
        { operation: 'delete', request: { key: 'c' } },
      ],
    });
    assert.equal(text((await store.get({ key: 'a' }))?.data), 'a1');
    assert.equal(text((await store.get({ key: 'b' }))?.data), 'b1');
    assert.equal(await store.get({ key: 'c' }), null);
    await store.multi({ operations: [] });
  });

  it('bulk operations answer in order and attempt every item', async (t) => {
    const store = storeFor(t);
    await store.bulkSet([
      { key: 'x', value: bytes('1') },
      { key: 'y', value: bytes('2'), metadata: { ttlInSeconds: '60' } },
    ]);
    const items = await store.bulkGet([{ key: 'y' }, { key: 'missing' }, { key: 'x' }]);
    assert.deepEqual(
      items.map((i) => [i.key, text(i.data), i.etag !== undefined, i.metadata?.['ttlExpireTime'] !== undefined]),
      [
        ['y', '2', true, true],
        ['missing', undefined, false, false],
        ['x', '1', true, false],
      ],
    );

    const failure = await store
      .bulkSet([
        { key: 'x', value: bytes('stale'), etag: '123456' },
        { key: 'z', value: bytes('3') },
        { key: 'y', value: bytes('bad'), etag: 'nope' },
      ])
      .then(
        () => assert.fail('bulkSet should report the failed items'),
        (err: unknown) => err,
      );
    assert.ok(failure instanceof AggregateError);
    assert.equal(failure.errors.length, 2);
    assert.ok(failure.errors[0] instanceof ETagMismatchError);
    assert.ok(failure.errors[1] instanceof ETagInvalidError);
    assert.equal(text((await store.get({ key: 'z' }))?.data), '3');
    assert.equal(text((await store.get({ key: 'x' }))?.data), '1');

    const etagX = await etagOf(store, 'x');
    await assert.rejects(store.bulkDelete([{ key: 'x', etag: etagX }, { key: 'y', etag: '1' }, { key: 'z' }]), AggregateError);
    assert.deepEqual(
      (await store.bulkGet([{ key: 'x' }, { key: 'y' }, { key: 'z' }])).map((i) => i.data !== undefined),
      [false, true, false],
    );
  });

  it('advertises ETAG, TRANSACTIONAL, TTL and QUERY_API, and ACTOR as a capability', async (t) => {
    const store = storeFor(t);
    assert.deepEqual(store.features(), ['ETAG', 'TRANSACTIONAL', 'TTL', 'QUERY_API']);
    assert.deepEqual(stateCapabilities(store), ['ETAG', 'TRANSACTIONAL', 'TTL', 'QUERY_API', 'ACTOR']);
  });

  it('drops its data on close', async () => {
    const store = new InMemoryStore();
    await store.set({ key: 'k', value: bytes('v') });
    await store.close();
    assert.equal(await store.get({ key: 'k' }), null);
  });
});
