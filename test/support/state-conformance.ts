// The behaviour every state store must show, in the spirit of components-contrib's state conformance tests.
// Optional parts run only when the store advertises the feature in features().

import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ETagInvalidError,
  ETagMismatchError,
  StateFeature,
  isQueryable,
  isTransactional,
  type GetResponse,
  type QueryFilter,
  type QueryItem,
  type QueryRequest,
  type QueryableStore,
  type SetRequest,
  type Store,
  type TransactionalOperation,
  type TransactionalStore,
} from '../../components/state/store.js';

export interface ConformanceTarget {
  /** The component type, e.g. `state.redis`. */
  name: string;
  /** A new store instance over the same backing data; called again to check that data survives a restart. */
  create(): Promise<Store>;
  /** Whether data survives closing the store and creating a new one. */
  persistent: boolean;
  /** Resolves true to skip the whole suite (e.g. the backing server is unreachable); may call t.skip(). */
  skip?(t: TestContext): Promise<boolean>;
}

const CASE_TIMEOUT_MS = 15_000;
const TTL_POLL_LIMIT_MS = 5_000;
const TTL_POLL_INTERVAL_MS = 100;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const GARBAGE_ETAG = 'not-an-etag-$$';
const FIRST_WRITE = { concurrency: 'first-write' } as const;

const encoder = new TextEncoder();
const utf8 = (text: string): Uint8Array => encoder.encode(text);

/** The store under test plus the keys written through it, so they can be removed when the suite ends. */
class Harness {
  readonly written = new Set<string>();

  constructor(
    public store: Store,
    /** Unique per run: keys of earlier runs against a real server never collide with this one's. */
    readonly prefix: string,
  ) {}

  key(name: string): string {
    const key = `${this.prefix}${name}`;
    this.written.add(key);
    return key;
  }

  async get(key: string): Promise<GetResponse | null> {
    return this.store.get({ key });
  }

  async etagOf(key: string): Promise<string> {
    const found = await this.store.get({ key });
    assert.ok(found !== null, `${key} should exist`);
    assert.equal(typeof found.etag, 'string', `${key} should have an etag`);
    assert.notEqual(found.etag, '', `${key} should have a non-empty etag`);
    return found.etag!;
  }

  /** Writes a key twice and answers its current etag and the outdated one, which the store really issued. */
  async twoVersions(key: string): Promise<{ current: string; stale: string }> {
    await this.store.set({ key, value: utf8('"v1"') });
    const stale = await this.etagOf(key);
    await this.store.set({ key, value: utf8('"v2"') });
    const current = await this.etagOf(key);
    assert.notEqual(current, stale, 'a write must change the etag');
    return { current, stale };
  }

  async cleanUp(): Promise<void> {
    const keys = [...this.written];
    if (keys.length > 0) await this.store.bulkDelete(keys.map((key) => ({ key }))).catch(() => undefined);
    await this.store.close();
  }
}

function view(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Stored bytes must come back as written, except that JSON may come back re-encoded (as from a PostgreSQL jsonb
 * column, as with daprd's own store): then the same JSON value is enough.
 */
function assertBytes(actual: Uint8Array | undefined, expected: Uint8Array, label: string): void {
  assert.ok(actual !== undefined, `${label}: no data`);
  const got = view(actual);
  const want = view(expected);
  if (got.equals(want)) return;
  const wantJson = parseJson(want);
  if (wantJson !== NOT_JSON) {
    assert.deepEqual(parseJson(got), wantJson, `${label}: a different JSON value came back`);
    return;
  }
  let at = 0;
  while (at < got.length && at < want.length && got[at] === want[at]) at++;
  assert.fail(`${label}: ${got.length} bytes differ from the ${want.length} written, first at byte ${at}`);
}

const NOT_JSON = Symbol('not JSON');

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return NOT_JSON;
  }
}

async function assertValue(h: Harness, key: string, expected: Uint8Array, label = key): Promise<GetResponse> {
  const found = await h.get(key);
  assert.ok(found !== null, `${label}: missing`);
  assertBytes(found.data, expected, label);
  return found;
}

async function assertAbsent(h: Harness, key: string): Promise<void> {
  assert.equal(await h.get(key), null, `${key} should not exist`);
}

function isMismatch(err: unknown): boolean {
  return err instanceof ETagMismatchError;
}

/** A failure of one bulk item: an AggregateError holding exactly `count` errors of the given class. */
function aggregateOf(count: number, kind: new (...args: never[]) => Error): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof AggregateError, `expected an AggregateError, got ${String(err)}`);
    assert.equal(err.errors.length, count);
    for (const item of err.errors) assert.ok(item instanceof kind, `expected ${kind.name}, got ${String(item)}`);
    return true;
  };
}

