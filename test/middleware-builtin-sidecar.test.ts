// The built-in middleware (middleware-wasm/builtin) as users meet them: component YAML in a resources folder,
// a Configuration naming them in `spec.httpPipeline` / `spec.appHttpPipeline`, a real sidecar and an app. The
// Dapr middleware are declared with the component shapes Dapr documents, so existing Dapr YAML is what is tested.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { echo, startApp, type AppHandler, type TestApp } from './support/apps.js';
import { closeHttpAgent, http, json, type HttpResult } from './support/http.js';
import { componentYaml, pipelineConfigYaml, type PipelineHandler } from './support/resources.js';
import { logLines, PipelineWorkspace } from './support/middleware-sidecar.js';
import { startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';

const run = randomBytes(4).toString('hex');
const registry = tempDir('mw-builtin');

interface Stack {
  app: TestApp;
  sidecar: SidecarProcess;
  /** The sidecar URL invoking `method` (with any query) on the stack's own app. */
  invoke(method: string): string;
}

/** Resources for one stack; a function of the app id, which Dapr's routeralias examples put in their targets. */
type ResourcesYaml = (appId: string) => string;
type Pipelines = Parameters<typeof pipelineConfigYaml>[0];

async function startStack(label: string, resources: ResourcesYaml, pipelines: Pipelines, handler: AppHandler): Promise<Stack & { stop(): Promise<void> }> {
  const appId = `mw-${label}-${run}`;
  const dir = tempDir(`mw-${label}`);
  const resourcesPath = join(dir.path, 'resources');
  mkdirSync(resourcesPath);
  writeFileSync(join(resourcesPath, 'middleware.yaml'), resources(appId));
  const configPath = join(dir.path, 'config.yaml');
  writeFileSync(configPath, pipelineConfigYaml(pipelines));
  const app = await startApp(handler);
  let sidecar: SidecarProcess;
  try {
    sidecar = await startSidecar({ appId, appPort: app.port, registryDir: registry.path, args: ['--resources-path', resourcesPath, '--config', configPath] });
  } catch (err) {
    await app.close();
    dir.remove();
    throw err;
  }
  return {
    app,
    sidecar,
    invoke: (method) => sidecar.url(`/v1.0/invoke/${appId}/method/${method}`),
    stop: async () => {
      await sidecar.stop();
      await app.close();
      dir.remove();
    },
  };
}

/** A stack started before the tests of the enclosing suite and stopped after them. */
function stackFor(label: string, resources: ResourcesYaml, pipelines: Pipelines, handler: AppHandler = echo): () => Stack {
  let stack: (Stack & { stop(): Promise<void> }) | undefined;
  before(async () => {
    stack = await startStack(label, resources, pipelines, handler);
  });
  after(async () => {
    await stack?.stop();
  });
  return () => stack!;
}

/**
 * Runs `exchange` and returns what the app received meanwhile, leaving out the sidecar's own calls (subscription
 * discovery), which arrive whenever the sidecar gets round to them.
 */
async function seenByApp<T>(app: TestApp, exchange: () => Promise<T>): Promise<{ result: T; seen: TestApp['requests'] }> {
  const from = app.requests.length;
  const result = await exchange();
  return { result, seen: app.requests.slice(from).filter((r) => !r.url.startsWith('/dapr/')) };
}

function assertDaprError(res: HttpResult, status: number, errorCode: string): { errorCode: string; message: string } {
  assert.equal(res.status, status, res.body.toString());
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = json(res) as { errorCode: string; message: string };
  assert.equal(body.errorCode, errorCode);
  assert.equal(typeof body.message, 'string');
  return body;
}

// Dapr's documented component YAML, written as users have it (unquoted numbers, block scalars).

const UPPERCASE_YAML = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: uppercase
spec:
  type: middleware.http.uppercase
  version: v1
`;

const routerAliasYaml = (appId: string): string => `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: routeralias
spec:
  type: middleware.http.routeralias
  version: v1
  metadata:
    - name: "routes"
      value: |
        {
          "/mall/activity/info": "/v1.0/invoke/${appId}/method/mall/activity/info",
          "/hello/activity/{id}/info": "/v1.0/invoke/${appId}/method/hello/activity/info",
          "/hello/activity/{id}/user": "/v1.0/invoke/${appId}/method/hello/activity/user"
        }
`;

/** Dapr's older form: no `routes`, every metadata entry is one alias and its target. */
const legacyRouterAliasYaml = (appId: string): string => `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: legacyalias
spec:
  type: middleware.http.routeralias
  version: v1
  metadata:
    - name: /old/orders
      value: /v1.0/invoke/${appId}/method/orders
    - name: /old/orders/{orderId}
      value: /v1.0/invoke/${appId}/method/orders/one
`;

const ROUTERCHECKER_YAML = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: routerchecker
spec:
  type: middleware.http.routerchecker
  version: v1
  metadata:
  - name: rule
    value: "^[A-Za-z0-9/._-]+$"
`;

const RATELIMIT_YAML = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: ratelimit
spec:
  type: middleware.http.ratelimit
  version: v1
  metadata:
  - name: maxRequestsPerSecond
    value: 10
`;

const UPPERCASE: PipelineHandler = { name: 'uppercase', type: 'middleware.http.uppercase' };
const ROUTERALIAS: PipelineHandler = { name: 'routeralias', type: 'middleware.http.routeralias' };
const APIKEY: PipelineHandler = { name: 'apikey', type: 'middleware.http.apikey' };

after(() => {
  closeHttpAgent();
  registry.remove();
});

/** Answers in lower case around what it received, so an answer upper-cased on its way back would show. */
const quoting: AppHandler = (req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(Buffer.concat([Buffer.from('the app got: '), req.body]));
};

describe('uppercase on the API pipeline', () => {
  const stack = stackFor('upper-api', () => UPPERCASE_YAML, { api: [UPPERCASE] }, quoting);

  it('hands the app the invoked body upper-cased and leaves its answer alone', async () => {
    const { result, seen } = await seenByApp(stack().app, () =>
      http(stack().invoke('echo?q=lower'), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello, World 42 {a:b}' }),
    );
    assert.equal(result.status, 200);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.url, '/echo?q=lower');
    assert.equal(seen[0]!.body.toString(), 'HELLO, WORLD 42 {A:B}');
    assert.equal(result.body.toString(), 'the app got: HELLO, WORLD 42 {A:B}');
  });

  it('maps non-ASCII text with full Unicode case mapping, where Dapr (Go strings.ToUpper) keeps ß and ligatures', async () => {
    // Go's strings.ToUpper maps rune by rune ("grüße ﬁne" -> "GRÜßE ﬁNE"); the built-in expands ß and ﬁ to two
    // letters, so the body here is one byte shorter than the one sent.
    const sent = 'grüße, привет, ﬁne';
    const { seen } = await seenByApp(stack().app, () => http(stack().invoke('echo'), { method: 'POST', body: sent }));
    const received = seen[0]!;
    assert.equal(received.body.toString(), 'GRÜSSE, ПРИВЕТ, FINE');
    assert.equal(Number(received.headers['content-length']), received.body.length);
    assert.equal(received.body.length, Buffer.byteLength(sent) - 1);
  });

  it(
    'turns bytes that are not UTF-8 into U+FFFD, as Go strings.ToUpper does',
    async () => {
      const { seen } = await seenByApp(stack().app, () => http(stack().invoke('echo'), { method: 'PUT', body: Buffer.from([0x61, 0xff, 0x62]) }));
      assert.deepEqual(seen[0]!.body, Buffer.from('A\uFFFDB'));
    },
  );

  it('passes requests without a body', async () => {
    const { result, seen } = await seenByApp(stack().app, () => http(stack().invoke('nothing')));
    assert.equal(result.status, 200);
    assert.equal(seen[0]!.method, 'GET');
    assert.equal(seen[0]!.body.length, 0);
  });
});

describe('uppercase on the app pipeline', () => {
  const stack = stackFor('upper-app', () => UPPERCASE_YAML, { app: [UPPERCASE] }, quoting);

  it('upper-cases what the sidecar sends the app, not what the app answers', async () => {
    const { result, seen } = await seenByApp(stack().app, () =>
      http(stack().invoke('echo'), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'to the app' }),
    );
    assert.equal(result.status, 200);
    assert.equal(seen[0]!.body.toString(), 'TO THE APP');
    assert.equal(result.body.toString(), 'the app got: TO THE APP');
  });
});

describe('routeralias', () => {
  const stack = stackFor('alias', (appId) => routerAliasYaml(appId) + '---\n' + legacyRouterAliasYaml(appId), {
    api: [ROUTERALIAS, { name: 'legacyalias', type: 'middleware.http.routeralias' }],
  });

  it("rewrites Dapr's documented alias to its invoke target, keeping the query, method and body", async () => {
    const { result, seen } = await seenByApp(stack().app, () =>
      http(stack().sidecar.url('/mall/activity/info?id=123'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' }),
    );
    assert.equal(result.status, 200);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.method, 'POST');
    assert.equal(seen[0]!.url, '/mall/activity/info?id=123');
    assert.equal(seen[0]!.body.toString(), '{"a":1}');
  });

  it('matches the alias against the decoded path', async () => {
    const { seen } = await seenByApp(stack().app, () => http(stack().sidecar.url('/mall/activity/%69nfo')));
    assert.equal(seen[0]!.url, '/mall/activity/info');
  });

  it('appends {var} segments to the query, after the query sent', async () => {
    const { seen } = await seenByApp(stack().app, async () => {
      assert.equal((await http(stack().sidecar.url('/hello/activity/42/user?x=1'))).status, 200);
      assert.equal((await http(stack().sidecar.url('/hello/activity/a%20b/info'))).status, 200);
    });
    assert.deepEqual(
      seen.map((r) => r.url),
      ['/hello/activity/user?x=1&id=42', '/hello/activity/info?id=a+b'],
    );
  });

  it('leaves paths matching no alias untouched', async () => {
    const { result: direct, seen } = await seenByApp(stack().app, () => http(stack().invoke('plain?q=1')));
    assert.equal(direct.status, 200);
    assert.deepEqual(
      seen.map((r) => r.url),
      ['/plain?q=1'],
    );
    for (const path of ['/mall/activity/other', '/mall/activity/info/extra', '/hello/activity//user']) {
      const { result, seen: none } = await seenByApp(stack().app, () => http(stack().sidecar.url(path)));
      assert.equal(result.status, 404, path);
      assert.equal(none.length, 0, path);
    }
  });

  it('takes the older one-entry-per-alias metadata form, and logs that it is deprecated', async () => {
    const { seen } = await seenByApp(stack().app, async () => {
      assert.equal((await http(stack().sidecar.url('/old/orders?page=2'))).status, 200);
      assert.equal((await http(stack().sidecar.url('/old/orders/o-7'))).status, 200);
    });
    assert.deepEqual(
      seen.map((r) => r.url),
      ['/orders?page=2', '/orders/one?orderId=o-7'],
    );
    assert.match(stack().sidecar.output(), /routeralias: listing routes as metadata entries is deprecated/);
  });
});

describe('routerchecker', () => {
  const stack = stackFor('checker', () => ROUTERCHECKER_YAML, { api: [{ name: 'routerchecker', type: 'middleware.http.routerchecker' }] });

  it("passes the paths Dapr's documentation lists as passing", async () => {
    const methods = ['method', '01', 'METHOD', 'user/info', 'user_info', 'user-info'];
    const { seen } = await seenByApp(stack().app, async () => {
      for (const method of methods) assert.equal((await http(stack().invoke(method))).status, 200, method);
    });
    assert.deepEqual(
      seen.map((r) => r.url),
      methods.map((m) => `/${m}`),
    );
  });

  it('answers 400 "invalid router" in plain text for the failing ones, which never reach the app', async () => {
    const refused = ['cat%20password', '%22%20AND%204210=4210%20limit%201', '%22$(curl', 'ok?x=1'];
    const { result, seen } = await seenByApp(stack().app, () => Promise.all(refused.map((m) => http(stack().invoke(m), { method: 'POST', body: 'x' }))));
    for (const [i, res] of result.entries()) {
      // Dapr matches the path plus the query, so with this rule any query is refused too.
      assert.equal(res.status, 400, refused[i]);
      assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(res.body.toString(), 'invalid router');
    }
    assert.equal(seen.length, 0);
  });

  it('checks the sidecar API too, not only invocation', async () => {
    assert.equal((await http(stack().sidecar.url('/v1.0/metadata'))).status, 200);
    const refused = await http(stack().sidecar.url('/v1.0/state/no%20store/k'));
    assert.equal(refused.status, 400);
    assert.equal(refused.body.toString(), 'invalid router');
  });

  describe('with a rule refusing one character', () => {
    const denyQuotes = (): string => componentYaml({ name: 'noquotes', type: 'middleware.http.routerchecker', metadata: { rule: '^[^"]+$' } });
    const denying = stackFor('checker-deny', denyQuotes, { api: [{ name: 'noquotes', type: 'middleware.http.routerchecker' }] });

    it('refuses the character however it is encoded', async () => {
      const { result, seen } = await seenByApp(denying().app, () => Promise.all([http(denying().invoke('a%22b')), http(denying().invoke('ok'))]));
      assert.deepEqual(
        result.map((r) => r.status),
        [400, 200],
      );
      assert.equal(seen.length, 1);
    });

    it(
      'refuses it after a byte that is not UTF-8, as Go matches such a byte as U+FFFD',
      async () => {
        const { result, seen } = await seenByApp(denying().app, () => http(denying().invoke('a%FF%22%22%22')));
        assert.equal(result.status, 400);
        assert.equal(seen.length, 0);
      },
    );
  });
});

interface Burst {
  allowed: number;
  refused: HttpResult[];
}

/** One GET on a connection of its own from `localAddress`, so the sidecar sees that client address. */
function getFrom(url: string, localAddress: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function burst(count: number, url: string, localAddress: string, headers?: Record<string, string>): Promise<Burst> {
  const results = await Promise.all(Array.from({ length: count }, () => getFrom(url, localAddress, headers)));
  const refused = results.filter((r) => r.status !== 200);
  return { allowed: results.length - refused.length, refused };
}

describe('ratelimit at maxRequestsPerSecond: 10', () => {
  const stack = stackFor('ratelimit', () => RATELIMIT_YAML, { api: [{ name: 'ratelimit', type: 'middleware.http.ratelimit' }] });
  const RATE = 10;
  /** The most a client can get in `seconds` from a full bucket: the burst, the refill, one for rounding. */
  const mostAllowed = (seconds: number): number => RATE + Math.ceil(seconds * RATE) + 1;

  function assertRefusals(refused: HttpResult[]): void {
    for (const res of refused) {
      assert.equal(res.status, 429);
      assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(res.body.toString(), 'You have reached maximum request limit.');
    }
  }

  it('answers 429 beyond the burst, lets about the rate through, and refills within a second', async () => {
    const url = stack().invoke('limited');
    for (let round = 0; round < 2; round++) {
      // A full second refills the whole bucket for the second round.
      if (round > 0) await sleep(1_100);
      const started = performance.now();
      const { result, seen } = await seenByApp(stack().app, () => burst(30, url, '127.0.0.1'));
      const seconds = (performance.now() - started) / 1000;
      assert.ok(result.allowed >= RATE, `round ${round}: ${result.allowed} allowed`);
      assert.ok(result.allowed <= mostAllowed(seconds), `round ${round}: ${result.allowed} allowed in ${seconds}s`);
      assert.equal(seen.length, result.allowed);
      assertRefusals(result.refused);
    }
  });

  it('keeps a budget per client address, and per X-Forwarded-For client', async () => {
    const url = stack().invoke('limited');
    await sleep(1_100);
    const started = performance.now();
    const exhausted = await burst(25, url, '127.0.0.1');
    const [again, otherAddress, forwarded] = await Promise.all([
      burst(25, url, '127.0.0.1'),
      burst(25, url, '127.0.0.2'),
      burst(25, url, '127.0.0.1', { 'x-forwarded-for': '203.0.113.7' }),
    ]);
    const seconds = (performance.now() - started) / 1000;
    assert.ok(exhausted.allowed + again.allowed <= mostAllowed(seconds), `127.0.0.1: ${exhausted.allowed} + ${again.allowed} in ${seconds}s`);
    assert.ok(again.refused.length > 0);
    assert.ok(otherAddress.allowed >= RATE, `127.0.0.2: ${otherAddress.allowed}`);
    assert.ok(forwarded.allowed >= RATE, `forwarded: ${forwarded.allowed}`);
    assertRefusals([...again.refused, ...otherAddress.refused, ...forwarded.refused]);
  });
});

describe('apikey', () => {
  describe('with several keys on the default header', () => {
    const stack = stackFor('apikey', () => componentYaml({ name: 'apikey', type: 'middleware.http.apikey', metadata: { keys: 'first-key, second-key' } }), {
      api: [APIKEY],
    });

    it("answers 401 in Dapr's error shape without a key or with a wrong one, before the app", async () => {
      const attempts: Array<Record<string, string>> = [{}, { 'x-api-key': 'wrong' }, { 'x-api-key': 'first' }, { 'x-api-key': 'first-key-2' }, { 'x-api-key': '' }];
      const { result, seen } = await seenByApp(stack().app, () => Promise.all(attempts.map((headers) => http(stack().invoke('secret'), { headers }))));
      for (const res of result) {
        const body = assertDaprError(res, 401, 'ERR_UNAUTHORIZED');
        assert.match(body.message, /x-api-key/);
      }
      assert.equal(seen.length, 0);
    });

    it('passes any of the keys, trimmed, and leaves the header for the app', async () => {
      const { seen } = await seenByApp(stack().app, async () => {
        for (const key of ['first-key', 'second-key']) {
          assert.equal((await http(stack().invoke('secret'), { headers: { 'X-Api-Key': key } })).status, 200, key);
        }
      });
      assert.deepEqual(
        seen.map((r) => r.headers['x-api-key']),
        ['first-key', 'second-key'],
      );
    });

    it('guards the whole sidecar API', async () => {
      assertDaprError(await http(stack().sidecar.url('/v1.0/metadata')), 401, 'ERR_UNAUTHORIZED');
      assert.equal((await http(stack().sidecar.url('/v1.0/metadata'), { headers: { 'x-api-key': 'second-key' } })).status, 200);
    });
  });

  describe('with a custom headerName', () => {
    const stack = stackFor(
      'apikey-header',
      () => componentYaml({ name: 'apikey', type: 'middleware.http.apikey', metadata: { keys: 'tenant-one', headerName: 'X-Tenant-Key' } }),
      { api: [APIKEY] },
    );

    it('reads the key from that header only', async () => {
      assert.equal((await http(stack().invoke('x'), { headers: { 'x-tenant-key': 'tenant-one' } })).status, 200);
      const body = assertDaprError(await http(stack().invoke('x'), { headers: { 'x-api-key': 'tenant-one' } }), 401, 'ERR_UNAUTHORIZED');
      assert.match(body.message, /X-Tenant-Key/);
    });
  });
});

describe('a chain of built-ins: apikey -> routeralias -> uppercase', () => {
  const stack = stackFor(
    'chain',
    (appId) =>
      componentYaml(
        { name: 'apikey', type: 'middleware.http.apikey', metadata: { keys: 'chain-key' } },
        { name: 'routeralias', type: 'middleware.http.routeralias', metadata: { routes: JSON.stringify({ '/shout': `/v1.0/invoke/${appId}/method/shouted` }) } },
      ) +
      '---\n' +
      UPPERCASE_YAML,
    { api: [APIKEY, ROUTERALIAS, UPPERCASE] },
  );

  it('runs the stages in order: checked, rewritten, then upper-cased', async () => {
    const { result, seen } = await seenByApp(stack().app, () =>
      http(stack().sidecar.url('/shout?x=1'), { method: 'POST', headers: { 'x-api-key': 'chain-key' }, body: 'quiet please' }),
    );
    assert.equal(result.status, 200);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.url, '/shouted?x=1');
    assert.equal(seen[0]!.body.toString(), 'QUIET PLEASE');
  });

  it('stops at the first stage that answers', async () => {
    const { result, seen } = await seenByApp(stack().app, () => http(stack().sidecar.url('/shout'), { method: 'POST', body: 'quiet' }));
    assertDaprError(result, 401, 'ERR_UNAUTHORIZED');
    assert.equal(seen.length, 0);
  });

  it('lists the middleware components and their types in the metadata API', async () => {
    const res = await http(stack().sidecar.url('/v1.0/metadata'), { headers: { 'x-api-key': 'chain-key' } });
    assert.equal(res.status, 200);
    const { components } = json(res) as { components: Array<{ name: string; type: string; version: string }> };
    assert.deepEqual(
      components.filter((c) => c.type.startsWith('middleware.')).sort((a, b) => a.name.localeCompare(b.name)),
      [
        { name: 'apikey', type: 'middleware.http.apikey', version: 'v1' },
        { name: 'routeralias', type: 'middleware.http.routeralias', version: 'v1' },
        { name: 'uppercase', type: 'middleware.http.uppercase', version: 'v1' },
      ],
    );
  });
});

describe('built-ins with a configuration they cannot use', () => {
  const workspace = new PipelineWorkspace();
  after(() => workspace.remove());

  const cases: Array<{ component: PipelineHandler; metadata: Record<string, string>; reason: RegExp }> = [
    {
      component: ROUTERALIAS,
      // Dapr also reads a YAML dictionary here; the built-in takes JSON only.
      metadata: { routes: '/mall/activity/info: /v1.0/invoke/srv/method/info' },
      reason: /routeralias: routes must be a JSON object of alias path to target path/,
    },
    {
      component: { name: 'ratelimit', type: 'middleware.http.ratelimit' },
      metadata: { maxRequestsPerSecond: 'abc' },
      reason: /ratelimit: maxRequestsPerSecond must be a positive number, got "abc"/,
    },
    {
      component: { name: 'routerchecker', type: 'middleware.http.routerchecker' },
      // Valid for Go's regexp, outside the subset the built-in matches.
      metadata: { rule: '^/v1\\.0/(invoke|state)/.*$' },
      reason: /routerchecker: rule .*\(invoke\|state\).* is not supported/,
    },
    { component: APIKEY, metadata: {}, reason: /apikey: no API key is configured in metadata 'keys'/ },
  ];
  for (const { component, metadata, reason } of cases) {
    it(`${component.type} ${JSON.stringify(metadata)} stops the sidecar, saying why`, async () => {
      const { code, output } = await workspace.failedStart(`mw-bad-${run}`, [{ ...component, metadata }], { api: [component] });
      assert.notEqual(code, 0, output);
      const failure = logLines(output).find((line) => line.startsWith('error start-up failed: '));
      assert.ok(failure !== undefined, output);
      assert.match(failure, new RegExp(`component "${component.name}".*the guest failed to start`));
      assert.match(failure, reason);
    });
  }

  describe('with spec.ignoreErrors and in no pipeline', () => {
    const stack = stackFor(
      'bad-ignored',
      () => `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: apikey
spec:
  type: middleware.http.apikey
  version: v1
  ignoreErrors: true
`,
      {},
    );

    it('starts without it and logs why it was left out', async () => {
      assert.equal((await http(stack().invoke('x'))).status, 200);
      const ignored = logLines(stack().sidecar.output()).find((line) => line.includes('ignored: spec.ignoreErrors is true'));
      assert.match(ignored ?? '', /^warn .*component "apikey".*no API key is configured/);
      // Like daprd, the metadata API leaves `components` out when none is loaded.
      const { components } = json(await http(stack().sidecar.url('/v1.0/metadata'))) as { components?: Array<{ name: string }> };
      assert.equal(components, undefined);
    });
  });
});
