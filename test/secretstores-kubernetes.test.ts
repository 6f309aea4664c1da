// There is no Kubernetes cluster on the test machine. The component's job is to speak the API server's REST protocol
// through the official client, so these tests run it against a small fake API server (node:http) that serves the
// two endpoints the store uses with real-shaped Secret, SecretList and Status objects. The fake also records what
// reached it (bearer token, namespace) and can be told to fail, which a real cluster cannot do on demand.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseKubernetesSettings } from '../components/secretstores/kubernetes.js';
import { SecretNotFoundError, type SecretStore } from '../components/secretstores/secretstore.js';
import { createComponent } from './support/components.js';
import { closeHttpAgent, getStatusAndJson } from './support/http.js';
import { freePort } from './support/ports.js';
import { componentYaml } from './support/resources.js';
import { startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';

const TOKEN = `token-${randomBytes(8).toString('hex')}`;

interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
}

/** The secrets and list endpoints of the core/v1 API, holding plain values and serving them base64-encoded. */
class FakeKubernetesApi {
  readonly requests: RecordedRequest[] = [];
  /** namespace -> secret name -> data (plain text); `undefined` data: a Secret without a data field. */
  readonly secrets = new Map<string, Map<string, Record<string, string> | undefined>>();
  /** When set, every request is answered with this status and a Status object whose message is `failureMessage`. */
  failure: { code: number; reason: string; message: string } | undefined;
  private server: Server | undefined;
  url = '';

  put(namespace: string, name: string, data: Record<string, string> | undefined): void {
    const inNamespace = this.secrets.get(namespace) ?? new Map();
    inNamespace.set(name, data);
    this.secrets.set(namespace, inNamespace);
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url!, 'http://fake').pathname;
    this.requests.push({ method: req.method!, path, authorization: req.headers.authorization });
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return this.status(res, 401, 'Unauthorized', 'Unauthorized');
    if (this.failure !== undefined) return this.status(res, this.failure.code, this.failure.reason, this.failure.message);
    const match = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/.exec(path);
    if (req.method !== 'GET' || match === null) return this.status(res, 404, 'NotFound', 'the server could not find the requested resource');
    const namespace = decodeURIComponent(match[1]!);
    const inNamespace = this.secrets.get(namespace) ?? new Map<string, Record<string, string> | undefined>();
    if (match[2] === undefined) {
      const items = [...inNamespace].map(([name, data]) => this.secretObject(namespace, name, data));
      return this.send(res, 200, { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: '4711' }, items });
    }
    const name = decodeURIComponent(match[2]);
    if (!inNamespace.has(name)) return this.status(res, 404, 'NotFound', `secrets "${name}" not found`, { name, kind: 'secrets' });
    this.send(res, 200, { kind: 'Secret', apiVersion: 'v1', ...this.secretObject(namespace, name, inNamespace.get(name)) });
  }

  private secretObject(namespace: string, name: string, data: Record<string, string> | undefined): object {
    return {
      metadata: { name, namespace, uid: `uid-${namespace}-${name}`, resourceVersion: '4711', creationTimestamp: '2024-05-01T12:00:00Z' },
      type: 'Opaque',
      ...(data === undefined ? {} : { data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) }),
    };
  }

  private status(res: ServerResponse, code: number, reason: string, message: string, details?: object): void {
    this.send(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code });
  }

  private send(res: ServerResponse, code: number, body: object): void {
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }
}

const workDir = tempDir('secretstores-kubernetes');
let kubeconfigCount = 0;

/** A kubeconfig whose current context reaches `server` with the bearer token. */
function writeKubeconfig(server: string, options: { token?: string; skipTlsVerify?: boolean; currentContext?: string } = {}): string {
  const path = join(workDir.path, `kubeconfig-${++kubeconfigCount}.yaml`);
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: fake',
      '  cluster:',
      `    server: ${server}`,
      ...(options.skipTlsVerify === false ? [] : ['    insecure-skip-tls-verify: true']),
      'users:',
      '- name: tester',
      '  user:',
      `    token: ${options.token ?? TOKEN}`,
      'contexts:',
      '- name: fake',
      '  context:',
      '    cluster: fake',
      '    user: tester',
      `current-context: ${options.currentContext ?? 'fake'}`,
      '',
    ].join('\n'),
  );
  return path;
}

async function create(properties: Record<string, string>): Promise<{ store: SecretStore; capabilities: string[] }> {
  const { instance, info } = await createComponent('secretstores', 'secretstores.kubernetes', properties, { name: 'kubernetes' });
  return { store: instance, capabilities: info.capabilities };
}