interface Case {
  name: string;
  /** A reason to skip, or undefined to run. */
  unless?(store: Store, target: ConformanceTarget): string | undefined;
  run(h: Harness, t: TestContext, target: ConformanceTarget): Promise<void>;
}

const requires =
  (feature: StateFeature) =>
  (store: Store): string | undefined =>
    store.features().includes(feature) ? undefined : `the store does not advertise ${feature}`;

const ROUND_TRIP_VALUES: readonly [string, Uint8Array][] = [
  ['an int', utf8('42')],
  ['a bool', utf8('true')],
  ['raw non-UTF-8 bytes', Uint8Array.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0xa0, 0xa1, 0x0a, 0x00])],
  ['a plain string', utf8('hello, world')],
  ['a JSON string', utf8('"abc"')],
  ['a JSON object', utf8('{"zeta": 1,"alpha":[true, null,{"n":-1.5e3}],  "s":"ü\\u00e9"}')],
  ['an empty value', new Uint8Array(0)],
];

const basicCases: Case[] = [
  {
    name: 'advertises known features, with the methods they need',
    async run(h) {
      const features = h.store.features();
      const known = new Set<string>(Object.values(StateFeature));
      for (const feature of features) assert.ok(known.has(feature), `unknown feature ${feature}`);
      if (features.includes(StateFeature.TRANSACTIONAL)) assert.ok(isTransactional(h.store), 'TRANSACTIONAL without multi()');
      if (features.includes(StateFeature.QUERY_API)) assert.ok(isQueryable(h.store), 'QUERY_API without query()');
    },
  },
  {
    name: 'round-trips values byte for byte',
    async run(h) {
      for (const [label, value] of ROUND_TRIP_VALUES) {
        const key = h.key(`value-${label.replaceAll(' ', '-')}`);
        await h.store.set({ key, value });
        await assertValue(h, key, value, label);
      }
    },
  },
  {
    name: 'keeps its own copy of the value written',
    async run(h) {
      const key = h.key('copied');
      const value = utf8('original');
      await h.store.set({ key, value });
      value.fill(0x78);
      await assertValue(h, key, utf8('original'));
    },
  },
  {
    name: 'answers null for a missing key',
    async run(h) {
      await assertAbsent(h, h.key('never-written'));
    },
  },
  {
    name: 'overwrites without an etag (last write wins)',
    async run(h) {
      const key = h.key('overwrite');
      await h.store.set({ key, value: utf8('"one"') });
      await h.store.set({ key, value: utf8('"two"') });
      await h.store.set({ key, value: utf8('"three"'), etag: '' });
      await assertValue(h, key, utf8('"three"'));
    },
  },
  {
    name: 'deletes a key, and deleting a missing key succeeds',
    async run(h) {
      const key = h.key('deleted');
      await h.store.set({ key, value: utf8('1') });
      await h.store.delete({ key });
      await assertAbsent(h, key);
      await h.store.delete({ key });
      await h.store.delete({ key: h.key('never-written-delete') });
    },
  },
  {
    name: 'bulkSet, bulkGet in request order and bulkDelete',
    async run(h) {
      const keys = ['bulk-a', 'bulk-b', 'bulk-c'].map((name) => h.key(name));
      const missing = h.key('bulk-missing');
      await h.store.bulkSet(keys.map((key, i) => ({ key, value: utf8(`{"n":${i}}`) })));
      const order = [keys[2]!, missing, keys[0]!, keys[1]!];
      const items = await h.store.bulkGet(order.map((key) => ({ key })));
      assert.deepEqual(
        items.map((item) => item.key),
        order,
      );
      assertBytes(items[0]!.data, utf8('{"n":2}'), 'bulk-c');
      assertBytes(items[2]!.data, utf8('{"n":0}'), 'bulk-a');
      assertBytes(items[3]!.data, utf8('{"n":1}'), 'bulk-b');
      const absent = items[1]!;
      assert.equal(absent.data, undefined, 'a missing key has no data');
      assert.equal(absent.etag, undefined, 'a missing key has no etag');
      assert.equal(absent.error, undefined, 'a missing key is not an error');
      if (h.store.features().includes(StateFeature.ETAG)) {
        for (const i of [0, 2, 3]) assert.ok(items[i]!.etag, `${items[i]!.key} should carry its etag`);
      }

      const limited = await h.store.bulkGet(order.map((key) => ({ key })), { parallelism: 1 });
      assert.deepEqual(
        limited.map((item) => item.key),
        order,
      );

      await h.store.bulkDelete([...keys, missing].map((key) => ({ key })));
      const after = await h.store.bulkGet(keys.map((key) => ({ key })));
      for (const item of after) assert.equal(item.data, undefined, `${item.key} should be deleted`);
    },
  },
  {
    name: 'bulk operations on an empty list',
    async run(h) {
      await h.store.bulkSet([]);
      await h.store.bulkDelete([]);
      assert.deepEqual(await h.store.bulkGet([]), []);
    },
  },
  {
    name: 'round-trips a 1 MiB value',
    async run(h) {
      const key = h.key('large');
      const value = new Uint8Array(randomBytes(1024 * 1024));
      await h.store.set({ key, value });
      await assertValue(h, key, value, '1 MiB value');
    },
  },
  {
    name: 'handles keys with unicode and ||',
    async run(h) {
      const key = h.key('app||ключ||🔑');
      const sibling = h.key('app||ключ');
      await h.store.set({ key, value: utf8('"unicode"') });
      await h.store.set({ key: sibling, value: utf8('"sibling"') });
      await assertValue(h, key, utf8('"unicode"'));
      await assertValue(h, sibling, utf8('"sibling"'));
      const [item] = await h.store.bulkGet([{ key }]);
      assert.equal(item?.key, key);
      assertBytes(item?.data, utf8('"unicode"'), 'bulkGet of a unicode key');
      await h.store.delete({ key });
      await assertAbsent(h, key);
      await assertValue(h, sibling, utf8('"sibling"'));
    },
  },
];

