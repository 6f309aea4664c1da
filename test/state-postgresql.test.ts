import { after, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import '../components/state/postgresql/postgresql-store.js';
import { ConnectionStringError, parseConnectionString, parseDurationMs, parseKeywordValue } from '../components/state/postgresql/connection-string.js';
import { parseSettings } from '../components/state/postgresql/metadata.js';
import { PostgresStore } from '../components/state/postgresql/postgresql-store.js';
import { QueryError } from '../components/state/query-engine.js';
import { ETagInvalidError, ETagMismatchError, type QueryableStore, type Store, type TransactionalStore } from '../components/state/store.js';
import { eventually } from './support/eventually.js';
import { serviceAvailable } from './support/services.js';
import { describeStateConformance } from './support/state-conformance.js';
import { TcpRelay } from './support/tcp-relay.js';
import { createComponent } from './support/components.js';

const PG_PORT = 5432;
const RUN = randomBytes(5).toString('hex');
const TABLE = `pillion_state_${RUN}`;
const META_TABLE = `pillion_meta_${RUN}`;
const SCHEMA = `pillion_schema_${RUN}`;
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined): string | undefined => (data === undefined ? undefined : Buffer.from(data).toString('utf8'));

/** The first of the trust-auth users this server knows; found once. */
let userLookup: Promise<string> | undefined;
function serverUser(): Promise<string> {
  userLookup ??= (async () => {
    for (const user of ['postgres', 'root']) {
      const client = new pg.Client({ host: '127.0.0.1', port: PG_PORT, user, database: 'test', connectionTimeoutMillis: 5000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        return user;
      } catch {
        // Try the next user.
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    throw new Error('PostgreSQL on 127.0.0.1:5432 accepts neither user postgres nor root (trust auth, db test)');
  })();
  return userLookup;
}

/** A direct connection for looking at the table behind the store's back; closed when the test ends. */
async function rawClient(t: TestContext): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port: PG_PORT, user: await serverUser(), database: 'test' });
  client.on('error', () => undefined);
  await client.connect();
  t.after(() => client.end());
  return client;
}

async function keywordString(port = PG_PORT, extra = ''): Promise<string> {
  return `host=127.0.0.1 port=${port} user=${await serverUser()} dbname='test' sslmode=disable connect_timeout=10 ${extra}`;
}

/** A store made the way the sidecar makes one: from a Component resource, through the registry. */
async function createFromRegistry(properties: Record<string, string>): Promise<Store> {
  return (await createComponent('state', 'state.postgresql', properties)).instance;
}

async function openStore(t: TestContext, properties: Record<string, string> = {}): Promise<PostgresStore> {
  const store = await PostgresStore.open(
    parseSettings({
      name: 'pg',
      type: 'state.postgresql',
      version: 'v1',
      properties: { connectionString: await keywordString(), tableName: TABLE, metadataTableName: META_TABLE, ...properties },
    }),
  );
  t.after(() => store.close());
  return store;
}

/** Whether the suite can run; skips loudly (or fails under CI) when PostgreSQL is not there. */
async function available(t: TestContext): Promise<boolean> {
  return serviceAvailable(t, 'PostgreSQL', PG_PORT);
}

async function etagOf(store: Store, key: string): Promise<string> {
  const found = await store.get({ key });
  assert.ok(found?.etag !== undefined, `${key} should exist`);
  return found.etag;
}

// Runs after every suite of this file, the conformance suite included.
after(async () => {
  if (userLookup === undefined) return;
  const client = new pg.Client({ host: '127.0.0.1', port: PG_PORT, user: await serverUser(), database: 'test' });
  await client.connect();
  await client.query(`DROP TABLE IF EXISTS ${TABLE}, ${META_TABLE}, ${TABLE}_url, ${TABLE}_reconnect, ${TABLE}_late`);
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await client.end();
});

