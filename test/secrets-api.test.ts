import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import {
  GetBulkSecretRequestSchema,
  GetBulkSecretResponseSchema,
  GetSecretRequestSchema,
  GetSecretResponseSchema,
} from '../gen/proto/dapr/proto/runtime/v1/secret_pb.js';
import { daprUnary } from './support/grpc.js';
import { closeHttpAgent, http, json, type HttpResult } from './support/http.js';
import { componentYaml, type ComponentSpec } from './support/resources.js';
import { withEachSdkClient } from './support/sdk.js';
import { runSidecarCli, startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';

// Distinctive values, so a leak into logs, metadata or errors is found by a plain substring search.
const PASSWORD = 'pa55-Leak-Canary-7731';
const API_KEY = 'key-Leak-Canary-9942';

function errorBody(res: HttpResult): { errorCode: string; message: string } {
  return json(res) as { errorCode: string; message: string };
}

const CONFIG = `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: secretscoping
spec:
  secrets:
    scopes:
      - storeName: scoped
        defaultAccess: deny
        allowedSecrets: ["allowed-one"]
      - storeName: denylist
        deniedSecrets: ["denied-one"]
`;

describe('secrets API through a running sidecar', () => {
  const registry = tempDir('secrets');
  const resources = tempDir('secrets-res');
  const data = tempDir('secrets-data');
  const secretsFile = join(data.path, 'secrets.json');
  const databaseFile = join(data.path, 'from-secret.db');
  let sidecar: SidecarProcess;
  let bare: SidecarProcess;
  let client: grpc.Client;

  before(async () => {
    writeFileSync(
      secretsFile,
      JSON.stringify({
        db: { password: PASSWORD },
        plain: 'x',
        'allowed-one': 'yes',
        'denied-one': 'no',
        'api-key': API_KEY,
        'sqlite-path': databaseFile,
      }),
    );
    const file = (name: string): ComponentSpec => ({ name, type: 'secretstores.local.file', metadata: { secretsFile } });
    writeFileSync(
      join(resources.path, 'components.yaml'),
      componentYaml(file('localsecrets'), file('scoped'), file('denylist'), {
        name: 'cache',
        type: 'state.sqlite',
        secretStore: 'localsecrets',
        metadata: { connectionString: { secretKeyRef: { name: 'sqlite-path' } } },
      }),
    );
    writeFileSync(join(resources.path, 'config.yaml'), CONFIG);
    sidecar = await startSidecar({
      appId: 'secretive',
      registryDir: registry.path,
      args: ['--resources-path', resources.path, '--config', join(resources.path, 'config.yaml')],
    });
    bare = await startSidecar({ appId: 'no-secrets', registryDir: registry.path });
    client = new grpc.Client(`127.0.0.1:${sidecar.ports.grpc}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await Promise.all([sidecar?.stop(), bare?.stop()]);
    closeHttpAgent();
    registry.remove();
    resources.remove();
    data.remove();
  });

  it('answers a secret as a name -> value map', async () => {
    const res = await http(sidecar.url('/v1.0/secrets/localsecrets/plain'));
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(json(res), { plain: 'x' });
    const nested = await http(sidecar.url(`/v1.0/secrets/localsecrets/${encodeURIComponent('db:password')}`));
    assert.deepEqual(json(nested), { 'db:password': PASSWORD });
    const withMetadata = await http(sidecar.url('/v1.0/secrets/localsecrets/plain?metadata.namespace=ignored'));
    assert.deepEqual(json(withMetadata), { plain: 'x' });
  });

  it('answers bulk as secret name -> key -> value', async () => {
    const res = await http(sidecar.url('/v1.0/secrets/localsecrets/bulk'));
    assert.equal(res.status, 200);
    const all = json(res) as Record<string, Record<string, string>>;
    assert.deepEqual(all['plain'], { plain: 'x' });
    assert.deepEqual(all['db:password'], { 'db:password': PASSWORD });
    assert.equal(Object.keys(all).length, 6);
  });

  it('answers daprd error codes for unknown stores and secrets', async () => {
    const unknownStore = await http(sidecar.url('/v1.0/secrets/nostore/plain'));
    assert.equal(unknownStore.status, 401);
    assert.deepEqual(errorBody(unknownStore), { errorCode: 'ERR_SECRET_STORE_NOT_FOUND', message: 'failed finding secret store with key nostore' });
    const unknownBulk = await http(sidecar.url('/v1.0/secrets/nostore/bulk'));
    assert.equal(unknownBulk.status, 401);
    const missing = await http(sidecar.url('/v1.0/secrets/localsecrets/nope'));
    assert.equal(missing.status, 500);
    assert.equal(errorBody(missing).errorCode, 'ERR_SECRET_GET');
    assert.match(errorBody(missing).message, /^failed getting secret with key nope from secret store localsecrets: /);
    const none = await http(bare.url('/v1.0/secrets/localsecrets/plain'));
    assert.equal(none.status, 500);
    assert.deepEqual(errorBody(none), { errorCode: 'ERR_SECRET_STORES_NOT_CONFIGURED', message: 'secret store is not configured' });
  });

  it('enforces an allow list with default access deny', async () => {
    const allowed = await http(sidecar.url('/v1.0/secrets/scoped/allowed-one'));
    assert.deepEqual(json(allowed), { 'allowed-one': 'yes' });
    const denied = await http(sidecar.url('/v1.0/secrets/scoped/plain'));
    assert.equal(denied.status, 403);
    assert.deepEqual(errorBody(denied), { errorCode: 'ERR_PERMISSION_DENIED', message: 'access denied by policy to get "plain" from "scoped"' });
    // Even a name the store does not have is refused before the store is asked.
    assert.equal((await http(sidecar.url('/v1.0/secrets/scoped/nope'))).status, 403);
    const bulk = await http(sidecar.url('/v1.0/secrets/scoped/bulk'));
    assert.deepEqual(json(bulk), { 'allowed-one': { 'allowed-one': 'yes' } });
  });

  it('enforces a deny list and leaves other stores unscoped', async () => {
    assert.equal((await http(sidecar.url('/v1.0/secrets/denylist/denied-one'))).status, 403);
    assert.deepEqual(json(await http(sidecar.url('/v1.0/secrets/denylist/plain'))), { plain: 'x' });
    const bulk = json(await http(sidecar.url('/v1.0/secrets/denylist/bulk'))) as Record<string, unknown>;
    assert.equal(bulk['denied-one'], undefined);
    assert.deepEqual(bulk['allowed-one'], { 'allowed-one': 'yes' });
    assert.deepEqual(json(await http(sidecar.url('/v1.0/secrets/localsecrets/denied-one'))), { 'denied-one': 'no' });
  });

  it('serves GetSecret and GetBulkSecret over gRPC with daprd status codes', async () => {
    const got = await daprUnary(client, 'GetSecret', GetSecretRequestSchema, GetSecretResponseSchema, create(GetSecretRequestSchema, { storeName: 'localsecrets', key: 'api-key' }));
    assert.equal(got.code, grpc.status.OK);
    assert.deepEqual(got.response?.data, { 'api-key': API_KEY });
    const bulk = await daprUnary(client, 'GetBulkSecret', GetBulkSecretRequestSchema, GetBulkSecretResponseSchema, create(GetBulkSecretRequestSchema, { storeName: 'scoped' }));
    assert.equal(bulk.code, grpc.status.OK);
    assert.deepEqual(Object.keys(bulk.response!.data), ['allowed-one']);
    assert.deepEqual(bulk.response!.data['allowed-one']!.secrets, { 'allowed-one': 'yes' });
    const cases: [string, string, number][] = [
      ['nostore', 'plain', grpc.status.INVALID_ARGUMENT],
      ['scoped', 'plain', grpc.status.PERMISSION_DENIED],
      ['localsecrets', 'nope', grpc.status.INTERNAL],
    ];
    for (const [storeName, key, code] of cases) {
      const outcome = await daprUnary(client, 'GetSecret', GetSecretRequestSchema, GetSecretResponseSchema, create(GetSecretRequestSchema, { storeName, key }));
      assert.equal(outcome.code, code, `${storeName}/${key}`);
    }
  });

  it('works with the official JS SDK over HTTP and gRPC', async () => {
    await withEachSdkClient(sidecar, async (sdk) => {
      assert.deepEqual(await sdk.secret.get('localsecrets', 'plain'), { plain: 'x' });
      assert.deepEqual(await sdk.secret.getBulk('scoped'), { 'allowed-one': { 'allowed-one': 'yes' } });
    });
  });

  it('resolves secretKeyRef in component metadata at start-up', async () => {
    const save = await http(sidecar.url('/v1.0/state/cache'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ key: 'k', value: 1 }]),
    });
    assert.equal(save.status, 204);
    assert.ok(existsSync(databaseFile), 'the store opened the database file named by the secret');
  });

  it('never shows secret values in logs or the metadata API', async () => {
    const metadata = await http(sidecar.url('/v1.0/metadata'));
    assert.equal(metadata.status, 200);
    const text = metadata.body.toString() + sidecar.output();
    for (const value of [PASSWORD, API_KEY, databaseFile]) assert.ok(!text.includes(value), `"${value}" leaked`);
  });
});

describe('secretKeyRef failures stop start-up with a clear message', () => {
  const dir = tempDir('secretref');
  const secretsFile = join(dir.path, 'secrets.json');
  writeFileSync(secretsFile, JSON.stringify({ db: { password: PASSWORD }, name: 'bad table ' + API_KEY }));
  const store: ComponentSpec = { name: 'localsecrets', type: 'secretstores.local.file', metadata: { secretsFile, multiValued: 'true' } };

  after(() => dir.remove());

  async function startWith(component: ComponentSpec): Promise<{ code: number | string; output: string }> {
    const resources = join(dir.path, `res-${Math.random().toString(36).slice(2)}`);
    mkdirSync(resources);
    writeFileSync(join(resources, 'components.yaml'), componentYaml(store, component));
    return runSidecarCli(['--app-id', 'refs', '--dapr-http-port', '0', '--dapr-grpc-port', '0', '--dapr-internal-grpc-port', '0', '--metrics-port', '0', '--resources-path', resources]);
  }

  const state = (metadata: ComponentSpec['metadata'], secretStore: string | null = 'localsecrets'): ComponentSpec => ({
    name: 'cache',
    type: 'state.sqlite',
    secretStore: secretStore ?? undefined,
    metadata: { connectionString: ':memory:', ...metadata },
  });

  const cases: [string, ComponentSpec, RegExp][] = [
    ['a missing secret', state({ tableName: { secretKeyRef: { name: 'nope' } } }), /component "cache".*metadata "tableName": secret "nope" not found in secret store "localsecrets"/],
    ['a missing key', state({ tableName: { secretKeyRef: { name: 'db', key: 'user' } } }), /component "cache".*metadata "tableName": secret "db" in secret store "localsecrets" has no key "user"/],
    ['no auth.secretStore', state({ tableName: { secretKeyRef: { name: 'db', key: 'password' } } }, null), /component "cache".*metadata "tableName".*names no auth\.secretStore/],
    ['a store that is not loaded', state({ tableName: { secretKeyRef: { name: 'db' } } }, 'elsewhere'), /component "cache".*metadata "tableName": secret store "elsewhere" \(auth\.secretStore\) is not loaded/],
  ];
  for (const [what, component, message] of cases) {
    it(`names the component, field and secret for ${what}`, async () => {
      const { code, output: logged } = await startWith(component);
      const output = logged.replaceAll(String.raw`\"`, `"`);
      assert.notEqual(code, 0);
      assert.match(output, message);
      assert.ok(!output.includes(PASSWORD));
    });
  }

  it('masks a resolved value that the component quotes in its own error', async () => {
    const { code, output: logged } = await startWith(state({ tableName: { secretKeyRef: { name: 'name' } } }));
    const output = logged.replaceAll(String.raw`\"`, `"`);
    assert.notEqual(code, 0);
    assert.match(output, /component "cache".*tableName/);
    assert.ok(!output.includes(API_KEY), output);
  });
});