const etagCases: Case[] = [
  {
    name: 'ETAG: get answers an etag; a write with the right etag succeeds and changes it',
    unless: requires(StateFeature.ETAG),
    async run(h) {
      const key = h.key('etag-match');
      await h.store.set({ key, value: utf8('"v1"') });
      const first = await h.etagOf(key);
      await h.store.set({ key, value: utf8('"v2"'), etag: first });
      const second = await h.etagOf(key);
      assert.notEqual(second, first);
      await assertValue(h, key, utf8('"v2"'));
    },
  },
  {
    name: 'ETAG: a write with a wrong etag fails with ETagMismatchError and changes nothing',
    unless: requires(StateFeature.ETAG),
    async run(h) {
      const key = h.key('etag-mismatch');
      const { current, stale } = await h.twoVersions(key);
      await assert.rejects(h.store.set({ key, value: utf8('"stale"'), etag: stale }), ETagMismatchError);
      const found = await assertValue(h, key, utf8('"v2"'));
      assert.equal(found.etag, current);
    },
  },
  {
    name: 'ETAG: a write with an etag on a missing key fails with ETagMismatchError',
    unless: requires(StateFeature.ETAG),
    async run(h) {
      const donor = h.key('etag-donor');
      const { current } = await h.twoVersions(donor);
      const key = h.key('etag-missing');
      await assert.rejects(h.store.set({ key, value: utf8('"x"'), etag: current }), ETagMismatchError);
      await assertAbsent(h, key);
      await h.store.delete({ key: donor, etag: current });
      await assert.rejects(h.store.set({ key: donor, value: utf8('"x"'), etag: current }), ETagMismatchError);
      await assertAbsent(h, donor);
    },
  },
  {
    name: 'ETAG: delete with a wrong etag fails, with the right one succeeds',
    unless: requires(StateFeature.ETAG),
    async run(h) {
      const key = h.key('etag-delete');
      const { current, stale } = await h.twoVersions(key);
      await assert.rejects(h.store.delete({ key, etag: stale }), ETagMismatchError);
      await assertValue(h, key, utf8('"v2"'));
      await h.store.delete({ key, etag: current });
      await assertAbsent(h, key);
      await assert.rejects(h.store.delete({ key, etag: current }), ETagMismatchError, 'delete with an etag of a missing key');
    },
  },
  {
    name: 'ETAG: a garbage etag is rejected as invalid or mismatched',
    unless: requires(StateFeature.ETAG),
    async run(h) {
      const key = h.key('etag-garbage');
      await h.store.set({ key, value: utf8('"kept"') });
      const invalidOrMismatch = (err: unknown): boolean => err instanceof ETagInvalidError || err instanceof ETagMismatchError;
      await assert.rejects(h.store.set({ key, value: utf8('"x"'), etag: GARBAGE_ETAG }), invalidOrMismatch);
      await assert.rejects(h.store.delete({ key, etag: GARBAGE_ETAG }), invalidOrMismatch);
      await assertValue(h, key, utf8('"kept"'));
    },
  },
  {
    name: 'ETAG: bulkSet and bulkDelete attempt every item and report failures together',
    unless: requires(StateFeature.ETAG),
    async run(h) {
      const guarded = h.key('bulk-etag-guarded');
      const { current, stale } = await h.twoVersions(guarded);
      const free = h.key('bulk-etag-free');
      await assert.rejects(
        h.store.bulkSet([
          { key: guarded, value: utf8('"stale"'), etag: stale },
          { key: free, value: utf8('"written"') },
        ]),
        aggregateOf(1, ETagMismatchError),
      );
      await assertValue(h, free, utf8('"written"'));
      const kept = await assertValue(h, guarded, utf8('"v2"'));
      assert.equal(kept.etag, current);

      await assert.rejects(
        h.store.bulkDelete([{ key: guarded, etag: stale }, { key: free }]),
        aggregateOf(1, ETagMismatchError),
      );
      await assertAbsent(h, free);
      await assertValue(h, guarded, utf8('"v2"'));
    },
  },
  {
    name: 'first-write: creates a new key, refuses an existing one without an etag, accepts the right etag',
    unless: requires(StateFeature.ETAG),
    async run(h) {
      const key = h.key('first-write');
      await h.store.set({ key, value: utf8('"created"'), options: FIRST_WRITE });
      await assertValue(h, key, utf8('"created"'));
      await assert.rejects(h.store.set({ key, value: utf8('"again"'), options: FIRST_WRITE }), ETagMismatchError);
      const { current, stale } = await h.twoVersions(key);
      await assert.rejects(h.store.set({ key, value: utf8('"stale"'), etag: stale, options: FIRST_WRITE }), ETagMismatchError);
      await h.store.set({ key, value: utf8('"updated"'), etag: current, options: FIRST_WRITE });
      await assertValue(h, key, utf8('"updated"'));
      await h.store.set({ key, value: utf8('"last"'), options: { concurrency: 'last-write' } });
      await assertValue(h, key, utf8('"last"'));
    },
  },
  {
    name: 'first-write: of 10 concurrent writers with the same etag exactly one wins',
    unless: requires(StateFeature.ETAG),
    async run(h) {
      const key = h.key('first-write-race');
      await h.store.set({ key, value: utf8('"start"') });
      const etag = await h.etagOf(key);
      const writers = Array.from({ length: 10 }, (_, i) =>
        h.store.set({ key, value: utf8(`"writer-${i}"`), etag, options: FIRST_WRITE }),
      );
      const outcomes = await Promise.allSettled(writers);
      const winners = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
      assert.equal(winners.length, 1, `exactly one writer should win, ${winners.length} did`);
      for (const o of outcomes) if (o.status === 'rejected') assert.ok(isMismatch(o.reason), `loser failed with ${String(o.reason)}`);
      await assertValue(h, key, utf8(`"writer-${winners[0]}"`));
    },
  },
  {
    name: 'first-write: of 10 concurrent creators of a new key exactly one wins',
    unless: requires(StateFeature.ETAG),
    async run(h) {
      const key = h.key('first-write-create-race');
      const creators = Array.from({ length: 10 }, (_, i) => h.store.set({ key, value: utf8(`"creator-${i}"`), options: FIRST_WRITE }));
      const outcomes = await Promise.allSettled(creators);
      const winners = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
      assert.equal(winners.length, 1, `exactly one creator should win, ${winners.length} did`);
      for (const o of outcomes) if (o.status === 'rejected') assert.ok(isMismatch(o.reason), `loser failed with ${String(o.reason)}`);
      await assertValue(h, key, utf8(`"creator-${winners[0]}"`));
    },
  },
];

