import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import pg from 'pg';
import type { InvokeResponse, OutputBinding } from '../components/bindings/bindings.js';
import '../components/bindings/postgresql/postgresql.js';
import { goDuration, rfc3339Nano } from '../components/bindings/postgresql/timing.js';
import { invokeBinding, responseMetadata } from './support/bindings-client.js';
import { createComponent } from './support/components.js';
import { eventually } from './support/eventually.js';
import { closeHttpAgent, json, type HttpResult } from './support/http.js';
import { componentYaml } from './support/resources.js';
import { serviceAvailable } from './support/services.js';
import { startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';
import { TcpRelay } from './support/tcp-relay.js';

const PG_PORT = 5432;
const RUN = randomBytes(5).toString('hex');
const TABLE_PREFIX = `pillion_bind_pg_${RUN}_`;
const connectionString = (port = PG_PORT): string => `host=127.0.0.1 port=${port} user=postgres dbname=test sslmode=disable`;

let tableCount = 0;
const uniqueTable = (name: string): string => `${TABLE_PREFIX}${name}_${++tableCount}`;

const RFC3339_NANO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const GO_DURATION = /^(\d+(\.\d+)?(ns|µs|ms|s)|\d+m\d+(\.\d+)?s|\d+h\d+m\d+(\.\d+)?s)$/;
const INJECTION = "'; DROP TABLE t; --";

/** A client of the test's own, to prepare and inspect tables. */
const admin = new pg.Pool({ host: '127.0.0.1', port: PG_PORT, user: 'postgres', database: 'test', max: 2, allowExitOnIdle: true });
admin.on('error', () => undefined);

after(async () => {
  const { rows } = await admin.query<{ tablename: string }>('SELECT tablename FROM pg_tables WHERE tablename LIKE $1', [`${TABLE_PREFIX}%`]).catch(() => ({ rows: [] }));
  for (const { tablename } of rows) await admin.query(`DROP TABLE IF EXISTS "${tablename}"`);
  await admin.end();
  closeHttpAgent();
});

async function openBinding(t: TestContext, properties: Record<string, string> = {}): Promise<{ output: OutputBinding; capabilities: string[] }> {
  const { instance, info } = await createComponent('bindings', 'bindings.postgresql', { connectionString: connectionString(), ...properties });
  t.after(() => instance.close?.());
  assert.ok(instance.output !== undefined);
  return { output: instance.output, capabilities: info.capabilities };
}

function call(output: OutputBinding, operation: string, metadata: Record<string, string>): Promise<InvokeResponse | null> {
  return output.invoke({ operation, data: Buffer.from('null'), metadata });
}

async function exec(output: OutputBinding, sql: string, params?: unknown[]): Promise<InvokeResponse> {
  const response = await call(output, 'exec', params === undefined ? { sql } : { sql, params: JSON.stringify(params) });
  assert.ok(response !== null);
  return response;
}

async function query(output: OutputBinding, sql: string, params?: unknown[]): Promise<unknown> {
  const response = await call(output, 'query', params === undefined ? { sql } : { sql, params: JSON.stringify(params) });
  assert.ok(response !== null);
  return JSON.parse(Buffer.from(response.data).toString());
}

function assertTiming(metadata: Record<string, string>): void {
  assert.match(metadata['start-time']!, RFC3339_NANO);
  assert.match(metadata['end-time']!, RFC3339_NANO);
  assert.ok(Date.parse(metadata['end-time']!) >= Date.parse(metadata['start-time']!));
  assert.match(metadata['duration']!, GO_DURATION);
}

describe('bindings.postgresql timing metadata', () => {
  it('prints durations as Go time.Duration does', () => {
    const cases: [bigint, string][] = [
      [0n, '0s'],
      [999n, '999ns'],
      [1_500n, '1.5µs'],
      [294_000n, '294µs'],
      [1_234_567n, '1.234567ms'],
      [1_000_000_000n, '1s'],
      [1_000_000_001n, '1.000000001s'],
      [61_500_000_000n, '1m1.5s'],
      [3_600_000_000_000n, '1h0m0s'],
      [3_723_000_000_000n, '1h2m3s'],
    ];
    for (const [ns, printed] of cases) assert.equal(goDuration(ns), printed, `${ns} ns`);
  });

  it('prints times as Go RFC3339Nano in UTC, without trailing zeros', () => {
    assert.equal(rfc3339Nano(0n), '1970-01-01T00:00:00Z');
    assert.equal(rfc3339Nano(1_600_948_426_405_097_000n), '2020-09-24T11:53:46.405097Z');
    assert.equal(rfc3339Nano(1_600_948_426_000_000_001n), '2020-09-24T11:53:46.000000001Z');
  });
});

describe('bindings.postgresql operations', () => {
  it('is an output binding with daprd operations', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const { output, capabilities } = await openBinding(t);
    assert.deepEqual(capabilities, ['OUTPUT_BINDING']);
    assert.deepEqual([...output.operations()], ['exec', 'query', 'close']);
  });

  it('exec runs DDL and DML, answering rows-affected and daprd timing metadata', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const { output } = await openBinding(t);
    const table = uniqueTable('exec');
    const created = await exec(output, `CREATE TABLE ${table} (id int PRIMARY KEY, name text)`);
    assert.equal(created.data.length, 0);
    assert.deepEqual(Object.keys(created.metadata).sort(), ['duration', 'end-time', 'operation', 'rows-affected', 'sql', 'start-time']);
    assert.equal(created.metadata['operation'], 'exec');
    assert.equal(created.metadata['sql'], `CREATE TABLE ${table} (id int PRIMARY KEY, name text)`);
    assert.equal(created.metadata['rows-affected'], '0');
    assertTiming(created.metadata);

    assert.equal((await exec(output, `INSERT INTO ${table} VALUES (1, 'a'), (2, 'b'), (3, 'c')`)).metadata['rows-affected'], '3');
    assert.equal((await exec(output, `UPDATE ${table} SET name = 'z' WHERE id > 1`)).metadata['rows-affected'], '2');
    assert.equal((await exec(output, `DELETE FROM ${table} WHERE id = 1`)).metadata['rows-affected'], '1');
    assert.equal((await exec(output, `DELETE FROM ${table} WHERE id = 1`)).metadata['rows-affected'], '0');
    const { rows } = await admin.query(`SELECT id, name FROM ${table} ORDER BY id`);
    assert.deepEqual(rows, [{ id: 2, name: 'z' }, { id: 3, name: 'z' }]);
  });

  it('exec runs every statement of a text without params and reports the last', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const { output } = await openBinding(t);
    const table = uniqueTable('multi');
    const response = await exec(output, `CREATE TABLE ${table} (id int); INSERT INTO ${table} VALUES (1), (2), (3); DELETE FROM ${table} WHERE id < 3`);
    assert.equal(response.metadata['rows-affected'], '2');
    assert.deepEqual((await admin.query(`SELECT id FROM ${table}`)).rows, [{ id: 3 }]);
  });

  it('query answers a JSON array of row arrays with values encoded as daprd does', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const { output } = await openBinding(t);
    const response = await call(output, 'query', {
      sql: `SELECT 1::int2, 2::int4, 9223372036854775807::int8, 12.50::numeric, 1.5::float8, 'NaN'::float8, true, false, NULL,
        'text "quoted"'::text, '{"a": [1, {"b": null}]}'::jsonb, '[1,2]'::json, '\\x00ff10'::bytea,
        '2020-09-24'::date, '2020-09-24 11:13:46.405097'::timestamp, '2020-09-24 11:13:46.5+02'::timestamptz,
        '2020-09-24 11:13:46+00'::timestamptz, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '1 day 02:00:00'::interval,
        ARRAY[[1, 2], [3, NULL]]::int8[], ARRAY['a b', 'c"d', NULL]::text[], ARRAY['2020-09-24']::date[], '{}'::int4[]`,
    });
    assert.ok(response !== null);
    const body = Buffer.from(response.data).toString();
    // Digits survive as written: no detour through a JavaScript number.
    assert.match(body, /^\[\[1,2,9223372036854775807,12\.50,1\.5,"NaN",true,false,null,/);
    assert.deepEqual(JSON.parse(body), [
      [
        1, 2, 9223372036854775807, 12.5, 1.5, 'NaN', true, false, null,
        'text "quoted"', { a: [1, { b: null }] }, [1, 2], Buffer.from([0, 255, 16]).toString('base64'),
        '2020-09-24T00:00:00Z', '2020-09-24T11:13:46.405097Z', '2020-09-24T09:13:46.5Z',
        '2020-09-24T11:13:46Z', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 day 02:00:00',
        [[1, 2], [3, null]], ['a b', 'c"d', null], ['2020-09-24T00:00:00Z'], [],
      ],
    ]);
    assert.equal(response.metadata['operation'], 'query');
    assert.equal(response.metadata['rows-affected'], undefined);
    assertTiming(response.metadata);

    assert.deepEqual(await query(output, 'SELECT 1 WHERE false'), []);
    assert.deepEqual(await query(output, 'SELECT n, n * 10 FROM generate_series(1, 3) AS n'), [[1, 10], [2, 20], [3, 30]]);
  });

  it('binds params as $1..$n: strings, numbers, booleans, null, objects as JSON, arrays as arrays', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const { output } = await openBinding(t);
    const table = uniqueTable('params');
    await exec(output, `CREATE TABLE ${table} (id int PRIMARY KEY, name text, amount numeric, flag bool, doc jsonb, tags text[])`);
    const inserted = await exec(output, `INSERT INTO ${table} VALUES ($1, $2, $3, $4, $5, $6)`, [1, 'first', 12.25, true, { k: ['v'] }, ['x', 'y z']]);
    assert.equal(inserted.metadata['rows-affected'], '1');
    await exec(output, `INSERT INTO ${table} VALUES ($1, $2, $3, $4, $5, $6)`, [2, null, null, null, null, null]);
    assert.deepEqual(await query(output, `SELECT id, name, amount, flag, doc, tags FROM ${table} WHERE id = $1`, [1]), [
      [1, 'first', 12.25, true, { k: ['v'] }, ['x', 'y z']],
    ]);
    assert.deepEqual(await query(output, `SELECT id FROM ${table} WHERE name IS NULL AND amount IS NULL`), [[2]]);
    assert.deepEqual(await query(output, `SELECT $1::text, $2::int + 1`, ['$2', 41]), [['$2', 42]]);
    // An empty array binds nothing, like no params.
    assert.deepEqual(await query(output, 'SELECT 7', []), [[7]]);
  });

  it('keeps SQL injection attempts in params as literal values', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const { output } = await openBinding(t);
    const table = uniqueTable('injection');
    await admin.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text)`);
    await admin.query(`INSERT INTO ${table} VALUES (1, 'alice'), (2, 'bob')`);
    const attempts = [INJECTION, `x'); DROP TABLE ${table}; --`, "' OR '1'='1", '1 OR 1=1', `alice'; DELETE FROM ${table}; --`];

    let id = 10;
    for (const attempt of attempts) {
      assert.equal((await exec(output, `INSERT INTO ${table} (id, name) VALUES ($1, $2)`, [++id, attempt])).metadata['rows-affected'], '1');
      assert.deepEqual(await query(output, `SELECT id FROM ${table} WHERE name = $1`, [attempt]), [[id]], `stored literally: ${attempt}`);
    }
    // Compared as one value, never as SQL: no row has these names, and a non-number is no id.
    assert.deepEqual(await query(output, `SELECT id FROM ${table} WHERE name = $1`, ["nobody' OR '1'='1"]), []);
    await assert.rejects(query(output, `SELECT id FROM ${table} WHERE id = $1`, ['1 OR 1=1']), /invalid input syntax for type integer: "1 OR 1=1"/);
    await assert.rejects(exec(output, `DELETE FROM ${table} WHERE id = $1`, [`1; DROP TABLE ${table}`]), /invalid input syntax for type integer/);
    assert.equal((await exec(output, `UPDATE ${table} SET name = $1 WHERE id = $2`, [INJECTION, 1])).metadata['rows-affected'], '1');

    const { rows } = await admin.query(`SELECT id, name FROM ${table} ORDER BY id`);
    assert.deepEqual(rows, [
      { id: 1, name: INJECTION },
      { id: 2, name: 'bob' },
      ...attempts.map((name, i) => ({ id: 11 + i, name })),
    ]);
  });

  it('rejects bad input with a message naming the problem', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const { output } = await openBinding(t);
    for (const operation of ['exec', 'query']) {
      await assert.rejects(call(output, operation, {}), /required metadata not set: sql/);
      await assert.rejects(call(output, operation, { sql: '  ' }), /required metadata not set: sql/);
      await assert.rejects(call(output, operation, { sql: 'SELECT $1', params: '[1,' }), /metadata "params" is not valid JSON/);
      for (const params of ['{"a":1}', '"text"', '42', 'null']) {
        await assert.rejects(call(output, operation, { sql: 'SELECT $1', params }), /metadata "params" must be a JSON array/);
      }
    }
    await assert.rejects(query(output, `SELECT * FROM ${uniqueTable('missing')}`), /error executing query: relation ".*" does not exist/);
    await assert.rejects(exec(output, 'SELEC 1'), /error executing query: syntax error at or near "SELEC"/);
    await assert.rejects(query(output, 'SELECT $1, $2', [1]), /bind message supplies 1 parameters, but prepared statement "" requires 2/);
    await assert.rejects(call(output, 'drop', { sql: 'SELECT 1' }), /invalid operation type: drop/);
    // The binding stays usable after each failure.
    assert.deepEqual(await query(output, 'SELECT 1'), [[1]]);
  });

  it('close drops the pooled connections; later calls open new ones', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const { output } = await openBinding(t, { maxConns: '1' });
    const [[before]] = (await query(output, 'SELECT pg_backend_pid()')) as number[][];
    assert.equal(await call(output, 'close', {}), null);
    await eventually(5000, async () => {
      const { rows } = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [before]);
      assert.equal(rows.length, 0, 'the pooled connection should be closed');
    });
    const [[after]] = (await query(output, 'SELECT pg_backend_pid()')) as number[][];
    assert.notEqual(after, before);
  });

  it('refuses every operation once the component is closed', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const { instance } = await createComponent('bindings', 'bindings.postgresql', { connectionString: connectionString() });
    await instance.close?.();
    for (const operation of ['exec', 'query', 'close']) {
      await assert.rejects(call(instance.output!, operation, { sql: 'SELECT 1' }), /the bindings\.postgresql component is closed/);
    }
  });

  it('reads its metadata as daprd does', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const legacy = await createComponent('bindings', 'bindings.postgresql', { url: `postgres://postgres@127.0.0.1:${PG_PORT}/test` });
    t.after(() => legacy.instance.close?.());
    assert.deepEqual(await query(legacy.instance.output!, 'SELECT current_database()'), [['test']]);
    await assert.rejects(createComponent('bindings', 'bindings.postgresql', {}), /missing connection string: set the connectionString metadata/);
    await assert.rejects(createComponent('bindings', 'bindings.postgresql', { connectionString: 'host=127.0.0.1 port=nope' }), /invalid connectionString: port must be an integer/);
    await assert.rejects(createComponent('bindings', 'bindings.postgresql', { connectionString: connectionString(), timeout: 'soon' }), /metadata "timeout" must be a duration/);
    await assert.rejects(createComponent('bindings', 'bindings.postgresql', { connectionString: connectionString(), maxConns: 'many' }), /metadata "maxConns" must be an integer/);
    await assert.rejects(
      createComponent('bindings', 'bindings.postgresql', { connectionString: connectionString(), connectionMaxIdleTime: 'forever' }),
      /metadata "connectionMaxIdleTime" must be a duration/,
    );
  });

  it('bounds every statement by the timeout metadata', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const { output } = await openBinding(t, { timeout: '300ms' });
    const started = performance.now();
    await assert.rejects(query(output, 'SELECT pg_sleep(3)'), /PostgreSQL did not answer: Query read timeout/);
    assert.ok(performance.now() - started < 2000);
    assert.deepEqual(await query(output, 'SELECT 1'), [[1]]);
  });

  it('passes on what the server answers to a connection it refuses', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const { output } = await openBinding(t, { connectionString: `host=127.0.0.1 port=${PG_PORT} user=postgres dbname=no_such_db_${RUN}` });
    await assert.rejects(query(output, 'SELECT 1'), new RegExp(`database "no_such_db_${RUN}" does not exist`));
  });
});

