import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import '../components/secretstores/local-env.js';
import '../components/secretstores/local-file.js';
import { SecretNotFoundError, SecretStoreFeature, type SecretStore } from '../components/secretstores/secretstore.js';
import { createComponent } from './support/components.js';
import { closeHttpAgent, getStatusAndJson } from './support/http.js';
import { componentYaml } from './support/resources.js';
import { startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';

const run = randomBytes(4).toString('hex').toUpperCase();
const workDir = tempDir('secretstores-local');
after(() => workDir.remove());

/** A store made the way the sidecar makes it, with the capabilities the metadata API would show. */
async function create(type: string, properties: Record<string, string>): Promise<{ store: SecretStore; capabilities: string[] }> {
  const { instance, info } = await createComponent('secretstores', type, properties, { name: 'secrets' });
  return { store: instance, capabilities: info.capabilities };
}

describe('secretstores.local.env', () => {
  const variables = new Set<string>();
  const setVariable = (name: string, value: string): void => {
    variables.add(name);
    process.env[name] = value;
  };
  after(() => {
    for (const name of variables) delete process.env[name];
  });
  const envStore = async (properties: Record<string, string> = {}): Promise<SecretStore> => (await create('secretstores.local.env', properties)).store;

  it('answers a variable as a one-value secret named like it, and reports no features', async () => {
    const { store, capabilities } = await create('secretstores.local.env', {});
    setVariable(`PILLION_ENV_${run}_PLAIN`, 'plain value ✓');
    assert.deepEqual(await store.getSecret(`PILLION_ENV_${run}_PLAIN`, {}), { [`PILLION_ENV_${run}_PLAIN`]: 'plain value ✓' });
    assert.deepEqual(store.features(), []);
    assert.deepEqual(capabilities, []);
  });

  it('answers an unset variable with an empty value instead of an error', async () => {
    const store = await envStore();
    assert.deepEqual(await store.getSecret(`PILLION_ENV_${run}_UNSET`, {}), { [`PILLION_ENV_${run}_UNSET`]: '' });
  });

  it('reads the environment at call time', async () => {
    const store = await envStore();
    const name = `PILLION_ENV_${run}_LATE`;
    assert.deepEqual(await store.getSecret(name, {}), { [name]: '' });
    setVariable(name, 'set after init');
    assert.deepEqual(await store.getSecret(name, {}), { [name]: 'set after init' });
    assert.deepEqual((await store.bulkGetSecret({}))[name], { [name]: 'set after init' });
  });

  it('never exposes APP_API_TOKEN or DAPR_* variables, whatever their case', async () => {
    const store = await envStore();
    const withheld = ['APP_API_TOKEN', `DAPR_${run}_TOKEN`, `dapr_${run}_lower`, `Dapr_${run}_Mixed`];
    for (const name of withheld) setVariable(name, `withheld-${run}`);
    for (const name of withheld) assert.deepEqual(await store.getSecret(name, {}), { [name]: '' }, name);
    const bulk = await store.bulkGetSecret({});
    for (const name of withheld) assert.equal(bulk[name], undefined, name);
    assert.ok(!JSON.stringify(bulk).includes(`withheld-${run}`));
  });

  it('bulk answers every allowed variable as { name: { name: value } }', async () => {
    const store = await envStore();
    setVariable(`PILLION_ENV_${run}_BULK_A`, 'a');
    setVariable(`PILLION_ENV_${run}_BULK_B`, '');
    const bulk = await store.bulkGetSecret({});
    assert.deepEqual(bulk[`PILLION_ENV_${run}_BULK_A`], { [`PILLION_ENV_${run}_BULK_A`]: 'a' });
    assert.deepEqual(bulk[`PILLION_ENV_${run}_BULK_B`], { [`PILLION_ENV_${run}_BULK_B`]: '' });
    assert.deepEqual(bulk['PATH'], { PATH: process.env['PATH'] });
    for (const [name, secret] of Object.entries(bulk)) assert.deepEqual(Object.keys(secret), [name]);
  });

  describe('prefix', () => {
    let prefixCount = 0;
    /** A prefix no other test uses, so that each test sees only its own variables. */
    const freshPrefix = (): string => `PILLION_PFX_${run}_${++prefixCount}_`;

    it('reads prefix + name and answers under the bare name; the metadata name matches ignoring case', async () => {
      const prefix = freshPrefix();
      const store = await envStore({ PREFIX: prefix });
      setVariable(`${prefix}DB_PASSWORD`, 'prefixed');
      setVariable(`DB_PASSWORD_${run}`, 'not prefixed');
      assert.deepEqual(await store.getSecret('DB_PASSWORD', {}), { DB_PASSWORD: 'prefixed' });
      assert.deepEqual(await store.getSecret(`DB_PASSWORD_${run}`, {}), { [`DB_PASSWORD_${run}`]: '' });
    });

    it('is case-sensitive', async () => {
      const prefix = freshPrefix();
      const store = await envStore({ prefix: prefix.toLowerCase() });
      setVariable(`${prefix}CASE`, 'upper');
      assert.deepEqual(await store.getSecret('CASE', {}), { CASE: '' });
      assert.deepEqual(await store.bulkGetSecret({}), {});
    });

    it('bulk answers only the prefixed variables, the prefix stripped, and none named like the bare prefix', async () => {
      const prefix = freshPrefix();
      const store = await envStore({ prefix });
      setVariable(`${prefix}ONE`, '1');
      setVariable(`${prefix}TWO`, '2');
      setVariable(prefix, 'nameless');
      setVariable(`OTHER_${prefix}THREE`, '3');
      assert.deepEqual(await store.bulkGetSecret({}), { ONE: { ONE: '1' }, TWO: { TWO: '2' } });
    });

    it('cannot reach the withheld variables through a prefix either', async () => {
      setVariable(`DAPR_${run}_VIA_PREFIX`, 'withheld');
      setVariable('APP_API_TOKEN', 'withheld');
      const dapr = await envStore({ prefix: 'DAPR_' });
      assert.deepEqual(await dapr.getSecret(`${run}_VIA_PREFIX`, {}), { [`${run}_VIA_PREFIX`]: '' });
      assert.deepEqual(await dapr.bulkGetSecret({}), {});
      const app = await envStore({ prefix: 'APP_' });
      assert.deepEqual(await app.getSecret('API_TOKEN', {}), { API_TOKEN: '' });
      assert.equal((await app.bulkGetSecret({}))['API_TOKEN'], undefined);
    });
  });
});

describe('secretstores.local.file', () => {
  let fileCount = 0;
  /** Writes `content` (a JSON document, or raw text) to a file of its own and answers its absolute path. */
  const secretsFile = (content: unknown): string => {
    const path = join(workDir.path, `secrets-${++fileCount}.json`);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return path;
  };
  const fileStore = async (content: unknown, properties: Record<string, string> = {}): Promise<SecretStore> =>
    (await create('secretstores.local.file', { secretsFile: secretsFile(content), ...properties })).store;

  /** Dapr's documented example, plus every kind of JSON value. */
  const document = {
    redisPassword: 'your redis password',
    connectionStrings: { sql: 'your sql connection string', mysql: 'your mysql connection string' },
    port: 6379,
    ratio: 0.25,
    enabled: true,
    disabled: false,
    nothing: null,
    hosts: ['alpha', { name: 'beta', ports: [80, 443] }, ['x', 'y']],
    'ünïcödé': { 'ключ': 'значение 🔑', '秘密': '値' },
    empty: {},
    none: [],
  };

  describe('name/value (default)', () => {
    it('flattens the document with ":" and answers { name: value }', async () => {
      const store = await fileStore(document);
      assert.deepEqual(await store.getSecret('redisPassword', {}), { redisPassword: 'your redis password' });
      assert.deepEqual(await store.getSecret('connectionStrings:sql', {}), { 'connectionStrings:sql': 'your sql connection string' });
      assert.deepEqual(await store.getSecret('connectionStrings:mysql', {}), { 'connectionStrings:mysql': 'your mysql connection string' });
    });

    it('answers numbers, booleans and null as text', async () => {
      const store = await fileStore(document);
      assert.deepEqual(await store.getSecret('port', {}), { port: '6379' });
      assert.deepEqual(await store.getSecret('ratio', {}), { ratio: '0.25' });
      assert.deepEqual(await store.getSecret('enabled', {}), { enabled: 'true' });
      assert.deepEqual(await store.getSecret('disabled', {}), { disabled: 'false' });
      assert.deepEqual(await store.getSecret('nothing', {}), { nothing: '' });
    });

    it('keys arrays by index, nested arrays and objects in arrays included', async () => {
      const store = await fileStore(document);
      assert.deepEqual(await store.getSecret('hosts:0', {}), { 'hosts:0': 'alpha' });
      assert.deepEqual(await store.getSecret('hosts:1:name', {}), { 'hosts:1:name': 'beta' });
      assert.deepEqual(await store.getSecret('hosts:1:ports:1', {}), { 'hosts:1:ports:1': '443' });
      assert.deepEqual(await store.getSecret('hosts:2:0', {}), { 'hosts:2:0': 'x' });
    });

    it('keeps unicode names and values intact', async () => {
      const store = await fileStore(document);
      assert.deepEqual(await store.getSecret('ünïcödé:ключ', {}), { 'ünïcödé:ключ': 'значение 🔑' });
      assert.deepEqual(await store.getSecret('ünïcödé:秘密', {}), { 'ünïcödé:秘密': '値' });
    });

    it('rejects unknown names and inner objects with SecretNotFoundError', async () => {
      const store = await fileStore(document);
      for (const name of ['missing', 'connectionStrings', 'hosts', 'hosts:1', 'empty', 'connectionStrings:sql:extra']) {
        await assert.rejects(store.getSecret(name, {}), (err: unknown) => {
          assert.ok(err instanceof SecretNotFoundError, name);
          assert.equal(err.secretName, name);
          return true;
        });
      }
    });

    it('bulk answers every leaf as { name: { name: value } } and reports no features', async () => {
      const { store, capabilities } = await create('secretstores.local.file', { secretsFile: secretsFile(document) });
      assert.deepEqual(await store.bulkGetSecret({}), {
        redisPassword: { redisPassword: 'your redis password' },
        'connectionStrings:sql': { 'connectionStrings:sql': 'your sql connection string' },
        'connectionStrings:mysql': { 'connectionStrings:mysql': 'your mysql connection string' },
        port: { port: '6379' },
        ratio: { ratio: '0.25' },
        enabled: { enabled: 'true' },
        disabled: { disabled: 'false' },
        nothing: { nothing: '' },
        'hosts:0': { 'hosts:0': 'alpha' },
        'hosts:1:name': { 'hosts:1:name': 'beta' },
        'hosts:1:ports:0': { 'hosts:1:ports:0': '80' },
        'hosts:1:ports:1': { 'hosts:1:ports:1': '443' },
        'hosts:2:0': { 'hosts:2:0': 'x' },
        'hosts:2:1': { 'hosts:2:1': 'y' },
        'ünïcödé:ключ': { 'ünïcödé:ключ': 'значение 🔑' },
        'ünïcödé:秘密': { 'ünïcödé:秘密': '値' },
      });
      assert.deepEqual(store.features(), []);
      assert.deepEqual(capabilities, []);
    });

    it('joins levels with nestedSeparator', async () => {
      const store = await fileStore(document, { nestedSeparator: '.' });
      assert.deepEqual(await store.getSecret('connectionStrings.sql', {}), { 'connectionStrings.sql': 'your sql connection string' });
      assert.deepEqual(await store.getSecret('hosts.1.ports.0', {}), { 'hosts.1.ports.0': '80' });
      await assert.rejects(store.getSecret('connectionStrings:sql', {}), SecretNotFoundError);
    });

    it('hands out copies: changing an answer does not change the store', async () => {
      const store = await fileStore(document);
      const secret = await store.getSecret('redisPassword', {});
      secret['redisPassword'] = 'changed';
      const bulk = await store.bulkGetSecret({});
      bulk['port']!['port'] = 'changed';
      assert.deepEqual(await store.getSecret('redisPassword', {}), { redisPassword: 'your redis password' });
      assert.deepEqual(await store.getSecret('port', {}), { port: '6379' });
    });

    it('reads the file once, at init', async () => {
      const path = secretsFile({ stable: 'before' });
      const { store } = await create('secretstores.local.file', { secretsFile: path });
      writeFileSync(path, JSON.stringify({ stable: 'after' }));
      assert.deepEqual(await store.getSecret('stable', {}), { stable: 'before' });
    });
  });

  describe('multiValued', () => {
    const nested = {
      redisPassword: 'your redis password',
      connectionStrings: { sql: 'your sql connection string', mysql: 'your mysql connection string' },
      database: { primary: { host: 'db.internal', port: 5432, tls: true }, replicas: ['r1', { host: 'r2' }], user: 'app' },
      ports: [80, 443],
      count: 3,
      'ünïcödé': { 'ключ': 'значение 🔑' },
    };

    it('makes the top-level names the secrets and their objects the key/value maps; reports the feature', async () => {
      const { store, capabilities } = await create('secretstores.local.file', { secretsFile: secretsFile(nested), multiValued: 'true' });
      assert.deepEqual(await store.getSecret('connectionStrings', {}), { sql: 'your sql connection string', mysql: 'your mysql connection string' });
      assert.deepEqual(await store.getSecret('ünïcödé', {}), { 'ключ': 'значение 🔑' });
      assert.deepEqual(store.features(), [SecretStoreFeature.MULTIPLE_KEY_VALUES_PER_SECRET]);
      assert.deepEqual(capabilities, ['MULTIPLE_KEY_VALUES_PER_SECRET']);
    });

    it('answers a scalar top-level value as { name: value }', async () => {
      const store = await fileStore(nested, { multiValued: 'true' });
      assert.deepEqual(await store.getSecret('redisPassword', {}), { redisPassword: 'your redis password' });
      assert.deepEqual(await store.getSecret('count', {}), { count: '3' });
    });

    it('flattens levels below the first with the separator, arrays by index', async () => {
      const store = await fileStore(nested, { multiValued: 'yes', nestedSeparator: '/' });
      assert.deepEqual(await store.getSecret('database', {}), {
        'primary/host': 'db.internal',
        'primary/port': '5432',
        'primary/tls': 'true',
        'replicas/0': 'r1',
        'replicas/1/host': 'r2',
        user: 'app',
      });
      assert.deepEqual(await store.getSecret('ports', {}), { '0': '80', '1': '443' });
    });

    it('rejects flattened and unknown names with SecretNotFoundError', async () => {
      const store = await fileStore(nested, { multiValued: 'true' });
      await assert.rejects(store.getSecret('connectionStrings:sql', {}), SecretNotFoundError);
      await assert.rejects(store.getSecret('missing', {}), SecretNotFoundError);
    });

    it('bulk answers every top-level secret with its map', async () => {
      const store = await fileStore({ redisPassword: 'p', connectionStrings: { sql: 's', mysql: 'm' } }, { multiValued: 'true' });
      assert.deepEqual(await store.bulkGetSecret({}), {
        redisPassword: { redisPassword: 'p' },
        connectionStrings: { sql: 's', mysql: 'm' },
      });
    });

    it('"false" keeps name/value mode', async () => {
      const { store, capabilities } = await create('secretstores.local.file', { secretsFile: secretsFile(nested), multiValued: 'false' });
      assert.deepEqual(await store.getSecret('connectionStrings:sql', {}), { 'connectionStrings:sql': 'your sql connection string' });
      assert.deepEqual(capabilities, []);
    });
  });

  describe('the file', () => {
    it('resolves a relative secretsFile against the working directory', async () => {
      const path = secretsFile({ relative: 'yes' });
      const store = (await create('secretstores.local.file', { secretsFile: relative(process.cwd(), path) })).store;
      assert.deepEqual(await store.getSecret('relative', {}), { relative: 'yes' });
    });

    it('accepts a byte-order mark', async () => {
      const store = await fileStore('\uFEFF{"bom": "ok"}');
      assert.deepEqual(await store.getSecret('bom', {}), { bom: 'ok' });
    });

    it('answers an empty object as a store without secrets', async () => {
      const store = await fileStore({});
      assert.deepEqual(await store.bulkGetSecret({}), {});
    });

    /** Init fails through the registry with a message that satisfies `check`. */
    const failsInit = async (properties: Record<string, string>, check: (message: string) => void): Promise<void> => {
      await assert.rejects(create('secretstores.local.file', properties), (err: Error) => {
        check(err.message);
        return true;
      });
    };

    it('fails init without secretsFile', async () => {
      await failsInit({}, (message) => assert.match(message, /metadata "secretsFile" is required/));
    });

    it('fails init naming a missing file', async () => {
      const path = join(workDir.path, 'no-such-file.json');
      await failsInit({ secretsFile: path }, (message) => {
        assert.ok(message.includes(path), message);
        assert.match(message, /ENOENT/);
      });
    });

    it('fails init on bad JSON naming the file, never quoting its content', async () => {
      const path = secretsFile(`{"password": "hunter2-${run}", oops}`);
      await failsInit({ secretsFile: path }, (message) => {
        assert.ok(message.includes(path), message);
        assert.match(message, /not valid JSON/);
        assert.ok(!message.includes('hunter2'), message);
        assert.ok(!message.includes('oops'), message);
      });
    });

    it('fails init when the document is not an object', async () => {
      for (const content of ['["a", "b"]', '"just a string"', '42', 'null']) {
        await failsInit({ secretsFile: secretsFile(content) }, (message) => assert.match(message, /must hold a JSON object/, content));
      }
    });

    it('fails init on a bad multiValued value, naming the field', async () => {
      await failsInit({ secretsFile: secretsFile({ a: 'b' }), multiValued: 'maybe' }, (message) => assert.match(message, /metadata "multiValued" must be a boolean/));
    });
  });
});

describe('local secret stores through a running sidecar', () => {
  const registry = tempDir('secretstores-local-registry');
  const resources = tempDir('secretstores-local-resources');
  const prefix = `PILLION_SIDECAR_${run}_`;
  let sidecar: SidecarProcess;

  before(async () => {
    const secretsFile = join(resources.path, 'secrets.json');
    writeFileSync(secretsFile, JSON.stringify({ redisPassword: 'p4ss', connectionStrings: { sql: 'sql-cs', mysql: 'mysql-cs' }, 'ünï': '🔑' }));
    writeFileSync(
      join(resources.path, 'secretstores.yaml'),
      componentYaml(
        { name: 'env', type: 'secretstores.local.env', metadata: { prefix } },
        { name: 'allenv', type: 'secretstores.local.env' },
        { name: 'file', type: 'secretstores.local.file', metadata: { secretsFile } },
        { name: 'multi', type: 'secretstores.local.file', metadata: { secretsFile, multiValued: 'true', nestedSeparator: '.' } },
      ),
    );
    sidecar = await startSidecar({
      appId: 'secret-reader',
      registryDir: registry.path,
      args: ['--resources-path', resources.path],
      env: { [`${prefix}DB_USER`]: 'reader', [`${prefix}EMPTY`]: '', APP_API_TOKEN: `app-token-${run}`, [`DAPR_HIDDEN_${run}`]: `hidden-${run}` },
    });
  });

  after(async () => {
    await sidecar?.stop();
    closeHttpAgent();
    registry.remove();
    resources.remove();
  });

  const get = (path: string): Promise<{ status: number; body: unknown }> => getStatusAndJson(sidecar.url(path));

  it('local.env: answers a variable, an unset one as empty, and bulk with the prefix stripped', async () => {
    assert.deepEqual(await get('/v1.0/secrets/env/DB_USER'), { status: 200, body: { DB_USER: 'reader' } });
    assert.deepEqual(await get('/v1.0/secrets/env/NOT_SET'), { status: 200, body: { NOT_SET: '' } });
    assert.deepEqual(await get('/v1.0/secrets/env/bulk'), { status: 200, body: { DB_USER: { DB_USER: 'reader' }, EMPTY: { EMPTY: '' } } });
  });

  it('local.env: never answers APP_API_TOKEN or DAPR_* variables', async () => {
    assert.deepEqual(await get('/v1.0/secrets/allenv/APP_API_TOKEN'), { status: 200, body: { APP_API_TOKEN: '' } });
    assert.deepEqual(await get(`/v1.0/secrets/allenv/DAPR_HIDDEN_${run}`), { status: 200, body: { [`DAPR_HIDDEN_${run}`]: '' } });
    const bulk = await get('/v1.0/secrets/allenv/bulk');
    assert.equal(bulk.status, 200);
    assert.deepEqual((bulk.body as Record<string, unknown>)[`${prefix}DB_USER`], { [`${prefix}DB_USER`]: 'reader' });
    const text = JSON.stringify(bulk.body);
    assert.ok(!text.includes(`app-token-${run}`) && !text.includes(`hidden-${run}`));
  });

  it('local.file: answers flattened names and bulk as { name: { name: value } }', async () => {
    assert.deepEqual(await get('/v1.0/secrets/file/connectionStrings:sql'), { status: 200, body: { 'connectionStrings:sql': 'sql-cs' } });
    assert.deepEqual(await get(`/v1.0/secrets/file/${encodeURIComponent('ünï')}`), { status: 200, body: { 'ünï': '🔑' } });
    assert.deepEqual(await get('/v1.0/secrets/file/bulk'), {
      status: 200,
      body: {
        redisPassword: { redisPassword: 'p4ss' },
        'connectionStrings:sql': { 'connectionStrings:sql': 'sql-cs' },
        'connectionStrings:mysql': { 'connectionStrings:mysql': 'mysql-cs' },
        'ünï': { 'ünï': '🔑' },
      },
    });
    assert.equal((await get('/v1.0/secrets/file/connectionStrings')).status, 500);
  });

  it('local.file multiValued: answers a secret with several keys, bulk by top-level name', async () => {
    assert.deepEqual(await get('/v1.0/secrets/multi/connectionStrings'), { status: 200, body: { sql: 'sql-cs', mysql: 'mysql-cs' } });
    assert.deepEqual(await get('/v1.0/secrets/multi/redisPassword'), { status: 200, body: { redisPassword: 'p4ss' } });
    assert.deepEqual(await get('/v1.0/secrets/multi/bulk'), {
      status: 200,
      body: { redisPassword: { redisPassword: 'p4ss' }, connectionStrings: { sql: 'sql-cs', mysql: 'mysql-cs' }, 'ünï': { 'ünï': '🔑' } },
    });
  });

  it('reports the multi-valued capability in the metadata API', async () => {
    const { body } = await get('/v1.0/metadata');
    const components = (body as { components: { name: string; capabilities?: string[] }[] }).components;
    assert.deepEqual(components.find((c) => c.name === 'multi')?.capabilities, ['MULTIPLE_KEY_VALUES_PER_SECRET']);
    assert.equal(components.find((c) => c.name === 'file')?.capabilities, undefined);
  });
});