async function snapshot(h: Harness, keys: readonly string[]): Promise<(string | null)[]> {
  return Promise.all(
    keys.map(async (key) => {
      const found = await h.get(key);
      return found === null ? null : `${view(found.data).toString('hex')}@${found.etag ?? ''}`;
    }),
  );
}

function transactional(store: Store): TransactionalStore {
  assert.ok(isTransactional(store));
  return store;
}

const upsert = (key: string, text: string, etag?: string): TransactionalOperation => ({
  operation: 'upsert',
  request: etag === undefined ? { key, value: utf8(text) } : { key, value: utf8(text), etag },
});
const remove = (key: string, etag?: string): TransactionalOperation => ({
  operation: 'delete',
  request: etag === undefined ? { key } : { key, etag },
});

const transactionCases: Case[] = [
  {
    name: 'TRANSACTIONAL: multi applies every upsert and delete',
    unless: requires(StateFeature.TRANSACTIONAL),
    async run(h) {
      const store = transactional(h.store);
      const [a, b, c] = ['tx-a', 'tx-b', 'tx-c'].map((name) => h.key(name)) as [string, string, string];
      await store.set({ key: c, value: utf8('"doomed"') });
      await store.multi({ operations: [upsert(a, '{"a":1}'), upsert(b, '"b"'), remove(c)] });
      await assertValue(h, a, utf8('{"a":1}'));
      await assertValue(h, b, utf8('"b"'));
      await assertAbsent(h, c);
      await store.multi({ operations: [] });
    },
  },
  {
    name: 'TRANSACTIONAL: multi honours matching etags',
    unless: (store) => requires(StateFeature.TRANSACTIONAL)(store) ?? requires(StateFeature.ETAG)(store),
    async run(h) {
      const store = transactional(h.store);
      const [a, b] = ['tx-etag-a', 'tx-etag-b'].map((name) => h.key(name)) as [string, string];
      await store.bulkSet([
        { key: a, value: utf8('"a1"') },
        { key: b, value: utf8('"b1"') },
      ]);
      const etagA = await h.etagOf(a);
      const etagB = await h.etagOf(b);
      await store.multi({ operations: [upsert(a, '"a2"', etagA), remove(b, etagB)] });
      await assertValue(h, a, utf8('"a2"'));
      assert.notEqual(await h.etagOf(a), etagA);
      await assertAbsent(h, b);
    },
  },
  {
    name: 'TRANSACTIONAL: a multi with one wrong etag applies nothing',
    unless: (store) => requires(StateFeature.TRANSACTIONAL)(store) ?? requires(StateFeature.ETAG)(store),
    async run(h) {
      const store = transactional(h.store);
      const [a, b, c, fresh] = ['tx-rb-a', 'tx-rb-b', 'tx-rb-c', 'tx-rb-new'].map((name) => h.key(name)) as [string, string, string, string];
      await store.bulkSet([
        { key: a, value: utf8('"a"') },
        { key: c, value: utf8('"c"') },
      ]);
      const { stale } = await h.twoVersions(b);
      const keys = [a, b, c, fresh];
      const before = await snapshot(h, keys);

      await assert.rejects(
        store.multi({ operations: [upsert(a, '"a-changed"'), remove(c), upsert(fresh, '"new"'), upsert(b, '"b-stale"', stale)] }),
        ETagMismatchError,
      );
      assert.deepEqual(await snapshot(h, keys), before, 'an upsert with a wrong etag must roll back the transaction');

      await assert.rejects(store.multi({ operations: [upsert(fresh, '"new"'), remove(b, stale), remove(a)] }), ETagMismatchError);
      assert.deepEqual(await snapshot(h, keys), before, 'a delete with a wrong etag must roll back the transaction');
    },
  },
  {
    name: 'TRANSACTIONAL: sequential groups of transactions',
    unless: requires(StateFeature.TRANSACTIONAL),
    async run(h) {
      const store = transactional(h.store);
      const [a, b, c, d] = ['tx-g-a', 'tx-g-b', 'tx-g-c', 'tx-g-d'].map((name) => h.key(name)) as [string, string, string, string];
      await store.multi({ operations: [upsert(a, '"a1"'), upsert(b, '"b1"'), upsert(c, '"c1"')] });
      await store.multi({ operations: [upsert(d, '"d1"'), remove(a), upsert(b, '"b2"')] });
      assert.deepEqual(
        (await snapshot(h, [a, b, c, d])).map((s) => s !== null),
        [false, true, true, true],
      );
      await assertValue(h, b, utf8('"b2"'));
      await store.multi({ operations: [remove(b), remove(c), upsert(a, '"a3"')] });
      await assertValue(h, a, utf8('"a3"'));
      await assertAbsent(h, b);
      await assertAbsent(h, c);
      await assertValue(h, d, utf8('"d1"'));
      for (let round = 0; round < 5; round++) {
        await store.multi({ operations: [upsert(d, `"d-${round}"`), upsert(c, `"c-${round}"`)] });
      }
      await assertValue(h, c, utf8('"c-4"'));
      await assertValue(h, d, utf8('"d-4"'));
    },
  },
];

