import { after, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { parseSqliteOptions } from '../components/state/sqlite/options.js';
import { SqliteStore } from '../components/state/sqlite/store.js';
import { QueryError } from '../components/state/query-engine.js';
import { ETagMismatchError, isQueryable, isTransactional, stateCapabilities, type SetRequest } from '../components/state/store.js';
import { describeStateConformance } from './support/state-conformance.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined): string | undefined => (data === undefined ? undefined : Buffer.from(data).toString('utf8'));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const STORE_MODULE = new URL('../components/state/sqlite/store.js', import.meta.url).href;

const workDir = mkdtempSync(join(tmpdir(), 'pillion-sqlite-'));
after(() => rmSync(workDir, { recursive: true, force: true }));
let fileCount = 0;

/** A database file of its own for each test. */
function freshFile(): string {
  return join(workDir, `state-${++fileCount}.db`);
}

function openStore(t: TestContext | undefined, properties: Record<string, string>): SqliteStore {
  const store = new SqliteStore(parseSqliteOptions({ name: 'statestore', type: 'state.sqlite', version: 'v1', properties }));
  t?.after(() => store.close());
  return store;
}

/** A plain connection to inspect what the store wrote. */
function inspect(t: TestContext, file: string): Database.Database {
  const db = new Database(file, { readonly: true });
  t.after(() => db.close());
  return db;
}

async function etagOf(store: SqliteStore, key: string): Promise<string> {
  const found = await store.get({ key });
  assert.ok(found?.etag !== undefined, `${key} should exist`);
  return found.etag;
}

const conformanceFile = join(workDir, 'conformance.db');
describeStateConformance({
  name: 'state.sqlite',
  create: async () => openStore(undefined, { connectionString: conformanceFile }),
  persistent: true,
});

describe('state.sqlite', () => {
  it('advertises ETAG, TRANSACTIONAL, TTL and QUERY_API, and ACTOR as a capability', (t) => {
    const store = openStore(t, { connectionString: ':memory:' });
    assert.deepEqual(store.features(), ['ETAG', 'TRANSACTIONAL', 'TTL', 'QUERY_API']);
    assert.ok(isTransactional(store) && isQueryable(store));
    assert.deepEqual(stateCapabilities(store), ['ETAG', 'TRANSACTIONAL', 'TTL', 'QUERY_API', 'ACTOR']);
  });

  it("creates Dapr's schema, keeps JSON as text and other bytes as base64", async (t) => {
    const file = freshFile();
    const store = openStore(t, { connectionString: file });
    await store.set({ key: 'json', value: bytes('{"a": [1, 2]}') });
    await store.set({ key: 'binary', value: Uint8Array.from([0, 255, 1]) });
    await store.set({ key: 'text', value: bytes('not json') });
    await store.set({ key: 'bom', value: bytes('\ufeff{}') });

    const db = inspect(t, file);
    const columns = db.prepare<[], { name: string; type: string; notnull: number; pk: number }>(`PRAGMA table_info(state)`).all();
    assert.deepEqual(
      columns.map((c) => [c.name, c.type, c.notnull, c.pk]),
      [
        ['key', 'TEXT', 1, 1],
        ['value', 'TEXT', 1, 0],
        ['is_binary', 'BOOLEAN', 1, 0],
        ['etag', 'TEXT', 1, 0],
        ['expiration_time', 'TIMESTAMP', 0, 0],
        ['update_time', 'TIMESTAMP', 1, 0],
      ],
    );
    assert.deepEqual(db.prepare(`SELECT key, value FROM metadata`).all(), [{ key: 'migrations', value: '1' }]);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    const rows = db.prepare<[], { key: string; value: string; is_binary: number }>(`SELECT key, value, is_binary FROM state ORDER BY key`).all();
    assert.deepEqual(
      rows.map((r) => [r.key, r.value, r.is_binary]),
      [
        ['binary', 'AP8B', 1],
        ['bom', Buffer.from('\ufeff{}').toString('base64'), 1],
        ['json', '{"a": [1, 2]}', 0],
        ['text', Buffer.from('not json').toString('base64'), 1],
      ],
    );
    assert.deepEqual([...((await store.get({ key: 'bom' }))?.data ?? [])], [0xef, 0xbb, 0xbf, 0x7b, 0x7d]);
  });

  it('reads a database written by daprd, honouring its second-resolution expiry times', async (t) => {
    const file = freshFile();
    const dapr = new Database(file);
    dapr.exec(`CREATE TABLE metadata (key text NOT NULL PRIMARY KEY, value text NOT NULL);
      INSERT INTO metadata VALUES ('migrations', '1');
      CREATE TABLE state (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL, is_binary BOOLEAN NOT NULL, etag TEXT NOT NULL,
        expiration_time TIMESTAMP DEFAULT NULL, update_time TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);
      INSERT INTO state (key, value, is_binary, etag) VALUES ('app||json', '{"x":1}', 0, 'e1'), ('app||bin', 'aGk=', 1, 'e2');
      INSERT INTO state (key, value, is_binary, etag, expiration_time)
        VALUES ('app||gone', '1', 0, 'e3', DATETIME(CURRENT_TIMESTAMP, '-5 seconds')),
               ('app||later', '2', 0, 'e4', DATETIME(CURRENT_TIMESTAMP, '+100 seconds'));`);
    dapr.close();

    const store = openStore(t, { connectionString: file });
    const items = await store.bulkGet(['app||json', 'app||bin', 'app||gone', 'app||later'].map((key) => ({ key })));
    assert.deepEqual(
      items.map((i) => [i.key, text(i.data), i.etag]),
      [
        ['app||json', '{"x":1}', 'e1'],
        ['app||bin', 'hi', 'e2'],
        ['app||gone', undefined, undefined],
        ['app||later', '2', 'e4'],
      ],
    );
    const expiry = Date.parse(items[3]!.metadata?.['ttlExpireTime'] ?? '');
    assert.ok(Math.abs(expiry - (Date.now() + 100_000)) < 3000, 'ttlExpireTime comes from the stored expiration_time');
    await store.set({ key: 'app||json', value: bytes('{"x":2}'), etag: 'e1' });
    assert.match(await etagOf(store, 'app||json'), UUID);
    assert.deepEqual(inspect(t, file).prepare(`SELECT value FROM metadata WHERE key = 'migrations'`).get(), { value: '1' });
  });

  it('issues a fresh UUID etag per write; a wrong or unknown etag mismatches', async (t) => {
    const store = openStore(t, { connectionString: freshFile() });
    await store.set({ key: 'k', value: bytes('1') });
    const first = await etagOf(store, 'k');
    assert.match(first, UUID);
    await store.set({ key: 'k', value: bytes('1') });
    const second = await etagOf(store, 'k');
    assert.notEqual(second, first, 'even an identical value gets a new etag');
    for (const etag of [first, 'garbage', '1', second.toUpperCase()]) {
      await assert.rejects(store.set({ key: 'k', value: bytes('2'), etag }), ETagMismatchError, etag);
      await assert.rejects(store.delete({ key: 'k', etag }), ETagMismatchError, etag);
    }
    assert.equal(await etagOf(store, 'k'), second);
    await store.delete({ key: 'k', etag: second });
    assert.equal(await store.get({ key: 'k' }), null);
  });

  it('first-write: concurrent writers on one store and on two stores over one file, exactly one wins', async (t) => {
    const file = freshFile();
    const one = openStore(t, { connectionString: file });
    const two = openStore(t, { connectionString: file });
    const firstWrite = { concurrency: 'first-write' } as const;
    const attempts = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? one : two).set({ key: 'race', value: bytes(String(i)), options: firstWrite }));
    const outcomes = await Promise.allSettled(attempts);
    const winners = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
    assert.equal(winners.length, 1);
    for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof ETagMismatchError);
    assert.equal(text((await two.get({ key: 'race' }))?.data), String(winners[0]));

    const etag = await etagOf(one, 'race');
    const updates = await Promise.allSettled([one, two, one].map((store, i) => store.set({ key: 'race', value: bytes(`"u${i}"`), etag, options: firstWrite })));
    assert.deepEqual(
      updates.map((u) => u.status),
      ['fulfilled', 'rejected', 'rejected'],
      'only the first update with the read etag succeeds',
    );
    await one.delete({ key: 'race' });
    await two.set({ key: 'race', value: bytes('"again"'), options: firstWrite });
    assert.equal(text((await one.get({ key: 'race' }))?.data), '"again"');
  });

  it('first-write across processes racing on one file: every key is created exactly once', { timeout: 60_000 }, async (t) => {
    const file = freshFile();
    openStore(t, { connectionString: file });
    const keys = 2000;
    const startAt = Date.now() + 1500;
    const racers = await Promise.all(Array.from({ length: 4 }, (_, writer) =>
        runChild(t, { MODE: 'race', DB_FILE: file, KEYS: String(keys), START_AT: String(startAt), WRITER: String(writer) }),
      ),);
    const won = racers.map((out) => JSON.parse(out.trim().split('\n').at(-1)!) as number[]);
    const all = won.flat().sort((a, b) => a - b);
    assert.deepEqual(all, Array.from({ length: keys }, (_, i) => i), `wins per racer: ${won.map((w) => w.length).join(', ')}`);
    const store = openStore(t, { connectionString: file });
    const items = await store.bulkGet(Array.from({ length: keys }, (_, i) => ({ key: `race-${i}` })));
    items.forEach((item, i) => {
      const writer = won.findIndex((w) => w.includes(i));
      assert.equal(text(item.data), `{"writer":${writer}}`, `key race-${i}`);
    });
  });

  it('keeps every acknowledged write when the writing process is SIGKILLed', { timeout: 60_000 }, async (t) => {
    const file = freshFile();
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD_SCRIPT], {
      env: { ...process.env, MODE: 'write', DB_FILE: file, STORE_MODULE },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.after(() => child.kill('SIGKILL'));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    let acknowledged = -1;
    for await (const line of createInterface({ input: child.stdout })) {
      const match = /^ack (\d+)$/.exec(line);
      if (match === null) continue;
      acknowledged = Number(match[1]);
      if (acknowledged === 300) child.kill('SIGKILL');
    }
    assert.equal(await exited, 'SIGKILL');
    assert.ok(acknowledged >= 300);

    const store = openStore(t, { connectionString: file });
    const items = await store.bulkGet(Array.from({ length: acknowledged + 1 }, (_, i) => ({ key: `k${i}` })));
    items.forEach((item, i) => assert.equal(text(item.data), `{"i":${i}}`, `k${i} was acknowledged`));
    const batches = await store.bulkGet(Array.from({ length: acknowledged + 1 }, (_, i) => ({ key: `tx${i}` })));
    batches.forEach((item, i) => assert.equal(text(item.data), i % 10 === 0 ? `"tx${i}"` : undefined, `tx${i}`));
  });

  it('expires rows with ttlInSeconds and removes them in the background', { timeout: 15_000 }, async (t) => {
    const file = freshFile();
    const store = openStore(t, { connectionString: file, cleanupInterval: '200ms' });
    await store.set({ key: 'brief', value: bytes('"x"'), metadata: { ttlInSeconds: '1' } });
    await store.set({ key: 'guarded', value: bytes('"g"'), metadata: { ttlInSeconds: '1' } });
    await store.set({ key: 'stays', value: bytes('"y"'), metadata: { ttlInSeconds: '60' } });
    const guardedETag = await etagOf(store, 'guarded');
    const db = inspect(t, file);
    const rawCount = (key: string): number => db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM state WHERE key = ?`).get(key)!.n;

    await sleep(1100);
    assert.equal(await store.get({ key: 'brief' }), null);
    assert.deepEqual(await store.bulkGet([{ key: 'brief' }]), [{ key: 'brief' }]);
    await assert.rejects(store.set({ key: 'guarded', value: bytes('"late"'), etag: guardedETag }), ETagMismatchError, 'an expired row has no etag any more');
    await assert.rejects(store.delete({ key: 'guarded', etag: guardedETag }), ETagMismatchError);
    assert.equal(text((await store.get({ key: 'stays' }))?.data), '"y"');

    const deadline = Date.now() + 5000;
    while (rawCount('brief') > 0 && Date.now() < deadline) await sleep(50);
    assert.equal(rawCount('brief'), 0, 'the cleanup removed the expired row');
    assert.equal(rawCount('stays'), 1);
    await store.set({ key: 'brief', value: bytes('"reborn"'), options: { concurrency: 'first-write' } });
    assert.equal(text((await store.get({ key: 'brief' }))?.data), '"reborn"');
  });

  it('first-write replaces an expired row that the cleanup has not removed yet', async (t) => {
    const store = openStore(t, { connectionString: freshFile(), cleanupInterval: '0' });
    await store.set({ key: 'k', value: bytes('"old"'), metadata: { ttlInSeconds: '1' } });
    await assert.rejects(store.set({ key: 'k', value: bytes('"new"'), options: { concurrency: 'first-write' } }), ETagMismatchError);
    await sleep(1100);
    await store.set({ key: 'k', value: bytes('"new"'), options: { concurrency: 'first-write' } });
    const found = await store.get({ key: 'k' });
    assert.equal(text(found?.data), '"new"');
    assert.equal(found?.metadata, undefined);
  });

  it('rolls back a whole transaction on a mismatch and validates before writing', async (t) => {
    const file = freshFile();
    const store = openStore(t, { connectionString: file });
    await store.bulkSet([
      { key: 'a', value: bytes('"a0"') },
      { key: 'b', value: bytes('"b0"') },
    ]);
    const etagA = await etagOf(store, 'a');
    const snapshot = (): unknown => inspect(t, file).prepare(`SELECT key, value, etag FROM state ORDER BY key`).all();
    const before = snapshot();
    await assert.rejects(
      store.multi({
        operations: [
          { operation: 'upsert', request: { key: 'a', value: bytes('"a1"'), etag: etagA } },
          { operation: 'delete', request: { key: 'b' } },
          { operation: 'upsert', request: { key: 'c', value: bytes('"c1"') } },
          { operation: 'upsert', request: { key: 'b', value: bytes('"b1"'), options: { concurrency: 'first-write' } } },
          { operation: 'upsert', request: { key: 'a', value: bytes('"a2"'), etag: etagA } },
        ],
      }),
      ETagMismatchError,
    );
    assert.deepEqual(snapshot(), before);
    await assert.rejects(
      store.multi({
        operations: [
          { operation: 'upsert', request: { key: 'c', value: bytes('"c1"') } },
          { operation: 'upsert', request: { key: 'a', value: bytes('"x"'), metadata: { ttlInSeconds: 'never' } } },
        ],
      }),
      /ttlInSeconds/,
    );
    await assert.rejects(
      store.multi({ operations: [{ operation: 'merge', request: { key: 'c' } } as never] }),
      /unsupported transaction operation "merge"/,
    );
    assert.deepEqual(snapshot(), before);

    await store.multi({
      operations: [
        { operation: 'delete', request: { key: 'b' } },
        { operation: 'upsert', request: { key: 'b', value: bytes('"b1"'), options: { concurrency: 'first-write' } } },
        { operation: 'upsert', request: { key: 'a', value: bytes('"a1"'), etag: etagA } },
      ],
    });
    assert.equal(text((await store.get({ key: 'a' }))?.data), '"a1"');
    assert.equal(text((await store.get({ key: 'b' }))?.data), '"b1"');
    assert.equal(await store.get({ key: 'c' }), null);
  });

  it('stores 1 MiB JSON and binary values', async (t) => {
    const store = openStore(t, { connectionString: freshFile() });
    const json = bytes(JSON.stringify({ blob: 'é'.repeat(512 * 1024 - 8) }));
    const binary = new Uint8Array(1024 * 1024).map((_, i) => (i * 7919) & 0xff);
    await store.bulkSet([
      { key: 'json', value: json },
      { key: 'binary', value: binary },
    ]);
    assert.ok(Buffer.from((await store.get({ key: 'json' }))!.data).equals(json));
    assert.ok(Buffer.from((await store.get({ key: 'binary' }))!.data).equals(binary));
  });

  it('queries live JSON values under a key prefix only', async (t) => {
    const store = openStore(t, { connectionString: freshFile() });
    const people: SetRequest[] = [
      ['app||1', { org: 'ops', n: 3 }],
      ['app||2', { org: 'ops', n: 1 }],
      ['app||3', { org: 'dev', n: 2 }],
      ['app|||4', { org: 'ops', n: 4 }],
      ['app|5', { org: 'ops', n: 5 }],
      ['apq||6', { org: 'ops', n: 6 }],
      ['ключ||7', { org: 'ops', n: 7 }],
    ].map(([key, value]) => ({ key: key as string, value: bytes(JSON.stringify(value)) }));
    await store.bulkSet([
      ...people,
      { key: 'app||binary', value: Uint8Array.from([0xff, 0x00]) },
      { key: 'app||text', value: bytes('plain') },
      { key: 'app||scalar', value: bytes('42') },
      { key: 'app||expiring', value: bytes('{"org":"ops","n":0}'), metadata: { ttlInSeconds: '1' } },
    ]);
    const keys = async (keyPrefix: string, query: Parameters<SqliteStore['query']>[0]['query']): Promise<string[]> =>
      (await store.query({ keyPrefix, query })).results.map((r) => r.key);

    assert.deepEqual(await keys('app||', { filter: { EQ: { org: 'ops' } }, sort: [{ key: 'n' }] }), ['app||expiring', 'app||2', 'app||1', 'app|||4']);
    assert.deepEqual(await keys('app||', {}), ['app||1', 'app||2', 'app||3', 'app||expiring', 'app||scalar', 'app|||4']);
    assert.deepEqual(await keys('ключ||', {}), ['ключ||7']);
    assert.equal((await keys('', {})).length, 9, 'every JSON value; the binary and plain-text ones take no part');
    assert.deepEqual(await keys('nothing||', {}), []);
    const first = await store.query({ keyPrefix: 'app||', query: { filter: { IN: { org: ['ops', 'dev'] } }, sort: [{ key: 'n', order: 'DESC' }], page: { limit: 2 } } });
    assert.deepEqual(first.results.map((r) => r.key), ['app|||4', 'app||1']);
    assert.equal(first.token, '2');
    assert.match(first.results[0]!.etag ?? '', UUID);
    assert.equal(text(first.results[0]!.data), '{"org":"ops","n":4}');

    await sleep(1100);
    assert.deepEqual(await keys('app||', { filter: { EQ: { org: 'ops' } } }), ['app||1', 'app||2', 'app|||4'], 'expired rows take no part');
    await assert.rejects(store.query({ keyPrefix: 'app||', query: { filter: { AND: [{ EQ: { org: 'ops' } }] } } }), QueryError);
    await assert.rejects(store.query({ keyPrefix: 'app||', query: { page: { token: 'x' } } }), QueryError);
  });

  it('accepts the connection string forms and metadata of Dapr', async (t) => {
    const file = freshFile();
    const viaUri = openStore(t, {
      ConnectionString: `file:${file}?_pragma=busy_timeout(1500)&_txlock=immediate&cache=shared`,
      tablename: 'custom_state',
      metadataTableName: 'custom_meta',
      timeout: '5s',
    });
    await viaUri.set({ key: 'k', value: bytes('"uri"') });
    const db = inspect(t, file);
    assert.deepEqual(db.prepare(`SELECT key, value FROM custom_state`).all(), [{ key: 'k', value: '"uri"' }]);
    assert.deepEqual(db.prepare(`SELECT value FROM custom_meta`).all(), [{ value: '1' }]);
    await viaUri.close();
    await viaUri.close();
    await assert.rejects(viaUri.get({ key: 'k' }), /not open/);

    const readonly = openStore(t, { connectionString: `file://${file}?mode=ro`, tableName: 'custom_state' });
    assert.equal(text((await readonly.get({ key: 'k' }))?.data), '"uri"');
    await assert.rejects(readonly.set({ key: 'k', value: bytes('1') }), /readonly/);

    const noWal = freshFile();
    openStore(t, { connectionString: noWal, disableWAL: 'true' });
    assert.equal(inspect(t, noWal).pragma('journal_mode', { simple: true }), 'delete');

    const memory = openStore(t, { connectionString: 'file::memory:' });
    await memory.set({ key: 'm', value: bytes('1') });
    assert.equal(text((await memory.get({ key: 'm' }))?.data), '1');

    const options = parseSqliteOptions({ name: 's', type: 'state.sqlite', version: 'v1', properties: { connectionString: file } });
    assert.deepEqual(
      [options.busyTimeoutMs, options.cleanupIntervalMs, options.wal, options.tableName, options.metadataTableName],
      [20_000, 3_600_000, true, 'state', 'metadata'],
    );
    const tuned = parseSqliteOptions({
      name: 's',
      type: 'state.sqlite',
      version: 'v1',
      properties: { connectionString: file, timeout: '3s', busyTimeout: '250ms', cleanupInterval: '0' },
    });
    assert.deepEqual([tuned.busyTimeoutMs, tuned.cleanupIntervalMs], [250, 0]);
  });

  it('refuses bad metadata with clear errors', () => {
    const missingDir = join(workDir, 'no-such-dir', 'state.db');
    const cases: [Record<string, string>, RegExp][] = [
      [{}, /"connectionString" is required/],
      [{ connectionString: '  ' }, /"connectionString" is required/],
      [{ connectionString: missingDir }, /directory ".*no-such-dir" does not exist/],
      [{ connectionString: `file:${missingDir}?mode=rwc` }, /directory ".*no-such-dir" does not exist/],
      [{ connectionString: `file:${join(workDir, 'absent.db')}?mode=ro` }, /cannot open database/],
      [{ connectionString: 'file:x.db?mode=weird' }, /unsupported connectionString mode "weird"/],
      [{ connectionString: 'file:x.db?_pragma=busy_timeout' }, /malformed connectionString _pragma/],
      [{ connectionString: 'file:x.db?_pragma=journal_mode(WAL;DROP)' }, /malformed connectionString _pragma/],
      [{ connectionString: 'file:x.db?_loc=auto' }, /unsupported connectionString option "_loc"/],
      [{ connectionString: 'file://remote.example/x.db' }, /names a remote host/],
      [{ connectionString: 'file:x%zz.db' }, /malformed %-escape/],
      [{ connectionString: 'file:?mode=rwc' }, /names no file/],
      [{ connectionString: ':memory:', tableName: 'state; DROP TABLE x' }, /"tableName" must be a plain SQL identifier/],
      [{ connectionString: ':memory:', metadataTableName: '1meta' }, /"metadataTableName" must be a plain SQL identifier/],
      [{ connectionString: ':memory:', timeout: 'soon' }, /"timeout" must be a duration/],
      [{ connectionString: ':memory:', timeout: '0' }, /"timeout" must be positive/],
      [{ connectionString: ':memory:', cleanupInterval: '10' }, /"cleanupInterval" must be a duration/],
      [{ connectionString: ':memory:', busyTimeout: '-1s' }, /"busyTimeout" must not be negative/],
    ];
    for (const [properties, message] of cases) {
      assert.throws(() => openStore(undefined, properties), message, JSON.stringify(properties));
    }
  });

  it('refuses a table that does not have the state layout', (t) => {
    const file = freshFile();
    const db = new Database(file);
    db.exec(`CREATE TABLE state (key TEXT PRIMARY KEY)`);
    db.close();
    assert.throws(() => openStore(t, { connectionString: file }), /^Error: state\.sqlite: cannot .*no such column: expiration_time/);
  });
});