describe('bindings.postgresql while the server comes and goes', () => {
  it('fails fast while the connection is cut and works again once it is back', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const relay = await TcpRelay.reserve(PG_PORT);
    await relay.start();
    t.after(() => relay.stop());
    const { output } = await openBinding(t, { connectionString: connectionString(relay.port) });
    const table = uniqueTable('outage');
    await exec(output, `CREATE TABLE ${table} (id int)`);

    await relay.stop();
    for (const run of [() => exec(output, `INSERT INTO ${table} VALUES (1)`), () => query(output, `SELECT * FROM ${table}`)]) {
      const started = performance.now();
      await assert.rejects(run(), /PostgreSQL did not answer: .*(ECONNREFUSED|terminated)/);
      assert.ok(performance.now() - started < 1000, 'a call while the server is away must not wait');
    }

    await relay.start();
    await eventually(10_000, () => exec(output, `INSERT INTO ${table} VALUES (2)`));
    assert.deepEqual(await query(output, `SELECT id FROM ${table}`), [[2]]);
  });

  it('starts while the server is unreachable and works once it is there', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const relay = await TcpRelay.reserve(PG_PORT);
    t.after(() => relay.stop());
    const { output } = await openBinding(t, { connectionString: connectionString(relay.port) });
    await assert.rejects(query(output, 'SELECT 1'), /PostgreSQL did not answer: .*ECONNREFUSED/);
    await relay.start();
    assert.deepEqual(await eventually(10_000, () => query(output, 'SELECT 1')), [[1]]);
  });
});