async function waitUntilGone(h: Harness, key: string): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < TTL_POLL_LIMIT_MS) {
    if ((await h.get(key)) === null) return Date.now() - started;
    await sleep(TTL_POLL_INTERVAL_MS);
  }
  return Number.POSITIVE_INFINITY;
}

function expiryOf(found: GetResponse | null, key: string): number {
  assert.ok(found !== null, `${key} should exist`);
  const expireTime = found.metadata?.['ttlExpireTime'];
  assert.ok(expireTime !== undefined, `${key} should report ttlExpireTime`);
  assert.match(expireTime, RFC3339);
  return Date.parse(expireTime);
}

const ttlCases: Case[] = [
  {
    name: 'TTL: a value expires after ttlInSeconds; a later write without TTL keeps its key',
    unless: requires(StateFeature.TTL),
    async run(h) {
      const renewed = h.key('ttl-renewed');
      const expiring = h.key('ttl-expiring');
      const forever = h.key('ttl-forever');
      await h.store.set({ key: renewed, value: utf8('"short"'), metadata: { ttlInSeconds: '1' } });
      await h.store.set({ key: renewed, value: utf8('"kept"') });
      await h.store.set({ key: forever, value: utf8('"forever"'), metadata: { ttlInSeconds: '-1' } });
      await h.store.set({ key: expiring, value: utf8('"fleeting"'), metadata: { ttlInSeconds: '1' } });
      const written = Date.now();

      const fresh = await assertValue(h, expiring, utf8('"fleeting"'));
      const expiresAt = expiryOf(fresh, expiring);
      // RFC 3339 may drop the fraction of a second, so the reported time can trail the exact expiry by up to 1 s.
      assert.ok(expiresAt > written - 1000 && expiresAt <= written + 2000, `ttlExpireTime ${new Date(expiresAt).toISOString()} is not about 1 s ahead`);

      const waited = await waitUntilGone(h, expiring);
      assert.ok(Number.isFinite(waited), `a key with ttlInSeconds=1 still exists after ${TTL_POLL_LIMIT_MS} ms`);
      const bulk = await h.store.bulkGet([{ key: expiring }]);
      assert.equal(bulk[0]?.data, undefined, 'bulkGet must not answer an expired key');

      const kept = await assertValue(h, renewed, utf8('"kept"'));
      assert.equal(kept.metadata?.['ttlExpireTime'], undefined, 'a write without TTL clears the expiry');
      const lasting = await assertValue(h, forever, utf8('"forever"'));
      assert.equal(lasting.metadata?.['ttlExpireTime'], undefined, 'ttlInSeconds=-1 sets no expiry');
    },
  },
  {
    name: 'TTL: ttlExpireTime lies in the future right after the write',
    unless: requires(StateFeature.TTL),
    async run(h) {
      const key = h.key('ttl-long');
      const before = Date.now();
      await h.store.set({ key, value: utf8('"long"'), metadata: { ttlInSeconds: '300' } });
      const expiresAt = expiryOf(await h.get(key), key);
      assert.ok(expiresAt > Date.now() + 290_000, 'ttlExpireTime should be about 300 s ahead');
      assert.ok(expiresAt <= before + 301_000, 'ttlExpireTime should be about 300 s ahead');
      const [item] = await h.store.bulkGet([{ key }]);
      assertBytes(item?.data, utf8('"long"'), 'bulkGet of a key with TTL');
    },
  },
  {
    name: 'TTL: a malformed ttlInSeconds is refused',
    unless: requires(StateFeature.TTL),
    async run(h) {
      const key = h.key('ttl-malformed');
      await assert.rejects(h.store.set({ key, value: utf8('"x"'), metadata: { ttlInSeconds: 'soon' } }), /ttlInSeconds/);
      await assert.rejects(h.store.set({ key, value: utf8('"x"'), metadata: { ttlInSeconds: '-5' } }), /ttlInSeconds/);
      await assertAbsent(h, key);
    },
  },
  {
    name: 'TTL: multi applies ttlInSeconds of its upserts',
    unless: (store) => requires(StateFeature.TTL)(store) ?? requires(StateFeature.TRANSACTIONAL)(store),
    async run(h) {
      const store = transactional(h.store);
      const key = h.key('ttl-multi');
      await store.multi({ operations: [{ operation: 'upsert', request: { key, value: utf8('"tx"'), metadata: { ttlInSeconds: '300' } } }] });
      const expiresAt = expiryOf(await h.get(key), key);
      assert.ok(expiresAt > Date.now() + 290_000, 'ttlExpireTime should be about 300 s ahead');
    },
  },
];