describe('state.postgresql connection strings', () => {
  it('parses libpq keyword/value pairs with quoting and backslash escapes', () => {
    const pairs = parseKeywordValue(String.raw`host=db.local  port = 6543 password='it\'s a \\ secret' dbname= 'my db' user=app\ one empty=''`);
    assert.deepEqual(Object.fromEntries(pairs), {
      host: 'db.local',
      port: '6543',
      password: String.raw`it's a \ secret`,
      dbname: 'my db',
      user: 'app one',
      empty: '',
    });
    assert.throws(() => parseKeywordValue("password='open"), ConnectionStringError);
    assert.throws(() => parseKeywordValue('host'), /missing "="/);
    assert.throws(() => parseKeywordValue('=x'), ConnectionStringError);
  });

  it('maps both forms onto the same client settings', () => {
    const keyword = parseConnectionString('host=127.0.0.1 user=postgres password=p@ss port=5432 dbname=test sslmode=disable connect_timeout=10');
    const url = parseConnectionString('postgres://postgres:p%40ss@127.0.0.1:5432/test?sslmode=disable&connect_timeout=10');
    const expected = { host: '127.0.0.1', user: 'postgres', password: 'p@ss', port: 5432, database: 'test', ssl: false, connectionTimeoutMillis: 10_000 };
    assert.deepEqual(keyword.config, expected);
    assert.deepEqual(url.config, expected);
    assert.equal(parseConnectionString('postgresql://[::1]:5433/db').config.host, '::1');
  });

  it('passes unknown keywords as server settings and notes client-only ones', () => {
    const { config, ignored } = parseConnectionString("host=h search_path='a b' application_name=pillion pool_max_conns=7 target_session_attrs=any");
    assert.equal(config.options, String.raw`-c search_path=a\ b`);
    assert.equal(config.application_name, 'pillion');
    assert.equal(config.max, 7);
    assert.deepEqual(ignored, ['target_session_attrs']);
    assert.deepEqual(parseConnectionString('host=h sslmode=require').config.ssl, { rejectUnauthorized: false });
  });

  it('refuses malformed connection strings', () => {
    assert.throws(() => parseConnectionString(''), ConnectionStringError);
    assert.throws(() => parseConnectionString('host=a,b'), /several hosts/);
    assert.throws(() => parseConnectionString('port=http'), /port must be an integer/);
    assert.throws(() => parseConnectionString('sslmode=sometimes'), /unknown sslmode/);
    assert.throws(() => parseConnectionString('postgres://u@h:99999/db'), ConnectionStringError);
    assert.throws(() => parseConnectionString('host=h sslmode=verify-full sslrootcert=/nonexistent/ca.pem'), /cannot read/);
  });

  it('reads Go durations', () => {
    assert.equal(parseDurationMs('1h30m', 'x'), 5_400_000);
    assert.equal(parseDurationMs('250ms', 'x'), 250);
    assert.equal(parseDurationMs('45', 'x'), 45_000);
    assert.throws(() => parseDurationMs('soon', 'x'), /duration/);
  });
});

describe('state.postgresql metadata', () => {
  const meta = (properties: Record<string, string>) => ({ name: 'pg', type: 'state.postgresql', version: 'v1', properties });

  it('applies Dapr defaults and options', () => {
    const defaults = parseSettings(meta({ connectionstring: 'host=h' }));
    assert.equal(defaults.tableName, 'state');
    assert.equal(defaults.metadataTableName, 'dapr_metadata');
    assert.equal(defaults.timeoutMs, 20_000);
    assert.equal(defaults.cleanupIntervalMs, 3_600_000);
    assert.equal(defaults.pool.connectionTimeoutMillis, 20_000);
    const custom = parseSettings(
      meta({ connectionString: 'host=h connect_timeout=3', tableName: 'app.orders', timeoutInSeconds: '5', cleanupIntervalInSeconds: '0', maxConns: '4', connectionMaxIdleTime: '2m' }),
    );
    assert.equal(custom.tableName, 'app.orders');
    assert.equal(custom.cleanupIntervalMs, 0);
    assert.equal(custom.pool.max, 4);
    assert.equal(custom.pool.idleTimeoutMillis, 120_000);
    assert.equal(custom.pool.connectionTimeoutMillis, 3000);
    assert.equal(custom.pool.query_timeout, 5000);
  });

  it('refuses unsafe table names and bad numbers', () => {
    assert.throws(() => parseSettings(meta({})), /connectionString/);
    for (const tableName of ['state; DROP TABLE x', 'a.b.c', '"quoted"', '1abc', 'x'.repeat(64)]) {
      assert.throws(() => parseSettings(meta({ connectionString: 'host=h', tableName })), /not a valid table name/, tableName);
    }
    assert.throws(() => parseSettings(meta({ connectionString: 'host=h', metadataTableName: 'm--' })), /not a valid table name/);
    assert.throws(() => parseSettings(meta({ connectionString: 'host=h', timeoutInSeconds: '0' })), /timeoutInSeconds/);
    assert.throws(() => parseSettings(meta({ connectionString: 'host=h', maxConns: 'many' })), /maxConns/);
  });
});