describe('bindings.postgresql through the sidecar', () => {
  const registry = tempDir('bind-pg-registry');
  const resources = tempDir('bind-pg-res');
  const table = uniqueTable('http');
  let relay: TcpRelay;
  let sidecar: SidecarProcess | undefined;

  const invoke = (operation: string, metadata?: Record<string, string>): Promise<HttpResult> =>
    invokeBinding(sidecar!, 'db', metadata === undefined ? { operation } : { operation, metadata });

  before(async () => {
    relay = await TcpRelay.reserve(PG_PORT);
    await relay.start();
    writeFileSync(join(resources.path, 'components.yaml'), componentYaml({ name: 'db', type: 'bindings.postgresql', metadata: { connectionString: connectionString(relay.port) } }));
    sidecar = await startSidecar({ appId: `bind-pg-${RUN}`, registryDir: registry.path, args: ['--resources-path', resources.path] });
  });

  after(async () => {
    await sidecar?.stop();
    await relay?.stop();
    registry.remove();
    resources.remove();
  });

  it('answers exec with 200, an empty body and the metadata as headers', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const sql = `CREATE TABLE ${table} (id int PRIMARY KEY, name text)`;
    const created = await invoke('exec', { sql });
    assert.equal(created.status, 200);
    assert.equal(created.body.length, 0);
    const metadata = responseMetadata(created);
    assert.equal(metadata['operation'], 'exec');
    assert.equal(metadata['sql'], sql);
    assert.equal(metadata['rows-affected'], '0');
    assertTiming(metadata);

    const inserted = await invoke('exec', { sql: `INSERT INTO ${table} VALUES ($1, $2), ($3, $4)`, params: JSON.stringify([1, 'alice', 2, 'bob']) });
    assert.equal(inserted.status, 200);
    assert.equal(responseMetadata(inserted)['rows-affected'], '2');
  });

  it('answers query with 200 and the rows as JSON', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const found = await invoke('query', { sql: `SELECT id, name FROM ${table} WHERE id >= $1 ORDER BY id`, params: '[1]' });
    assert.equal(found.status, 200);
    assert.deepEqual(json(found), [[1, 'alice'], [2, 'bob']]);
    assert.equal(responseMetadata(found)['operation'], 'query');
    assertTiming(responseMetadata(found));
  });

  it('keeps an injection attempt a literal value', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const attempt = `x'); DROP TABLE ${table}; --`;
    const inserted = await invoke('exec', { sql: `INSERT INTO ${table} VALUES ($1, $2)`, params: JSON.stringify([3, attempt]) });
    assert.equal(inserted.status, 200);
    const probe = await invoke('query', { sql: `SELECT id FROM ${table} WHERE name = $1`, params: JSON.stringify(["' OR '1'='1"]) });
    assert.deepEqual(json(probe), []);
    assert.deepEqual(json(await invoke('query', { sql: `SELECT name FROM ${table} WHERE id = 3` })), [[attempt]]);
    assert.deepEqual((await admin.query(`SELECT count(*)::int AS n FROM ${table}`)).rows, [{ n: 3 }]);
  });

  it('answers close with 204 and keeps working after it', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    const closed = await invoke('close');
    assert.equal(closed.status, 204);
    assert.equal(closed.body.length, 0);
    assert.deepEqual(json(await invoke('query', { sql: `SELECT count(*) FROM ${table}` })), [[3]]);
  });

  it('answers 500 ERR_INVOKE_OUTPUT_BINDING with the server message for bad SQL and bad params', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    for (const [metadata, message] of [
      [{ sql: `SELECT * FROM ${table}_nope` }, /relation ".*_nope" does not exist/],
      [{ sql: 'SELEC 1' }, /syntax error at or near "SELEC"/],
      [{ sql: 'SELECT $1', params: 'not json' }, /metadata "params" is not valid JSON/],
      [{}, /required metadata not set: sql/],
    ] as const) {
      const failed = await invoke('query', metadata);
      assert.equal(failed.status, 500);
      const body = json(failed) as { errorCode: string; message: string };
      assert.equal(body.errorCode, 'ERR_INVOKE_OUTPUT_BINDING');
      assert.match(body.message, message);
    }
  });

  it('answers 500 while the server is away and 200 again once it is back', async (t) => {
    if (!(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
    await relay.stop();
    const failed = await invoke('query', { sql: 'SELECT 1' });
    assert.equal(failed.status, 500);
    assert.match((json(failed) as { message: string }).message, /PostgreSQL did not answer/);
    await relay.start();
    const back = await eventually(10_000, async () => {
      const result = await invoke('query', { sql: 'SELECT 1' });
      assert.equal(result.status, 200);
      return result;
    });
    assert.deepEqual(json(back), [[1]]);
  });
});