interface Person {
  person: { org: string; id: number };
  city: string;
  state: string;
}

// Ids share their digit count, so numeric and textual orderings agree whatever the store compares by.
const PEOPLE: readonly Person[] = [
  { person: { org: 'Dev Ops', id: 1036 }, city: 'Seattle', state: 'WA' },
  { person: { org: 'Hardware', id: 1028 }, city: 'Portland', state: 'OR' },
  { person: { org: 'Finance', id: 1071 }, city: 'Sacramento', state: 'CA' },
  { person: { org: 'Dev Ops', id: 1042 }, city: 'Spokane', state: 'WA' },
  { person: { org: 'Hardware', id: 1007 }, city: 'Los Angeles', state: 'CA' },
  { person: { org: 'Finance', id: 1094 }, city: 'Eugene', state: 'OR' },
  { person: { org: 'Dev Ops', id: 1015 }, city: 'San Diego', state: 'CA' },
  { person: { org: 'Sales', id: 1053 }, city: 'Tacoma', state: 'WA' },
];

const idsWhere = (keep: (p: Person) => boolean): number[] => PEOPLE.filter(keep).map((p) => p.person.id);
const ascending = (ids: number[]): number[] => [...ids].sort((x, y) => x - y);

const MAX_PAGES = 50;

async function queryIds(store: QueryableStore, req: QueryRequest): Promise<number[]> {
  return idsOf(req.keyPrefix, (await store.query(req)).results);
}

