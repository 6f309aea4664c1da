// A real sidecar whose Redis and PostgreSQL state stores sit behind relays that are down when it starts, come up,
// are cut mid-run and come back: the sidecar must start anyway, answer 500s naming the cause while a store is
// away, keep serving its other stores, and recover each store by itself.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { eventually } from './support/eventually.js';
import { closeHttpAgent, http, json, type HttpResult } from './support/http.js';
import { componentYaml } from './support/resources.js';
import { serviceAvailable } from './support/services.js';
import { startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';
import { TcpRelay } from './support/tcp-relay.js';

const REDIS_PORT = 6379;
const PG_PORT = 5432;
const RUN = randomBytes(5).toString('hex');
const APP_ID = `reliab-${RUN}`;
const TABLE = `pillion_reliab_${RUN}`;
const META_TABLE = `pillion_reliab_meta_${RUN}`;

function components(redisPort: number, pgPort: number): string {
  return componentYaml(
    { name: 'memory', type: 'state.in-memory' },
    { name: 'redis', type: 'state.redis', metadata: { redisHost: `127.0.0.1:${redisPort}` } },
    {
      name: 'pg',
      type: 'state.postgresql',
      metadata: {
        connectionString: `host=127.0.0.1 port=${pgPort} user=postgres dbname=test sslmode=disable`,
        tableName: TABLE,
        metadataTableName: META_TABLE,
      },
    },
  );
}

interface DaprErrorBody {
  errorCode: string;
  message: string;
}

test('state stores whose servers come and go under a running sidecar', { timeout: 90_000 }, async (t) => {
  if (!(await serviceAvailable(t, 'Redis', REDIS_PORT)) || !(await serviceAvailable(t, 'PostgreSQL', PG_PORT))) return;
  const registry = tempDir('reliab-registry');
  const resources = tempDir('reliab-res');
  const redisRelay = await TcpRelay.reserve(REDIS_PORT);
  const pgRelay = await TcpRelay.reserve(PG_PORT);
  let sidecar: SidecarProcess | undefined;
  t.after(async () => {
    await sidecar?.stop();
    await Promise.all([redisRelay.stop(), pgRelay.stop()]);
    closeHttpAgent();
    registry.remove();
    resources.remove();
    const redis = new Redis({ host: '127.0.0.1', port: REDIS_PORT, lazyConnect: true });
    await redis.connect();
    const keys = await redis.keys(`${APP_ID}||*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    const client = new pg.Client({ host: '127.0.0.1', port: PG_PORT, user: 'postgres', database: 'test' });
    await client.connect();
    await client.query(`DROP TABLE IF EXISTS ${TABLE}, ${META_TABLE}`);
    await client.end();
  });
  writeFileSync(join(resources.path, 'components.yaml'), components(redisRelay.port, pgRelay.port));
  const running = await startSidecar({ appId: APP_ID, registryDir: registry.path, args: ['--resources-path', resources.path] });
  sidecar = running;

  const save = (store: string, key: string, value: unknown): Promise<HttpResult> =>
    http(running.url(`/v1.0/state/${store}`), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ key, value }]) });
  const read = (store: string, key: string): Promise<HttpResult> => http(running.url(`/v1.0/state/${store}/${key}`));

  /** Both calls answer a 500 with the store's error code, fast, and a message naming the store, address and cause. */
  async function assertUnavailable(store: 'redis' | 'pg', cause: RegExp): Promise<void> {
    const address = `127\\.0\\.0\\.1:${store === 'redis' ? redisRelay.port : pgRelay.port}`;
    const names = new RegExp(store === 'redis' ? `state\\.redis: Redis at ${address}` : `state\\.postgresql: .*PostgreSQL at ${address}/test`);
    for (const [call, code] of [
      [() => read(store, 'k'), 'ERR_STATE_GET'],
      [() => save(store, 'k', { during: 'outage' }), 'ERR_STATE_SAVE'],
    ] as const) {
      const started = performance.now();
      const res = await call();
      const elapsed = performance.now() - started;
      assert.equal(res.status, 500, `${store}: ${res.body.toString()}`);
      const body = json(res) as DaprErrorBody;
      assert.equal(body.errorCode, code);
      assert.match(body.message, names);
      assert.match(body.message, cause);
      assert.ok(elapsed < 500, `${store} answered after ${elapsed} ms while its server was away`);
    }
  }

  async function assertMemoryStoreServes(value: string): Promise<void> {
    assert.equal((await save('memory', 'k', value)).status, 204);
    const res = await read('memory', 'k');
    assert.equal(res.status, 200);
    assert.deepEqual(json(res), value);
  }

  /** Polls until a save through the store succeeds, then checks the value reads back. */
  async function assertRecovers(store: 'redis' | 'pg', value: string): Promise<void> {
    await eventually(10_000, async () => {
      const res = await save(store, 'k', value);
      assert.equal(res.status, 204, `${store}: ${res.body.toString()}`);
    });
    const res = await read(store, 'k');
    assert.equal(res.status, 200);
    assert.deepEqual(json(res), value);
  }

  await t.test('starts with both servers away and answers 500s naming the cause', async () => {
    const output = running.output();
    assert.match(output, new RegExp(`Redis at 127\\.0\\.0\\.1:${redisRelay.port} is unreachable \\(connect ECONNREFUSED`));
    assert.match(output, new RegExp(`PostgreSQL at 127\\.0\\.0\\.1:${pgRelay.port}/test is unavailable: connect ECONNREFUSED[^;]*; starting without it`));
    await assertUnavailable('redis', /ECONNREFUSED/);
    await assertUnavailable('pg', /ECONNREFUSED/);
    await assertMemoryStoreServes('while both are away');
  });

  await t.test('serves both stores once their servers are up', async () => {
    await Promise.all([redisRelay.start(), pgRelay.start()]);
    await Promise.all([assertRecovers('redis', 'first redis value'), assertRecovers('pg', 'first pg value')]);
  });

  await t.test('answers 500s again when the servers drop mid-run, and keeps serving the other store', async () => {
    await Promise.all([redisRelay.stop(), pgRelay.stop()]);
    // The first call after the drop may be the one that finds the connection gone, with another cause.
    await eventually(5000, () => assertUnavailable('redis', /ECONNREFUSED/));
    await eventually(5000, () => assertUnavailable('pg', /ECONNREFUSED/));
    await assertMemoryStoreServes('while both dropped');
    assert.equal(running.child.exitCode, null, 'the sidecar keeps running');
  });

  await t.test('serves both stores again once their servers are back', async () => {
    await Promise.all([redisRelay.start(), pgRelay.start()]);
    await Promise.all([assertRecovers('redis', 'second redis value'), assertRecovers('pg', 'second pg value')]);
    await assertMemoryStoreServes('after both came back');
  });
});