/** Runs the child script to completion and answers its standard output. */
async function runChild(t: TestContext, env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD_SCRIPT], {
    env: { ...process.env, ...env, STORE_MODULE },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, `child ${env['MODE']} failed`);
  return output;
}

// `write`: writes k0, k1, ... (and every tenth index a transaction), acknowledging each on stdout, until killed.
// `race`: at START_AT, tries a first-write of race-0 .. race-(KEYS-1) as WRITER, then prints the indexes it created.
const CHILD_SCRIPT = `
const { SqliteStore } = await import(process.env.STORE_MODULE);
const { parseSqliteOptions } = await import(new URL('./options.js', process.env.STORE_MODULE).href);
const store = new SqliteStore(parseSqliteOptions({ name: 's', type: 'state.sqlite', version: 'v1', properties: { connectionString: process.env.DB_FILE } }));
const bytes = (s) => new TextEncoder().encode(s);
if (process.env.MODE === 'write') {
  for (let i = 0; i < 1e6; i++) {
    await store.set({ key: 'k' + i, value: bytes(JSON.stringify({ i })) });
    if (i % 10 === 0) await store.multi({ operations: [{ operation: 'upsert', request: { key: 'tx' + i, value: bytes('"tx' + i + '"') } }] });
    process.stdout.write('ack ' + i + '\\n');
    if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
} else {
  // Each racer walks the keys in its own order, so the processes collide all along instead of one by one.
  const order = Array.from({ length: Number(process.env.KEYS) }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  await new Promise((resolve) => setTimeout(resolve, Number(process.env.START_AT) - Date.now() - 20));
  while (Date.now() < Number(process.env.START_AT));
  const won = [];
  for (const i of order) {
    try {
      await store.set({ key: 'race-' + i, value: bytes('{"writer":' + process.env.WRITER + '}'), options: { concurrency: 'first-write' } });
      won.push(i);
    } catch (err) {
      if (err.name !== 'ETagMismatchError') throw err;
    }
  }
  process.stdout.write(JSON.stringify(won.sort((a, b) => a - b)) + '\\n');
}
await store.close();
`;