function idsOf(keyPrefix: string, results: readonly QueryItem[]): number[] {
  return results.map((item) => {
    assert.ok(item.key.startsWith(keyPrefix), `result key ${item.key} lies outside the prefix ${keyPrefix}`);
    assert.equal(item.error, undefined, `result ${item.key} carries an error`);
    const person = JSON.parse(view(item.data).toString('utf8')) as Person;
    assert.equal(item.key, `${keyPrefix}${person.person.id}`, 'a result pairs the key with its own value');
    return person.person.id;
  });
}

/** Follows continuation tokens to the end and answers every page's ids, in order. */
async function allPages(store: QueryableStore, keyPrefix: string, filter: QueryFilter | undefined, sorted: boolean, limit: number): Promise<number[][]> {
  const pages: number[][] = [];
  let token: string | undefined;
  do {
    assert.ok(pages.length < MAX_PAGES, `paging did not end after ${MAX_PAGES} pages`);
    const query = {
      ...(filter === undefined ? {} : { filter }),
      ...(sorted ? { sort: [{ key: 'person.id', order: 'ASC' as const }] } : {}),
      page: token === undefined ? { limit } : { limit, token },
    };
    const response = await store.query({ query, keyPrefix });
    const ids = idsOf(keyPrefix, response.results);
    assert.ok(ids.length <= limit, `a page holds ${ids.length} results, more than the limit ${limit}`);
    pages.push(ids);
    token = response.token === '' ? undefined : response.token;
    if (ids.length === 0) break;
  } while (token !== undefined);
  return pages;
}