describe('state.postgresql', () => {
  it('opens with either connection string form through the registry', async (t) => {
    if (!(await available(t))) return;
    const user = await serverUser();
    const forms = [await keywordString(), `postgres://${user}@127.0.0.1:${PG_PORT}/test?sslmode=disable&application_name=pillion%20test`];
    for (const connectionString of forms) {
      const store = await createFromRegistry({ connectionString, tableName: `${TABLE}_url`, metadataTableName: META_TABLE });
      try {
        await store.set({ key: 'form', value: bytes(JSON.stringify(connectionString)) });
        assert.equal(JSON.parse(text((await store.get({ key: 'form' }))?.data) ?? ''), connectionString);
      } finally {
        await store.close();
      }
    }
  });

  it('stores JSON as jsonb and everything else as base64, like Dapr', async (t) => {
    if (!(await available(t))) return;
    const store = await openStore(t);
    const raw = await rawClient(t);
    const binary = Uint8Array.from([0x00, 0xff, 0x10, 0x80]);
    await store.set({ key: 'layout-json', value: bytes('{"b":1,"a":[true,null]}') });
    await store.set({ key: 'layout-binary', value: binary });
    await store.set({ key: 'layout-text', value: bytes('plain text') });
    await store.set({ key: 'layout-nul', value: bytes('"a\\u0000b"') });
    const { rows } = await raw.query<{ key: string; value: unknown; isbinary: boolean; etag: string }>(
      `SELECT key, value, isbinary, xmin::text AS etag FROM ${TABLE} WHERE key LIKE 'layout-%' ORDER BY key`,
    );
    const byKey = new Map(rows.map((row) => [row.key, row]));
    assert.deepEqual(byKey.get('layout-json')?.value, { a: [true, null], b: 1 });
    assert.equal(byKey.get('layout-json')?.isbinary, false);
    assert.equal(byKey.get('layout-binary')?.value, Buffer.from(binary).toString('base64'));
    assert.equal(byKey.get('layout-binary')?.isbinary, true);
    assert.equal(byKey.get('layout-text')?.isbinary, true);
    assert.equal(byKey.get('layout-nul')?.isbinary, true, 'jsonb cannot hold \\u0000');

    const json = await store.get({ key: 'layout-json' });
    assert.deepEqual(JSON.parse(text(json?.data) ?? ''), { b: 1, a: [true, null] });
    assert.equal(json?.etag, byKey.get('layout-json')?.etag, 'the etag is the row xmin');
    assert.deepEqual(Buffer.from((await store.get({ key: 'layout-binary' }))!.data), Buffer.from(binary));
    assert.equal(text((await store.get({ key: 'layout-text' }))?.data), 'plain text');
    assert.equal(text((await store.get({ key: 'layout-nul' }))?.data), '"a\\u0000b"');
  });

  it('round-trips a 1 MiB JSON value and unicode keys', async (t) => {
    if (!(await available(t))) return;
    const store = await openStore(t);
    const big = JSON.stringify({ blob: 'x'.repeat(1024 * 1024) });
    await store.set({ key: 'app||大きい||🔑', value: bytes(big) });
    const found = await store.get({ key: 'app||大きい||🔑' });
    assert.deepEqual(JSON.parse(text(found?.data) ?? ''), JSON.parse(big));
    assert.equal(await store.get({ key: 'app||大きい' }), null);
  });

  it('refuses etags it could never have issued', async (t) => {
    if (!(await available(t))) return;
    const store = await openStore(t);
    await store.set({ key: 'etag-invalid', value: bytes('1') });
    for (const etag of ['abc', '-1', '1.5', '4294967296', '12345678901', ' 1']) {
      await assert.rejects(store.set({ key: 'etag-invalid', value: bytes('2'), etag }), ETagInvalidError, etag);
      await assert.rejects(store.delete({ key: 'etag-invalid', etag }), ETagInvalidError, etag);
    }
    await assert.rejects(store.set({ key: 'etag-invalid', value: bytes('2'), etag: '4294967295' }), ETagMismatchError);
    assert.equal(text((await store.get({ key: 'etag-invalid' }))?.data), '1');
  });

  it('lets exactly one of many concurrent first-writers create a key', async (t) => {
    if (!(await available(t))) return;
    const store = await openStore(t, { maxConns: '20' });
    const key = `race-${randomBytes(4).toString('hex')}`;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.set({ key, value: bytes(String(i)), options: { concurrency: 'first-write' } })),
    );
    const winners = outcomes.filter((o) => o.status === 'fulfilled');
    assert.equal(winners.length, 1);
    for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof ETagMismatchError, String(o.reason));
  });

  it('treats an expired row not yet cleaned up as absent', async (t) => {
    if (!(await available(t))) return;
    const store = await openStore(t, { cleanupIntervalInSeconds: '0' });
    const raw = await rawClient(t);
    await store.set({ key: 'expired', value: bytes('"old"') });
    const etag = await etagOf(store, 'expired');
    await raw.query(`UPDATE ${TABLE} SET expiredate = now() - interval '1 minute' WHERE key = $1`, ['expired']);
    assert.equal(await store.get({ key: 'expired' }), null);
    assert.deepEqual(await store.bulkGet([{ key: 'expired' }]), [{ key: 'expired' }]);
    await assert.rejects(store.set({ key: 'expired', value: bytes('"x"'), etag: await rawEtag(raw, 'expired') }), ETagMismatchError);
    await assert.rejects(store.delete({ key: 'expired', etag }), ETagMismatchError);
    await store.set({ key: 'expired', value: bytes('"new"'), options: { concurrency: 'first-write' } });
    const found = await store.get({ key: 'expired' });
    assert.equal(text(found?.data), '"new"');
    assert.equal(found?.metadata, undefined);
  });

  it('removes expired rows in the background and records the cleanup', async (t) => {
    if (!(await available(t))) return;
    const store = await openStore(t, { cleanupIntervalInSeconds: '1' });
    const raw = await rawClient(t);
    await store.set({ key: 'cleanup-short', value: bytes('"short"'), metadata: { ttlInSeconds: '1' } });
    await store.set({ key: 'cleanup-long', value: bytes('"long"'), metadata: { ttlInSeconds: '600' } });
    await store.set({ key: 'cleanup-none', value: bytes('"none"') });
    const count = async (key: string): Promise<number> => (await raw.query(`SELECT 1 FROM ${TABLE} WHERE key = $1`, [key])).rowCount ?? 0;
    const deadline = Date.now() + 6000;
    while ((await count('cleanup-short')) > 0) {
      assert.ok(Date.now() < deadline, 'the expired row is still in the table');
      await sleep(200);
    }
    assert.equal(await count('cleanup-long'), 1);
    assert.equal(await count('cleanup-none'), 1);
    const { rows } = await raw.query<{ value: string }>(`SELECT value FROM ${META_TABLE} WHERE key = $1`, [`last-cleanup-${TABLE}`]);
    assert.ok(Date.now() - Date.parse(rows[0]?.value ?? '') < 60_000, 'the last cleanup time is recorded');
  });

  it('rolls a transaction back when any etag does not match', async (t) => {
    if (!(await available(t))) return;
    const store: TransactionalStore = await openStore(t);
    await store.set({ key: 'tx-a', value: bytes('"a0"') });
    await store.set({ key: 'tx-b', value: bytes('"b0"') });
    const etagA = await etagOf(store, 'tx-a');
    const staleB = await etagOf(store, 'tx-b');
    await store.set({ key: 'tx-b', value: bytes('"b1"') });
    await assert.rejects(
      store.multi({
        operations: [
          { operation: 'upsert', request: { key: 'tx-a', value: bytes('"a1"'), etag: etagA } },
          { operation: 'delete', request: { key: 'tx-c' } },
          { operation: 'upsert', request: { key: 'tx-new', value: bytes('"n"') } },
          { operation: 'delete', request: { key: 'tx-b', etag: staleB } },
        ],
      }),
      ETagMismatchError,
    );
    assert.equal(text((await store.get({ key: 'tx-a' }))?.data), '"a0"');
    assert.equal(await etagOf(store, 'tx-a'), etagA);
    assert.equal(text((await store.get({ key: 'tx-b' }))?.data), '"b1"');
    assert.equal(await store.get({ key: 'tx-new' }), null);

    await assert.rejects(
      store.multi({
        operations: [
          { operation: 'upsert', request: { key: 'tx-new', value: bytes('"n"') } },
          { operation: 'upsert', request: { key: 'tx-a', value: bytes('"x"'), etag: 'garbage' } },
        ],
      }),
      ETagInvalidError,
    );
    await assert.rejects(
      store.multi({ operations: [{ operation: 'upsert', request: { key: 'tx-new', value: bytes('"n"'), metadata: { ttlInSeconds: 'x' } } }] }),
      /ttlInSeconds/,
    );
    assert.equal(await store.get({ key: 'tx-new' }), null);
    // The same key twice: the second write sees the first one's new etag, so the old one no longer matches.
    await assert.rejects(
      store.multi({
        operations: [
          { operation: 'upsert', request: { key: 'tx-a', value: bytes('"a1"'), etag: etagA } },
          { operation: 'upsert', request: { key: 'tx-a', value: bytes('"a2"'), etag: etagA } },
        ],
      }),
      ETagMismatchError,
    );
    assert.equal(text((await store.get({ key: 'tx-a' }))?.data), '"a0"');
  });

  it('escapes LIKE wildcards in the key prefix and refuses malformed queries', async (t) => {
    if (!(await available(t))) return;
    const store: QueryableStore = await openStore(t);
    await store.bulkSet([
      { key: 'p%_\\||one', value: bytes('{"n":1}') },
      { key: 'pXY\\||two', value: bytes('{"n":2}') },
      { key: 'p%_\\||binary', value: Uint8Array.from([0xff]) },
    ]);
    const { results } = await store.query({ query: { sort: [{ key: 'n', order: 'DESC' }] }, keyPrefix: 'p%_\\||' });
    assert.deepEqual(
      results.map((r) => r.key),
      ['p%_\\||binary', 'p%_\\||one'],
    );
    assert.deepEqual([...results[0]!.data], [0xff]);
    const filtered = await store.query({ query: { filter: { EQ: { n: 1 } } }, keyPrefix: 'p%_\\||' });
    assert.deepEqual(
      filtered.results.map((r) => r.key),
      ['p%_\\||one'],
    );
    const malformed: unknown[] = [
      { filter: { EQ: { n: 1 }, IN: { n: [1] } } },
      { filter: { LIKE: { n: 1 } } },
      { filter: { AND: [{ EQ: { n: 1 } }] } },
      { filter: { EQ: { 'a..b': 1 } } },
      { sort: [{ key: 'n', order: 'SIDEWAYS' }] },
      { page: { limit: 2, token: 'next' } },
    ];
    for (const query of malformed) await assert.rejects(store.query({ query: query as never, keyPrefix: '' }), QueryError, JSON.stringify(query));
  });

  it('is unharmed by SQL injection attempts in keys, values, paths and prefixes', async (t) => {
    if (!(await available(t))) return;
    const store = await openStore(t);
    const raw = await rawClient(t);
    const evil = `inj'; DROP TABLE ${TABLE}; --`;
    await store.set({ key: evil, value: bytes(`{"name":"x'); DELETE FROM ${TABLE}; --"}`) });
    assert.equal(text((await store.get({ key: evil }))?.data), `{"name": "x'); DELETE FROM ${TABLE}; --"}`);
    await store.bulkGet([{ key: evil }, { key: "') OR 1=1 --" }]);
    const attempts = [
      { filter: { EQ: { name: `' OR '1'='1` } } },
      { filter: { IN: { name: [`"}'::jsonb OR true --`, `x'); DELETE FROM ${TABLE}; --`] } } },
      { filter: { EQ: { [`name' OR 1=1) --`]: 'x' } } },
      { sort: [{ key: `name; DROP TABLE ${TABLE}` }] },
    ];
    for (const query of attempts) await store.query({ query, keyPrefix: `inj'; DROP TABLE ${TABLE}; --` });
    const matched = await store.query({ query: { filter: { IN: { name: [`x'); DELETE FROM ${TABLE}; --`] } } }, keyPrefix: "inj'" });
    assert.deepEqual(
      matched.results.map((r) => r.key),
      [evil],
    );
    await store.delete({ key: evil });
    const { rows } = await raw.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${TABLE}`);
    assert.ok(rows[0]!.n > 0, 'the table and its rows are still there');
  });

  it('fails fast while PostgreSQL is unreachable and recovers by itself', async (t) => {
    if (!(await available(t))) return;
    const relay = new TcpRelay(PG_PORT);
    await relay.start();
    t.after(() => relay.stop());
    const store = await openStore(t, {
      connectionString: await keywordString(relay.port),
      tableName: `${TABLE}_reconnect`,
      timeoutInSeconds: '2',
    });
    await store.set({ key: 'k', value: bytes('"before"') });

    await relay.stop();
    const unavailable = new RegExp(`PostgreSQL at 127\\.0\\.0\\.1:${relay.port}/test is unavailable: .*ECONNREFUSED`);
    await assert.rejects(store.get({ key: 'k' }), /^Error: state\.postgresql: get "k" failed: .+/);
    for (const [call, operation] of [
      [() => store.get({ key: 'k' }), 'get "k"'],
      [() => store.set({ key: 'k', value: bytes('"during"') }), 'set "k"'],
      [() => store.delete({ key: 'k' }), 'delete "k"'],
      [() => store.bulkGet([{ key: 'k' }]), 'bulk get'],
      [() => store.multi({ operations: [{ operation: 'delete', request: { key: 'k' } }] }), 'transaction'],
      [() => store.query({ query: {}, keyPrefix: '' }), 'query'],
    ] as const) {
      const started = performance.now();
      await assert.rejects(call(), (err: Error) => err.message.startsWith(`state.postgresql: ${operation} failed: `) && unavailable.test(err.message));
      assert.ok(performance.now() - started < 100, `${operation} must fail at once while the server is away`);
    }
    await assert.rejects(store.bulkSet([{ key: 'k', value: bytes('1') }]), (err: unknown) => err instanceof AggregateError && unavailable.test(String(err.errors[0])));

    await relay.start();
    await eventually(5000, async () => assert.equal(text((await store.get({ key: 'k' }))?.data), '"before"'));
    await store.set({ key: 'k', value: bytes('"after"') });
    assert.equal(text((await store.get({ key: 'k' }))?.data), '"after"');
  });

  it('loses a connection in the middle of a transaction without crashing', async (t) => {
    if (!(await available(t))) return;
    const relay = new TcpRelay(PG_PORT);
    await relay.start();
    t.after(() => relay.stop());
    const store = await openStore(t, { connectionString: await keywordString(relay.port), tableName: `${TABLE}_reconnect`, timeoutInSeconds: '5' });
    await store.set({ key: 'mid', value: bytes('"kept"') });
    // A row lock held elsewhere parks the transaction on its second statement until the connection is cut.
    const raw = await rawClient(t);
    await raw.query('BEGIN');
    await raw.query(`SELECT 1 FROM ${TABLE}_reconnect WHERE key = 'mid' FOR UPDATE`);
    const transaction = store.multi({
      operations: [
        { operation: 'upsert', request: { key: 'mid-new', value: bytes('"new"') } },
        { operation: 'upsert', request: { key: 'mid', value: bytes('"changed"') } },
      ],
    });
    await sleep(100);
    await relay.stop();
    await assert.rejects(transaction, /state\.postgresql: transaction failed: .+/);
    await raw.query('ROLLBACK');
    await relay.start();
    assert.equal(text((await store.get({ key: 'mid' }))?.data), '"kept"');
    assert.equal(await store.get({ key: 'mid-new' }), null, 'the cut transaction applied nothing');
  });

  it('starts while PostgreSQL is unreachable and creates its table on the first connection', async (t) => {
    if (!(await available(t))) return;
    const relay = new TcpRelay(PG_PORT);
    await relay.start();
    await relay.stop();
    t.after(() => relay.stop());
    const table = `${TABLE}_late`;
    const started = performance.now();
    const store = await createFromRegistry({ connectionString: await keywordString(relay.port), tableName: table, metadataTableName: META_TABLE });
    t.after(() => store.close());
    assert.ok(performance.now() - started < 1000, 'a refused connection must not hold start-up');
    const unavailable = new RegExp(`state\\.postgresql: set "k" failed: PostgreSQL at 127\\.0\\.0\\.1:${relay.port}/test is unavailable: .*ECONNREFUSED`);
    await assert.rejects(store.set({ key: 'k', value: bytes('"early"') }), unavailable);
    const raw = await rawClient(t);
    const exists = async (): Promise<boolean> => (await raw.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table])).rows[0]!.t !== null;
    assert.equal(await exists(), false);

    await relay.start();
    // The first calls after the server is back share a single creation of the table.
    await eventually(5000, async () => {
      const outcomes = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => store.set({ key: `first-${i}`, value: bytes(String(i)) })));
      for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
    });
    assert.equal(await exists(), true);
    assert.equal(text((await store.get({ key: 'first-7' }))?.data), '7');
  });

  it('creates its table again on the next call when creating it failed', async (t) => {
    if (!(await available(t))) return;
    const relay = new TcpRelay(PG_PORT);
    await relay.start();
    await relay.stop();
    t.after(() => relay.stop());
    const schema = SCHEMA;
    const store = await createFromRegistry({ connectionString: await keywordString(relay.port), tableName: `${schema}.state`, metadataTableName: META_TABLE });
    t.after(() => store.close());
    const raw = await rawClient(t);
    await relay.start();
    await eventually(5000, () => assert.rejects(store.get({ key: 'k' }), new RegExp(`cannot initialise table "${schema}\\.state": schema "${schema}" does not exist`)));
    await raw.query(`CREATE SCHEMA ${schema}`);
    await store.set({ key: 'k', value: bytes('"created"') });
    assert.equal(text((await store.get({ key: 'k' }))?.data), '"created"');
  });

  it('fails start-up when a reachable server refuses the settings', async (t) => {
    if (!(await available(t))) return;
    const refused = async (connectionString: string, tableName: string, expected: RegExp): Promise<void> => {
      const started = performance.now();
      await assert.rejects(createFromRegistry({ connectionString, tableName, metadataTableName: META_TABLE }), expected);
      assert.ok(performance.now() - started < 3000);
    };
    await refused(
      await keywordString(PG_PORT, `dbname=pillion_missing_${RUN}`),
      TABLE,
      new RegExp(`init failed: state\\.postgresql: cannot connect to PostgreSQL at 127\\.0\\.0\\.1:5432/pillion_missing_${RUN}: database "pillion_missing_${RUN}" does not exist`),
    );
    await refused(`host=127.0.0.1 port=${PG_PORT} user=pillion_nobody_${RUN} dbname=test sslmode=disable`, TABLE, /cannot connect to PostgreSQL at .*role "pillion_nobody_\w+" does not exist/);
    await refused(await keywordString(), `pillion_missing_${RUN}.state`, /init failed: state\.postgresql: cannot initialise table "pillion_missing_\w+\.state": schema .* does not exist/);
  });

  it('bounds start-up and fails fast when a server accepts connections and never answers', async (t) => {
    const silentSockets = new Set<Socket>();
    const mute = createServer((socket) => {
      silentSockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    const port = (mute.address() as { port: number }).port;
    const started = performance.now();
    const store = await PostgresStore.open(
      parseSettings({
        name: 'pg',
        type: 'state.postgresql',
        version: 'v1',
        properties: { connectionString: `postgres://x@127.0.0.1:${port}/test?connect_timeout=30`, timeoutInSeconds: '1' },
      }),
    );
    const elapsed = performance.now() - started;
    t.after(async () => {
      // Unanswered connection attempts end when their sockets do; only then can the pool close.
      for (const socket of silentSockets) socket.destroy();
      mute.close();
      await store.close();
    });
    assert.ok(elapsed >= 900 && elapsed < 2500, `start-up waited ${elapsed} ms`);
    for (let i = 0; i < 3; i++) {
      const callStarted = performance.now();
      await assert.rejects(store.get({ key: 'k' }), new RegExp(`PostgreSQL at 127\\.0\\.0\\.1:${port}/test is unavailable: no answer within 1000 ms`));
      assert.ok(performance.now() - callStarted < 100, 'calls must not wait for an unanswered connection');
    }
  });
});

async function rawEtag(raw: pg.Client, key: string): Promise<string> {
  const { rows } = await raw.query<{ etag: string }>(`SELECT xmin::text AS etag FROM ${TABLE} WHERE key = $1`, [key]);
  return rows[0]!.etag;
}

describeStateConformance({
  name: 'state.postgresql',
  persistent: true,
  skip: async (t) => !(await available(t)),
  create: async () => createFromRegistry({ connectionString: await keywordString(), tableName: TABLE, metadataTableName: META_TABLE }),
});