/** Runs `body` with environment variables set (or removed, for `undefined`), restoring them afterwards. */
async function withEnv<T>(variables: Record<string, string | undefined>, body: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(variables).map((name) => [name, process.env[name]]));
  const apply = (values: Record<string, string | undefined>): void => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(variables);
  try {
    return await body();
  } finally {
    apply(saved);
  }
}

const meta = (properties: Record<string, string>) => ({ name: 'kubernetes', type: 'secretstores.kubernetes', version: 'v1', properties });

describe('secretstores.kubernetes', () => {
  const api = new FakeKubernetesApi();
  let kubeconfig = '';
  before(async () => {
    await api.start();
    kubeconfig = writeKubeconfig(api.url);
    api.put('team-a', 'db', { username: 'app', password: 'pä$$wörd 🔑', empty: '' });
    api.put('team-a', 'api-key', { key: 'abc123' });
    api.put('team-a', 'no-data', undefined);
    api.put('team-b', 'db', { username: 'other-team' });
    api.put('default', 'db', { username: 'default-namespace' });
  });
  after(async () => {
    await api.stop();
    workDir.remove();
  });
  const lastRequest = (): RecordedRequest => api.requests.at(-1)!;

  describe('settings', () => {
    it('defaults: no kubeconfigPath, namespace from NAMESPACE, else "default"', () => {
      assert.deepEqual(parseKubernetesSettings(meta({}), {}), { kubeconfigPath: undefined, defaultNamespace: 'default' });
      assert.deepEqual(parseKubernetesSettings(meta({}), { NAMESPACE: 'from-env' }), { kubeconfigPath: undefined, defaultNamespace: 'from-env' });
    });

    it('defaultNamespace wins over NAMESPACE; names match ignoring case; a relative path resolves against the working directory', () => {
      const settings = parseKubernetesSettings(meta({ DEFAULTNAMESPACE: 'configured', KubeconfigPath: 'conf/kube.yaml' }), { NAMESPACE: 'from-env' });
      assert.deepEqual(settings, { kubeconfigPath: join(process.cwd(), 'conf/kube.yaml'), defaultNamespace: 'configured' });
    });
  });

  describe('getSecret', () => {
    it('answers the data keys decoded, sending the bearer token to the default namespace', async () => {
      const { store, capabilities } = await create({ kubeconfigPath: kubeconfig, defaultNamespace: 'team-a' });
      assert.deepEqual(await store.getSecret('db', {}), { username: 'app', password: 'pä$$wörd 🔑', empty: '' });
      assert.deepEqual(lastRequest(), { method: 'GET', path: '/api/v1/namespaces/team-a/secrets/db', authorization: `Bearer ${TOKEN}` });
      assert.deepEqual(capabilities, ['MULTIPLE_KEY_VALUES_PER_SECRET']);
    });

    it('answers a Secret without data as an empty secret', async () => {
      const { store } = await create({ kubeconfigPath: kubeconfig, defaultNamespace: 'team-a' });
      assert.deepEqual(await store.getSecret('no-data', {}), {});
    });

    it('reads the namespace named by the request metadata', async () => {
      const { store } = await create({ kubeconfigPath: kubeconfig, defaultNamespace: 'team-a' });
      assert.deepEqual(await store.getSecret('db', { namespace: 'team-b' }), { username: 'other-team' });
      assert.equal(lastRequest().path, '/api/v1/namespaces/team-b/secrets/db');
    });

    it('falls back to NAMESPACE, then to "default"', async () => {
      const fromEnv = await withEnv({ NAMESPACE: 'team-b' }, () => create({ kubeconfigPath: kubeconfig }));
      assert.deepEqual(await fromEnv.store.getSecret('db', {}), { username: 'other-team' });
      const fallback = await withEnv({ NAMESPACE: undefined }, () => create({ kubeconfigPath: kubeconfig }));
      assert.deepEqual(await fallback.store.getSecret('db', {}), { username: 'default-namespace' });
      assert.equal(lastRequest().path, '/api/v1/namespaces/default/secrets/db');
    });

    it('rejects an unknown secret (404) with SecretNotFoundError', async () => {
      const { store } = await create({ kubeconfigPath: kubeconfig, defaultNamespace: 'team-a' });
      await assert.rejects(store.getSecret('missing', {}), (err: unknown) => {
        assert.ok(err instanceof SecretNotFoundError);
        assert.equal(err.secretName, 'missing');
        return true;
      });
      await assert.rejects(store.getSecret('api-key', { namespace: 'team-b' }), SecretNotFoundError);
    });

    it('rejects other API failures naming the secret and the status, never the response body', async () => {
      const { store } = await create({ kubeconfigPath: kubeconfig, defaultNamespace: 'team-a' });
      api.failure = { code: 500, reason: 'InternalError', message: `etcd leaked value-${TOKEN}` };
      try {
        await assert.rejects(store.getSecret('db', {}), (err: Error) => {
          assert.ok(!(err instanceof SecretNotFoundError));
          assert.equal(err.message, 'kubernetes API answered 500 when reading secret "db" in namespace "team-a"');
          assert.equal(err.cause, undefined);
          return true;
        });
        api.failure = { code: 403, reason: 'Forbidden', message: 'secrets "db" is forbidden' };
        await assert.rejects(store.getSecret('db', { namespace: 'team-b' }), /answered 403 when reading secret "db" in namespace "team-b"/);
      } finally {
        api.failure = undefined;
      }
    });

    it('rejects with the status when the token is refused', async () => {
      const { store } = await create({ kubeconfigPath: writeKubeconfig(api.url, { token: 'wrong-token' }), defaultNamespace: 'team-a' });
      await assert.rejects(store.getSecret('db', {}), (err: Error) => {
        assert.match(err.message, /answered 401 when reading secret "db"/);
        assert.ok(!err.message.includes('wrong-token'));
        return true;
      });
      assert.equal(lastRequest().authorization, 'Bearer wrong-token');
    });

    it('starts without a reachable API server and fails each call naming the secret and the cause', async () => {
      const { store } = await create({ kubeconfigPath: writeKubeconfig(`http://127.0.0.1:${await freePort()}`), defaultNamespace: 'team-a' });
      await assert.rejects(store.getSecret('db', {}), /kubernetes API request failed when reading secret "db" in namespace "team-a" \(ECONNREFUSED\)/);
      await assert.rejects(store.bulkGetSecret({}), /failed when listing the secrets of namespace "team-a" \(ECONNREFUSED\)/);
    });

    it('escapes names in the request path', async () => {
      api.put('team-a', 'a.b-c', { v: 'dotted' });
      const { store } = await create({ kubeconfigPath: kubeconfig, defaultNamespace: 'team-a' });
      assert.deepEqual(await store.getSecret('a.b-c', {}), { v: 'dotted' });
      await assert.rejects(store.getSecret('../team-b/db', {}), SecretNotFoundError);
      assert.equal(lastRequest().path, '/api/v1/namespaces/team-a/secrets/..%2Fteam-b%2Fdb');
    });
  });

  describe('bulkGetSecret', () => {
    it('lists the secrets of the default namespace, each with its decoded data', async () => {
      const { store } = await create({ kubeconfigPath: kubeconfig, defaultNamespace: 'team-b' });
      assert.deepEqual(await store.bulkGetSecret({}), { db: { username: 'other-team' } });
      assert.deepEqual(lastRequest(), { method: 'GET', path: '/api/v1/namespaces/team-b/secrets', authorization: `Bearer ${TOKEN}` });
    });

    it('lists the namespace named by the request metadata', async () => {
      const { store } = await create({ kubeconfigPath: kubeconfig, defaultNamespace: 'team-b' });
      const bulk = await store.bulkGetSecret({ namespace: 'team-a' });
      assert.deepEqual(bulk['db'], { username: 'app', password: 'pä$$wörd 🔑', empty: '' });
      assert.deepEqual(bulk['api-key'], { key: 'abc123' });
      assert.deepEqual(bulk['no-data'], {});
      assert.equal(lastRequest().path, '/api/v1/namespaces/team-a/secrets');
    });

    it('answers an empty namespace with no secrets', async () => {
      const { store } = await create({ kubeconfigPath: kubeconfig });
      assert.deepEqual(await store.bulkGetSecret({ namespace: `empty-${randomBytes(3).toString('hex')}` }), {});
    });

    it('rejects an API failure naming the namespace and the status', async () => {
      const { store } = await create({ kubeconfigPath: kubeconfig, defaultNamespace: 'team-a' });
      api.failure = { code: 500, reason: 'InternalError', message: 'boom' };
      try {
        await assert.rejects(store.bulkGetSecret({}), { message: 'kubernetes API answered 500 when listing the secrets of namespace "team-a"' });
      } finally {
        api.failure = undefined;
      }
    });
  });

  describe('init', () => {
    /** Init fails through the registry with a message that satisfies `check`. */
    const failsInit = async (properties: Record<string, string>, check: (message: string) => void): Promise<void> => {
      await assert.rejects(create(properties), (err: Error) => {
        check(err.message);
        return true;
      });
    };

    it('loads the kubeconfig named by KUBECONFIG when kubeconfigPath is unset', async () => {
      const { store } = await withEnv({ KUBECONFIG: kubeconfig }, () => create({ defaultNamespace: 'team-a' }));
      assert.deepEqual(await store.getSecret('api-key', {}), { key: 'abc123' });
      assert.equal(lastRequest().authorization, `Bearer ${TOKEN}`);
    });

    // Inside a pod the service account counts as a default kubeconfig.
    const inPod = existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token');
    it('fails when no kubeconfig is named and none is in its default places', { skip: inPod && 'running inside a Kubernetes pod' }, async () => {
      const emptyHome = tempDir('secretstores-kubernetes-home');
      try {
        await withEnv({ KUBECONFIG: undefined, HOME: emptyHome.path }, () =>
          failsInit({}, (message) => assert.match(message, /no kubeconfig found: set metadata "kubeconfigPath" or KUBECONFIG/)),
        );
      } finally {
        emptyHome.remove();
      }
    });

    it('resolves a relative kubeconfigPath against the working directory', async () => {
      const { store } = await create({ kubeconfigPath: relative(process.cwd(), kubeconfig), defaultNamespace: 'team-a' });
      assert.deepEqual(await store.getSecret('api-key', {}), { key: 'abc123' });
    });

    it('fails naming a missing kubeconfig', async () => {
      const path = join(workDir.path, 'missing.yaml');
      await failsInit({ kubeconfigPath: path }, (message) => {
        assert.ok(message.includes(`kubeconfig ${path} could not be loaded (ENOENT)`), message);
      });
    });

    it('fails on invalid YAML without quoting the file', async () => {
      const path = join(workDir.path, 'broken.yaml');
      writeFileSync(path, `users:\n- name: tester\n  user:\n    token: ${TOKEN}\n  : : [unclosed\n`);
      await failsInit({ kubeconfigPath: path }, (message) => {
        assert.match(message, /could not be loaded \(invalid YAML at line \d+/);
        assert.ok(!message.includes(TOKEN), message);
        assert.ok(!message.includes('unclosed'), message);
      });
    });

    it('fails when the current context names no cluster', async () => {
      await failsInit({ kubeconfigPath: writeKubeconfig(api.url, { currentContext: 'elsewhere' }) }, (message) =>
        assert.match(message, /has no current cluster/),
      );
    });

    it('fails on an http:// server that still requires TLS verification', async () => {
      await failsInit({ kubeconfigPath: writeKubeconfig(api.url, { skipTlsVerify: false }) }, (message) =>
        assert.match(message, /uses an http:\/\/ server, which needs insecure-skip-tls-verify: true/),
      );
    });
  });
  describe('through a running sidecar', () => {
    const registry = tempDir('secretstores-kubernetes-registry');
    const resources = tempDir('secretstores-kubernetes-resources');
    let sidecar: SidecarProcess;

    before(async () => {
      writeFileSync(
        join(resources.path, 'kubernetes.yaml'),
        componentYaml({ name: 'k8s', type: 'secretstores.kubernetes', metadata: { kubeconfigPath: kubeconfig, defaultNamespace: 'team-a' } }),
      );
      sidecar = await startSidecar({ appId: 'k8s-reader', registryDir: registry.path, args: ['--resources-path', resources.path] });
    });

    after(async () => {
      await sidecar?.stop();
      closeHttpAgent();
      registry.remove();
      resources.remove();
    });

    const get = (path: string): Promise<{ status: number; body: unknown }> => getStatusAndJson(sidecar.url(path));

    it('answers a secret from the default namespace and from ?metadata.namespace', async () => {
      assert.deepEqual(await get('/v1.0/secrets/k8s/db'), { status: 200, body: { username: 'app', password: 'pä$$wörd 🔑', empty: '' } });
      assert.deepEqual(lastRequest(), { method: 'GET', path: '/api/v1/namespaces/team-a/secrets/db', authorization: `Bearer ${TOKEN}` });
      assert.deepEqual(await get('/v1.0/secrets/k8s/db?metadata.namespace=team-b'), { status: 200, body: { username: 'other-team' } });
      assert.equal(lastRequest().path, '/api/v1/namespaces/team-b/secrets/db');
    });

    it('answers bulk as { name: { key: value } } for either namespace', async () => {
      const teamA = await get('/v1.0/secrets/k8s/bulk');
      assert.equal(teamA.status, 200);
      assert.deepEqual((teamA.body as Record<string, unknown>)['api-key'], { key: 'abc123' });
      assert.deepEqual((teamA.body as Record<string, unknown>)['db'], { username: 'app', password: 'pä$$wörd 🔑', empty: '' });
      assert.deepEqual(await get('/v1.0/secrets/k8s/bulk?metadata.namespace=team-b'), { status: 200, body: { db: { username: 'other-team' } } });
      assert.deepEqual(lastRequest(), { method: 'GET', path: '/api/v1/namespaces/team-b/secrets', authorization: `Bearer ${TOKEN}` });
    });

    it('answers 204 for a secret without data', async () => {
      assert.deepEqual(await get('/v1.0/secrets/k8s/no-data'), { status: 204, body: undefined });
    });
  });
});