const queryCase: Case = {
  name: 'QUERY_API: filters, sorting, paging and key prefixes',
  unless: requires(StateFeature.QUERY_API),
  async run(h, t) {
    assert.ok(isQueryable(h.store));
    const store = h.store;
    const keyPrefix = `${h.prefix}query||`;
    const decoyPrefix = `${h.prefix}decoy||`;
    const json = { contentType: 'application/json' };
    const write = (prefix: string): SetRequest[] =>
      PEOPLE.map((p) => ({
        key: h.key(`${prefix.slice(h.prefix.length)}${p.person.id}`),
        value: utf8(JSON.stringify(p)),
        contentType: 'application/json',
        metadata: json,
      }));
    await store.bulkSet([...write(keyPrefix), ...write(decoyPrefix)]);
    const everyId = ascending(idsWhere(() => true));

    const filters: [string, QueryFilter, number[]][] = [
      ['EQ on a nested path', { EQ: { 'person.org': 'Dev Ops' } }, idsWhere((p) => p.person.org === 'Dev Ops')],
      ['EQ on a number', { EQ: { 'person.id': 1071 } }, [1071]],
      ['IN', { IN: { state: ['CA', 'OR'] } }, idsWhere((p) => p.state === 'CA' || p.state === 'OR')],
      [
        'AND',
        { AND: [{ EQ: { 'person.org': 'Dev Ops' } }, { IN: { state: ['WA'] } }] },
        idsWhere((p) => p.person.org === 'Dev Ops' && p.state === 'WA'),
      ],
      [
        'OR',
        { OR: [{ EQ: { 'person.org': 'Finance' } }, { EQ: { state: 'WA' } }] },
        idsWhere((p) => p.person.org === 'Finance' || p.state === 'WA'),
      ],
      ['EQ matching nothing', { EQ: { 'person.org': 'Nobody' } }, []],
    ];
    for (const [label, filter, expected] of filters) {
      await t.test(label, async () => {
        const ids = await queryIds(store, { query: { filter }, keyPrefix, metadata: json });
        assert.deepEqual(ascending(ids), ascending(expected));
      });
    }

    await t.test('no filter answers every item under the prefix', async () => {
      assert.deepEqual(ascending(await queryIds(store, { query: {}, keyPrefix, metadata: json })), everyId);
    });

    await t.test('sort ASC and DESC', async () => {
      const asc = await queryIds(store, { query: { sort: [{ key: 'person.id', order: 'ASC' }] }, keyPrefix, metadata: json });
      assert.deepEqual(asc, everyId);
      const implicit = await queryIds(store, { query: { sort: [{ key: 'person.id' }] }, keyPrefix, metadata: json });
      assert.deepEqual(implicit, everyId, 'ASC is the default order');
      const desc = await queryIds(store, {
        query: { filter: { IN: { state: ['CA', 'WA'] } }, sort: [{ key: 'person.id', order: 'DESC' }] },
        keyPrefix,
        metadata: json,
      });
      assert.deepEqual(desc, ascending(idsWhere((p) => p.state !== 'OR')).reverse());
    });

    await t.test('paging with limit and token visits every item once', async () => {
      const sortedPages = await allPages(store, keyPrefix, undefined, true, 3);
      assert.deepEqual(sortedPages.flat(), everyId, 'sorted pages concatenate to the sorted result');
      assert.ok(sortedPages.filter((page) => page.length > 0).length >= 3, 'eight items in pages of three take three pages');
      const unsorted = (await allPages(store, keyPrefix, undefined, false, 3)).flat();
      assert.deepEqual(ascending(unsorted), everyId, 'unsorted pages visit every item exactly once');
      const filtered = (await allPages(store, keyPrefix, { IN: { state: ['CA', 'OR'] } }, true, 2)).flat();
      assert.deepEqual(filtered, ascending(idsWhere((p) => p.state === 'CA' || p.state === 'OR')));
    });

    await t.test('keyPrefix keeps other prefixes out', async () => {
      const decoys = await queryIds(store, { query: { filter: { EQ: { state: 'WA' } } }, keyPrefix: decoyPrefix, metadata: json });
      assert.deepEqual(ascending(decoys), ascending(idsWhere((p) => p.state === 'WA')));
      await store.bulkDelete(PEOPLE.map((p) => ({ key: `${decoyPrefix}${p.person.id}` })));
      assert.deepEqual(await queryIds(store, { query: {}, keyPrefix: decoyPrefix, metadata: json }), []);
      assert.deepEqual(ascending(await queryIds(store, { query: {}, keyPrefix, metadata: json })), everyId);
    });
  },
};

const persistenceCase: Case = {
  name: 'data survives closing the store and creating a new one',
  unless: (_store, target) => (target.persistent ? undefined : 'the store is not persistent'),
  async run(h, _t, target) {
    const key = h.key('persisted');
    const value = Uint8Array.from([0x00, 0xff, 0x7b, 0x22]);
    await h.store.set({ key, value });
    const before = await assertValue(h, key, value);
    await h.store.close();
    h.store = await target.create();
    const after = await assertValue(h, key, value, 'after a restart');
    assert.equal(after.etag, before.etag, 'the etag survives a restart');
    if (h.store.features().includes(StateFeature.ETAG) && before.etag !== undefined) {
      await h.store.set({ key, value: utf8('"next"'), etag: before.etag });
      await assertValue(h, key, utf8('"next"'));
    }
  },
};

const ALL_CASES: readonly Case[] = [...basicCases, ...etagCases, ...transactionCases, ...ttlCases, queryCase, persistenceCase];

/**
 * Registers one test for the target whose subtests check the state store contract. It calls target.skip()
 * first: Node 20's before() hooks inside describe() receive no TestContext, so skipping happens in the test.
 */
export function describeStateConformance(target: ConformanceTarget): void {
  test(`${target.name} state conformance`, async (t) => {
    if ((await target.skip?.(t)) === true) return;
    const harness = new Harness(await target.create(), `conformance-${randomBytes(6).toString('hex')}||`);
    t.after(() => harness.cleanUp());
    for (const c of ALL_CASES) {
      const skip = c.unless?.(harness.store, target) ?? false;
      await t.test(c.name, { skip, timeout: CASE_TIMEOUT_MS }, (sub) => c.run(harness, sub, target));
    }
  });
}
