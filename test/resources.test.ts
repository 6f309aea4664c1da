import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  appPolicy,
  isFeatureEnabled,
  loadConfiguration,
  loadResources,
  parseGoDuration,
  ResourceError,
  type LoadContext,
} from '../proxy/resources/index.js';
import { initComponents, metadataValue, registerComponent, registerLazyComponent, type ComponentMetadata } from '../components/registry.js';
import { InMemoryStore } from '../components/state/in-memory.js';
import '../components/pubsub/in-memory.js';
import '../components/secretstores/local-file.js';
import type { Logger, LogLevel } from '../proxy/runtime/logger.js';

const ctx: LoadContext = { appId: 'myapp', namespace: '' };
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const tempRoot = mkdtempSync(join(tmpdir(), 'pillion-resources-'));
after(() => rmSync(tempRoot, { recursive: true, force: true }));
/** A fresh directory holding the given files. */
function fixture(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tempRoot, 'case-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function component(name: string, type = 'state.in-memory', extra = ''): string {
  return `apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: ${name}\nspec:\n  type: ${type}\n  version: v1\n${extra}`;
}

/** Keeps log lines for assertions instead of printing them. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const write = (level: LogLevel) => (msg: string) => void lines.push(`${level}: ${msg}`);
  return { lines, debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'), enabled: () => true };
}

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<ResourceError> {
  const err = await promise.then(
    () => assert.fail('expected a ResourceError'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ResourceError, `expected ResourceError, got ${String(err)}`);
  assert.match(err.message, pattern);
  return err;
}

describe('loadResources', () => {
  it('splits multi-document files and keeps only the known kinds', async () => {
    const dir = fixture({
      'all.yaml': [
        component('statestore'),
        'apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: res}\nspec: {}',
        '# a comment-only document is skipped',
        'apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: sub}\nspec: {topic: orders, pubsubname: pubsub, routes: {default: /orders}}',
        'apiVersion: dapr.io/v1alpha1\nkind: HTTPEndpoint\nmetadata: {name: ext}\nspec: {baseUrl: "http://example.invalid"}',
        'apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: notHere}\nspec: {}',
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}',
        'apiVersion: dapr.io/v1alpha1\nkind: component\nmetadata: {name: wrongCase}\nspec: {type: state.x}',
      ].join('\n---\n'),
      'b.yml': component('second'),
      'ignored.txt': component('third'),
    });
    const logger = recordingLogger();
    const loaded = await loadResources([dir], ctx, logger);
    assert.deepEqual(
      loaded.components.map((c) => c.name),
      ['statestore', 'second'],
    );
    assert.equal(loaded.resiliency.length, 1);
    assert.equal(loaded.subscriptions.length, 1);
    assert.equal(loaded.subscriptions[0]!.apiVersion, 'dapr.io/v2alpha1');
    assert.deepEqual(loaded.subscriptions[0]!.document['spec'], { topic: 'orders', pubsubname: 'pubsub', routes: { default: '/orders' } });
    assert.equal(loaded.httpEndpoints[0]!.name, 'ext');
    assert.equal(logger.lines.filter((l) => l.startsWith('debug: ') && l.includes('ignoring')).length, 3);
    const [store] = loaded.components;
    assert.equal(store!.file, join(dir, 'all.yaml'));
    assert.equal(store!.kind, 'state');
    assert.equal(store!.initTimeoutMs, 5000);
    assert.equal(store!.ignoreErrors, false);
  });

  it('matches field names case-insensitively, as Go decoding does', async () => {
    const dir = fixture({
      'c.yaml': [
        'APIVERSION: dapr.io/v1alpha1',
        'Kind: Component',
        'Metadata: {NAME: cased, Namespace: ""}',
        'Auth: {secretstore: vault}',
        'Spec:',
        '  Type: state.in-memory',
        '  VERSION: v1',
        '  initTIMEOUT: 2s',
        '  ignoreerrors: true',
        '  MetaData:',
        '  - {NAME: a, VALUE: x}',
        '  - {name: b, secretkeyref: {NAME: s, KEY: k}}',
        'Scopes: [myapp]',
      ].join('\n'),
    });
    const [c] = (await loadResources([dir], ctx)).components;
    assert.equal(c!.name, 'cased');
    assert.equal(c!.type, 'state.in-memory');
    assert.equal(c!.secretStore, 'vault');
    assert.equal(c!.initTimeoutMs, 2000);
    assert.equal(c!.ignoreErrors, true);
    assert.deepEqual(c!.scopes, ['myapp']);
    assert.deepEqual(c!.metadata, [
      { name: 'a', value: 'x' },
      { name: 'b', value: '', secretKeyRef: { name: 's', key: 'k' } },
    ]);
  });

  it('stringifies scalar metadata values', async () => {
    const dir = fixture({
      'c.yaml': component(
        'scalars',
        'state.in-memory',
        [
          '  metadata:',
          '  - {name: bool, value: true}',
          '  - {name: int, value: 5}',
          '  - {name: float, value: 1.5}',
          '  - {name: wholeFloat, value: 2.0}',
          '  - {name: big, value: 12345678901234567890}',
          '  - {name: hex, value: 0x1F}',
          '  - {name: quoted, value: "007"}',
          '  - {name: nothing, value: null}',
          '  - {name: absent}',
          '  - {name: object, value: {a: 1}}',
          '  - {name: list, value: [1, two]}',
        ].join('\n'),
      ),
    });
    const [c] = (await loadResources([dir], ctx)).components;
    assert.deepEqual(Object.fromEntries(c!.metadata.map((m) => [m.name, m.value])), {
      bool: 'true',
      int: '5',
      float: '1.5',
      wholeFloat: '2',
      big: '12345678901234567890',
      hex: '31',
      quoted: '007',
      nothing: '',
      absent: '',
      object: '{"a":1}',
      list: '[1,"two"]',
    });
  });

  it('loads scoped resources only for the listed apps', async () => {
    const dir = fixture({
      'a.yaml': component('mine') + 'scopes: [other, myapp]\n',
      'b.yaml': component('theirs') + 'scopes: [other]\n',
      'c.yaml': component('everyone') + 'scopes: []\n',
      'd.yaml': 'apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: r}\nscopes: [other]\nspec: {}\n',
    });
    const loaded = await loadResources([dir], ctx);
    assert.deepEqual(
      loaded.components.map((c) => c.name),
      ['mine', 'everyone'],
    );
    assert.equal(loaded.resiliency.length, 0);
  });

  it('filters by namespace only when NAMESPACE is set', async () => {
    const files = {
      'a.yaml': component('prodStore').replace('  name: prodStore', '  name: prodStore\n  namespace: prod'),
      'b.yaml': component('devStore').replace('  name: devStore', '  name: devStore\n  namespace: dev'),
      'c.yaml': component('anyStore'),
    };
    const dir = fixture(files);
    const names = async (namespace: string) =>
      (await loadResources([dir], { appId: 'myapp', namespace })).components.map((c) => c.name);
    assert.deepEqual(await names('prod'), ['prodStore', 'anyStore']);
    assert.deepEqual(await names(''), ['prodStore', 'devStore', 'anyStore']);
  });

  it('substitutes {uuid}, {appID}, {namespace} and {podName} in metadata values', async () => {
    const dir = fixture({
      'c.yaml': component(
        'templated',
        'pubsub.in-memory',
        [
          '  metadata:',
          '  - {name: consumerID, value: "{uuid}"}',
          '  - {name: twoIds, value: "{uuid}/{uuid}"}',
          '  - {name: app, value: "id-{appID}"}',
          '  - {name: ns, value: "{namespace}"}',
          '  - {name: pod, value: "{podName}-x"}',
        ].join('\n'),
      ),
    });
    const [c] = (await loadResources([dir], { appId: 'myapp', namespace: 'prod', podName: 'pod-7' })).components;
    const values = Object.fromEntries(c!.metadata.map((m) => [m.name, m.value]));
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    assert.match(values['consumerID']!, uuid);
    const [first, second] = values['twoIds']!.split('/');
    assert.match(first!, uuid);
    assert.notEqual(first, second);
    assert.equal(values['app'], 'id-myapp');
    assert.equal(values['ns'], 'prod.myapp');
    assert.equal(values['pod'], 'pod-7-x');
  });

  it('refuses {podName} when no pod name is known', async (t) => {
    const saved = process.env['POD_NAME'];
    delete process.env['POD_NAME'];
    t.after(() => {
      if (saved !== undefined) process.env['POD_NAME'] = saved;
    });
    const dir = fixture({ 'c.yaml': component('p', 'state.in-memory', '  metadata:\n  - {name: pod, value: "{podName}"}\n') });
    await rejectsWith(loadResources([dir], ctx), /c\.yaml: component "p": spec\.metadata\[0\] "pod" uses \{podName\}/);
  });

  it('resolves envRef from the environment, after an explicit value and never for sidecar secrets', async (t) => {
    process.env['PILLION_TEST_ENVREF'] = 'from-env';
    t.after(() => delete process.env['PILLION_TEST_ENVREF']);
    const dir = fixture({
      'c.yaml': component(
        'env',
        'state.in-memory',
        [
          '  metadata:',
          '  - {name: fromEnv, envRef: PILLION_TEST_ENVREF}',
          '  - {name: valueWins, value: literal, envRef: PILLION_TEST_ENVREF}',
          '  - {name: unset, envRef: PILLION_TEST_NOT_SET}',
        ].join('\n'),
      ),
    });
    const [c] = (await loadResources([dir], ctx)).components;
    assert.deepEqual(
      c!.metadata.map((m) => m.value),
      ['from-env', 'literal', ''],
    );
    const denied = fixture({ 'd.yaml': component('leak', 'state.in-memory', '  metadata:\n  - {name: token, envRef: DAPR_API_TOKEN}\n') });
    await rejectsWith(loadResources([denied], ctx), /d\.yaml: component "leak": .*DAPR_API_TOKEN/);
  });

  it('keeps secretKeyRef unresolved, with the key defaulting to the secret name', async () => {
    const dir = fixture({
      'c.yaml':
        component('secretive', 'state.in-memory', '  metadata:\n  - {name: password, secretKeyRef: {name: redis-secret}}\n') +
        'auth:\n  secretStore: local\n',
    });
    const [c] = (await loadResources([dir], ctx)).components;
    assert.deepEqual(c!.metadata, [{ name: 'password', value: '', secretKeyRef: { name: 'redis-secret', key: 'redis-secret' } }]);
    assert.equal(c!.secretStore, 'local');
  });

  it('rejects two components with the same name, naming both files', async () => {
    const dir = fixture({ 'a.yaml': component('twin'), 'b.yaml': component('twin', 'state.other') });
    await rejectsWith(loadResources([dir], ctx), /b\.yaml: component "twin": duplicate name: also defined in .*a\.yaml/);
  });

  it('names file, component and reason for invalid components', async () => {
    const missingType = fixture({ 'bad.yaml': 'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: statestore}\nspec: {version: v1}\n' });
    const err = await rejectsWith(loadResources([missingType], ctx), /spec\.type is required/);
    assert.equal(err.message, `${join(missingType, 'bad.yaml')}: component "statestore": spec.type is required`);
    assert.equal(err.file, join(missingType, 'bad.yaml'));

    const cases: [string, RegExp][] = [
      ['apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {}\nspec: {type: state.x}', /component \(document 1\): metadata\.name is required/],
      [component('noDot', 'redis'), /component "noDot": spec\.type "redis" must have the form <kind>\.<name>/],
      [component('slow', 'state.x', '  initTimeout: soon\n'), /component "slow": spec\.initTimeout: invalid duration "soon"/],
      [component('flag', 'state.x', '  ignoreErrors: "yes"\n'), /component "flag": spec\.ignoreErrors must be true or false/],
      [component('meta', 'state.x', '  metadata: {a: b}\n'), /component "meta": spec\.metadata must be a list/],
      [component('item', 'state.x', '  metadata:\n  - {value: orphan}\n'), /component "item": spec\.metadata\[0\]\.name is required/],
      ['- just\n- a list\n', /document 1 is not a mapping/],
    ];
    for (const [text, pattern] of cases) {
      await rejectsWith(loadResources([fixture({ 'bad.yaml': text })], ctx), pattern);
    }
  });

  it('reports YAML syntax errors with the file name', async () => {
    const dir = fixture({ 'broken.yaml': component('ok') + '---\nkind: Component\nmetadata: {name: [unclosed\n' });
    await rejectsWith(loadResources([dir], ctx), /broken\.yaml: invalid YAML: .*line \d+/);
  });

  it('fails clearly for a resources path that is missing or not a directory', async () => {
    const missing = join(tempRoot, 'no-such-dir');
    await rejectsWith(loadResources([missing], ctx), new RegExp(`^${missing}: resources path does not exist$`));
    const dir = fixture({ 'file.yaml': component('x') });
    await rejectsWith(loadResources([join(dir, 'file.yaml')], ctx), /file\.yaml: resources path is not a directory/);
  });

  it('loads the example resources and configuration', async () => {
    const loaded = await loadResources([join(repoRoot, 'examples/resources')], ctx);
    assert.deepEqual(
      loaded.components.map((c) => [c.name, c.type, c.version]),
      [
        ['pubsub', 'pubsub.in-memory', 'v1'],
        ['localsecrets', 'secretstores.local.file', 'v1'],
        ['statestore', 'state.in-memory', 'v1'],
      ],
    );
    const config = await loadConfiguration([join(repoRoot, 'examples/config.yaml')]);
    assert.equal(config.name, 'appconfig');
    const components = await initComponents(loaded, recordingLogger());
    try {
      // Secret stores start first, so that other components can take values from them.
      assert.deepEqual(components.list(), [
        { name: 'localsecrets', type: 'secretstores.local.file', version: 'v1', capabilities: [] },
        { name: 'pubsub', type: 'pubsub.in-memory', version: 'v1', capabilities: [] },
        { name: 'statestore', type: 'state.in-memory', version: 'v1', capabilities: ['ETAG', 'TRANSACTIONAL', 'TTL', 'QUERY_API', 'ACTOR'] },
      ]);
    } finally {
      await components.close();
    }
  });
});

describe('initComponents', () => {
  it('creates components through the registry and exposes them by kind and name', async () => {
    const dir = fixture({ 'a.yaml': component('one'), 'b.yaml': component('two', 'state.In-Memory', '  metadata:\n  - {name: k, value: v}\n') });
    const components = await initComponents(await loadResources([dir], ctx), recordingLogger());
    try {
      const one = components.get('state', 'one');
      assert.ok(one instanceof InMemoryStore);
      assert.equal(components.get('state', 'missing'), undefined);
      assert.deepEqual(
        components.ofKind('state').map((e) => e.component.name),
        ['one', 'two'],
      );
      await one.set({ key: 'k', value: new TextEncoder().encode('v') });
      assert.equal((await one.get({ key: 'k' }))?.etag, '1');
    } finally {
      await components.close();
    }
    assert.deepEqual(components.list(), []);
  });

  it('rejects unknown types and versions with file, name, type and version', async () => {
    const unknownType = fixture({ 'u.yaml': component('mystery', 'state.nowhere') });
    await rejectsWith(
      initComponents(await loadResources([unknownType], ctx), recordingLogger()),
      /u\.yaml: component "mystery": unknown component type "state\.nowhere" \(version "v1"\)/,
    );
    const unknownVersion = fixture({ 'v.yaml': component('future').replace('version: v1', 'version: v2') });
    await rejectsWith(
      initComponents(await loadResources([unknownVersion], ctx), recordingLogger()),
      /v\.yaml: component "future": component type "state\.in-memory" has no version "v2" \(registered: v1\)/,
    );
  });

  it('skips a failing component that sets ignoreErrors', async () => {
    const dir = fixture({
      'a.yaml': component('broken', 'state.nowhere', '  ignoreErrors: true\n'),
      'b.yaml': component('fine'),
    });
    const logger = recordingLogger();
    const components = await initComponents(await loadResources([dir], ctx), logger);
    try {
      assert.deepEqual(
        components.list().map((c) => c.name),
        ['fine'],
      );
      assert.ok(logger.lines.some((l) => l.startsWith('warn: ') && l.includes('component "broken"') && l.includes('ignoreErrors')));
    } finally {
      await components.close();
    }
  });

  it('times out a slow factory, closes what it returns late, and closes the components created before', async () => {
    const closed: string[] = [];
    const closeRecorded = (label: string): InMemoryStore => {
      const store = new InMemoryStore();
      const close = store.close.bind(store);
      store.close = async () => {
        closed.push(label);
        await close();
      };
      return store;
    };
    registerComponent({
      type: 'state.slow-test',
      versions: ['v1'],
      kind: 'state',
      create: () => new Promise<InMemoryStore>((resolve) => setTimeout(() => resolve(closeRecorded('late')), 150)),
    });
    registerComponent({ type: 'state.recorded-test', versions: ['v1'], kind: 'state', create: () => closeRecorded('first') });
    const dir = fixture({
      'a.yaml': component('first', 'state.recorded-test'),
      'b.yaml': component('sluggish', 'state.slow-test', '  initTimeout: 50ms\n'),
    });
    const loaded = await loadResources([dir], ctx);
    const started = performance.now();
    await rejectsWith(initComponents(loaded, recordingLogger()), /b\.yaml: component "sluggish": init timed out after 0\.05s/);
    assert.ok(performance.now() - started < 140, 'gave up at the init timeout, not when the factory finished');
    assert.deepEqual(closed, ['first']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(closed, ['first', 'late']);
  });

  it('imports a lazily registered type only when a component of that type is initialised', async () => {
    const loads: string[] = [];
    registerLazyComponent('state.lazy-test', ['v1'], async () => {
      loads.push('lazy');
      registerComponent({ type: 'state.lazy-test', versions: ['v1'], kind: 'state', create: () => new InMemoryStore(), capabilities: () => ['LAZY'] });
    });
    registerLazyComponent('state.unused-lazy-test', ['v1'], async () => {
      loads.push('unused');
    });
    registerLazyComponent('state.broken-lazy-test', ['v1'], async () => undefined);
    assert.equal(loads.length, 0);

    const components = await initComponents(await loadResources([fixture({ 'a.yaml': component('lazy', 'state.lazy-test') })], ctx), recordingLogger());
    try {
      assert.deepEqual(loads, ['lazy']);
      assert.deepEqual(components.list(), [{ name: 'lazy', type: 'state.lazy-test', version: 'v1', capabilities: ['LAZY'] }]);
    } finally {
      await components.close();
    }
    // Registered for real now, so a second lazy registration of it changes nothing.
    registerLazyComponent('state.lazy-test', ['v1'], async () => loads.push('again'));
    const broken = fixture({ 'b.yaml': component('broken', 'state.broken-lazy-test') });
    await rejectsWith(initComponents(await loadResources([broken], ctx), recordingLogger()), /did not register version "v1"/);
    const again = await initComponents(await loadResources([fixture({ 'a.yaml': component('lazy', 'state.lazy-test') })], ctx), recordingLogger());
    await again.close();
    assert.deepEqual(loads, ['lazy']);
  });

  it('wraps factory errors and applies denied types and secret resolution', async () => {
    const seen: ComponentMetadata[] = [];
    registerComponent({
      type: 'state.failing-test',
      versions: ['v1'],
      kind: 'state',
      create: () => {
        throw new Error('boom');
      },
    });
    registerComponent({
      type: 'state.capture-test',
      versions: ['v1', 'v2'],
      kind: 'state',
      create: (meta) => {
        seen.push(meta);
        return new InMemoryStore();
      },
    });
    assert.throws(
      () => registerComponent({ type: 'state.capture-test', versions: ['v2'], kind: 'state', create: () => new InMemoryStore() }),
      /already registered/,
    );
    assert.throws(() => registerComponent({ type: 'pubsub.wrong-kind', versions: ['v1'], kind: 'state', create: () => new InMemoryStore() }), /does not belong/);

    const failing = fixture({ 'f.yaml': component('kaput', 'state.failing-test') });
    await rejectsWith(initComponents(await loadResources([failing], ctx), recordingLogger()), /f\.yaml: component "kaput": init failed: boom/);

    const dir = fixture({
      'a.yaml': component('denied', 'state.failing-test'),
      'b.yaml': component(
        'withSecret',
        'state.capture-test',
        '  metadata:\n  - {name: plain, value: p}\n  - {name: password, secretKeyRef: {name: db, key: pw}}\n',
      ),
    });
    const logger = recordingLogger();
    const components = await initComponents(await loadResources([dir], ctx), logger, {
      deniedTypes: ['State.Failing-Test'],
      resolveSecrets: async (c) => {
        const ref = c.metadata.find((m) => m.secretKeyRef)!.secretKeyRef!;
        return { password: `${ref.name}/${ref.key}-secret` };
      },
    });
    try {
      assert.deepEqual(
        components.list().map((c) => c.name),
        ['withSecret'],
      );
      assert.ok(logger.lines.some((l) => l.includes('component "denied"') && l.includes('denied')));
      assert.deepEqual(seen.at(-1), {
        name: 'withSecret',
        type: 'state.capture-test',
        version: 'v1',
        properties: { plain: 'p', password: 'db/pw-secret' },
      });
      assert.equal(metadataValue(seen.at(-1)!, 'PLAIN'), 'p');
      assert.equal(metadataValue(seen.at(-1)!, 'constructor'), undefined);
    } finally {
      await components.close();
    }
  });
});

describe('loadConfiguration', () => {
  it('returns defaults without --config', async () => {
    const config = await loadConfiguration([]);
    assert.equal(config.name, '');
    assert.equal(config.tracing, null);
    assert.equal(config.nameResolution, null);
    assert.equal(config.metrics.enabled, true);
    assert.deepEqual(config.accessControl, { defaultAction: 'allow', trustDomain: 'public', policies: [] });
    assert.deepEqual(config.httpPipeline, { handlers: [] });
  });

  it('parses the modelled fields case-insensitively and expands environment variables', async (t) => {
    process.env['PILLION_TEST_ZIPKIN'] = 'http://zipkin.invalid:9411/api/v2/spans';
    t.after(() => delete process.env['PILLION_TEST_ZIPKIN']);
    const dir = fixture({
      'config.yaml': `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: full}
spec:
  Tracing:
    samplingRate: 1
    zipkin: {endpointaddress: "\${PILLION_TEST_ZIPKIN}"}
    otel: {endpointAddress: "localhost:4317", protocol: grpc}
  nameresolution: {component: mdns, configuration: {selfRegister: true}}
  httpPipeline:
    handlers: [{name: upper, type: middleware.http.uppercase}]
  appHttpPipeline:
    handlers: [{NAME: limit, TYPE: middleware.http.ratelimit, version: v1}]
  features: [{name: HotReload, enabled: true}, {name: Other}]
  secrets:
    scopes: [{storeName: local, defaultAccess: Deny, allowedSecrets: [a]}]
  api:
    allowed: [{name: state, version: v1.0, protocol: http}]
  accessControl:
    defaultAction: deny
    policies: [{appId: caller, operations: [{name: /op/*, httpVerb: [GET], action: allow}]}]
  metrics:
    enabled: false
    latencyDistributionBuckets: [1, 5, "10"]
    http: {increasedCardinality: false, pathMatching: ["/orders/{id}"]}
    rules: [{name: dapr_http_server_request_count, labels: [{name: path, regex: {"orders": "^/orders/.+$"}}]}]
  metric: {enabled: true}
  logging: {apiLogging: {enabled: true, omitHealthChecks: true}}
  components: {deny: [bindings.smtp]}
  wasm: {strictSandbox: true}
`,
    });
    const config = await loadConfiguration([join(dir, 'config.yaml')]);
    assert.equal(config.name, 'full');
    assert.deepEqual(config.tracing, {
      samplingRate: '1',
      stdout: false,
      zipkin: { endpointAddress: 'http://zipkin.invalid:9411/api/v2/spans' },
      otel: { endpointAddress: 'localhost:4317', isSecure: true, protocol: 'grpc' },
    });
    assert.deepEqual(config.nameResolution, { component: 'mdns', version: '', configuration: { selfRegister: true } });
    assert.deepEqual(config.httpPipeline.handlers, [{ name: 'upper', type: 'middleware.http.uppercase', version: 'v1' }]);
    assert.deepEqual(config.appHttpPipeline.handlers, [{ name: 'limit', type: 'middleware.http.ratelimit', version: 'v1' }]);
    assert.equal(isFeatureEnabled(config, 'HotReload'), true);
    assert.equal(isFeatureEnabled(config, 'Other'), false);
    assert.deepEqual(config.secrets.scopes, [{ storeName: 'local', defaultAccess: 'deny', allowedSecrets: ['a'], deniedSecrets: [] }]);
    assert.deepEqual(config.api, { allowed: [{ name: 'state', version: 'v1.0', protocol: 'http' }], denied: [] });
    assert.equal(config.accessControl.defaultAction, 'deny');
    assert.equal(config.accessControl.trustDomain, 'public');
    assert.deepEqual(config.accessControl.policies[0]!.operations, [{ name: '/op/*', httpVerb: ['GET'], action: 'allow' }]);
    assert.equal(config.metrics.enabled, false, '`metrics` takes precedence over `metric`');
    assert.deepEqual(config.metrics.latencyDistributionBuckets, [1, 5, 10]);
    assert.deepEqual(config.metrics.http, { increasedCardinality: false, pathMatching: ['/orders/{id}'], excludeVerbs: false });
    assert.deepEqual(config.metrics.rules, [
      { name: 'dapr_http_server_request_count', labels: [{ name: 'path', regex: { orders: '^/orders/.+$' } }] },
    ]);
    assert.deepEqual(config.logging.apiLogging, { enabled: true, obfuscateURLs: false, omitHealthChecks: true });
    assert.deepEqual(config.components.deny, ['bindings.smtp']);
    assert.deepEqual(config.spec['wasm'], { strictSandbox: true });
  });

  it('merges several files, the later replacing whole top-level spec fields', async () => {
    const dir = fixture({
      'a.yaml': 'apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: base}\nspec:\n  tracing: {samplingRate: "0.5", stdout: true}\n  features: [{name: A, enabled: true}]\n',
      'b.yaml': 'apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: override}\nspec:\n  Tracing: {samplingRate: "1"}\n  api: {denied: [{name: state}]}\n',
    });
    const config = await loadConfiguration([join(dir, 'a.yaml'), join(dir, 'b.yaml')]);
    assert.equal(config.name, 'override');
    assert.deepEqual(config.tracing, { samplingRate: '1', stdout: false, otel: null, zipkin: null });
    assert.deepEqual(config.features, [{ name: 'A', enabled: true }]);
    assert.deepEqual(config.api.denied, [{ name: 'state', version: '', protocol: '' }]);
    assert.deepEqual(config.spec['tracing'], { samplingRate: '1' });
  });

  it('names the file for every error', async () => {
    const dir = fixture({
      'kind.yaml': component('notAConfig'),
      'syntax.yaml': 'apiVersion: dapr.io/v1alpha1\nkind: Configuration\nspec: {tracing: [\n',
      'two.yaml': 'apiVersion: dapr.io/v1alpha1\nkind: Configuration\n---\napiVersion: dapr.io/v1alpha1\nkind: Configuration\n',
      'field.yaml': 'apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\nspec: {features: {HotReload: true}}\n',
      'scopes.yaml':
        'apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\nspec: {secrets: {scopes: [{storeName: s}, {storeName: s}]}}\n',
    });
    const cases: [string, RegExp][] = [
      ['missing.yaml', /missing\.yaml: file does not exist/],
      ['kind.yaml', /kind\.yaml: expected kind Configuration \(apiVersion dapr\.io\/v1alpha1\), found kind "Component"/],
      ['syntax.yaml', /syntax\.yaml: invalid YAML/],
      ['two.yaml', /two\.yaml: expected one Configuration document, found 2/],
      ['field.yaml', /field\.yaml: configuration "c": spec\.features must be a list/],
      ['scopes.yaml', /scopes\.yaml: configuration "c": spec\.secrets\.scopes\[1\]: storeName "s" is repeated/],
    ];
    for (const [name, pattern] of cases) await rejectsWith(loadConfiguration([join(dir, name)]), pattern);
  });
});

describe('resiliency', () => {
  const policies = `apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: policies}
spec:
  policies:
    timeouts: {general: 5s, quick: 500ms, long: 1m30s, DefaultTimeoutPolicy: 7s}
    retries:
      retryForever: {policy: constant, duration: 2s}
      important: {Policy: Exponential, maxInterval: 15s, maxRetries: "10", matching: {httpStatusCodes: "500-599"}}
      DefaultAppRetryPolicy: {policy: constant, duration: 1s, maxRetries: 2}
    circuitBreakers:
      simpleCB: {maxRequests: 1, interval: 8s, timeout: 45s, trip: consecutiveFailures > 8}
  targets:
    apps:
      appB: {timeout: general, retry: important, circuitBreaker: simpleCB}
      appC: {timeout: quick}
    actors:
      myActor: {retry: retryForever, circuitBreaker: simpleCB, circuitBreakerScope: both}
    components:
      statestore: {outbound: {retry: retryForever}}
`;

  it('parses policies and targets', async () => {
    const dir = fixture({ 'r.yaml': policies });
    const [r] = (await loadResources([dir], ctx)).resiliency;
    assert.deepEqual(Object.fromEntries(r!.timeouts), { general: 5000, quick: 500, long: 90_000, DefaultTimeoutPolicy: 7000 });
    assert.deepEqual(r!.retries.get('retryForever'), {
      name: 'retryForever',
      policy: 'constant',
      durationMs: 2000,
      initialIntervalMs: 500,
      multiplier: 1.5,
      randomizationFactor: 0.5,
      maxIntervalMs: 60_000,
      maxElapsedTimeMs: 900_000,
      maxRetries: -1,
      matching: { httpStatusCodes: '', gRPCStatusCodes: '' },
    });
    const important = r!.retries.get('important')!;
    assert.equal(important.policy, 'exponential');
    assert.equal(important.maxIntervalMs, 15_000);
    assert.equal(important.maxRetries, 10);
    assert.equal(important.matching.httpStatusCodes, '500-599');
    assert.deepEqual(r!.circuitBreakers.get('simpleCB'), {
      name: 'simpleCB',
      spec: { maxRequests: 1, interval: '8s', timeout: '45s', trip: 'consecutiveFailures > 8' },
    });
    assert.deepEqual(r!.actors.get('myActor'), {
      timeout: '',
      retry: 'retryForever',
      circuitBreaker: 'simpleCB',
      circuitBreakerScope: 'both',
      circuitBreakerCacheSize: 0,
    });
    assert.deepEqual(r!.components.get('statestore')!.outbound, { timeout: '', retry: 'retryForever', circuitBreaker: '' });
  });

  it('resolves the policy for an app: its target, then the default policies', async () => {
    const dir = fixture({ 'r.yaml': policies });
    const { resiliency } = await loadResources([dir], ctx);
    const b = appPolicy(resiliency, 'appB');
    assert.equal(b.timeoutMs, 5000);
    assert.equal(b.retry?.name, 'important');
    assert.equal(b.circuitBreaker?.name, 'simpleCB');
    assert.deepEqual(
      { ...appPolicy(resiliency, 'appC'), retry: null },
      { timeoutMs: 500, retry: null, circuitBreaker: null },
      'a target without a retry gets none, not the default',
    );
    const other = appPolicy(resiliency, 'unlisted');
    assert.equal(other.timeoutMs, 7000);
    assert.equal(other.retry?.name, 'DefaultAppRetryPolicy');
    assert.equal(other.retry?.maxRetries, 2);
    assert.deepEqual(appPolicy([], 'anything'), { timeoutMs: 0, retry: null, circuitBreaker: null });
  });

  it('accepts references to policies in another Resiliency resource and rejects unknown ones', async () => {
    const shared = 'apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: shared}\nspec:\n  policies:\n    retries: {three: {maxRetries: 3}}\n';
    const user = 'apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: user}\nspec:\n  targets:\n    apps: {appD: {retry: three}}\n';
    const ok = await loadResources([fixture({ 'a.yaml': shared, 'b.yaml': user })], ctx);
    assert.equal(appPolicy(ok.resiliency, 'appD').retry?.maxRetries, 3);

    const dangling = user.replace('retry: three', 'retry: three, timeout: nope');
    await rejectsWith(
      loadResources([fixture({ 'a.yaml': shared, 'b.yaml': dangling })], ctx),
      /b\.yaml: resiliency "user": spec\.targets\.apps\.appD\.timeout references unknown timeout policy "nope"/,
    );
    const bad: [string, RegExp][] = [
      ['    timeouts: {t: fast}\n', /spec\.policies\.timeouts\.t: invalid duration "fast"/],
      ['    retries: {r: {policy: linear}}\n', /spec\.policies\.retries\.r\.policy must be constant or exponential/],
      ['    retries: {r: {maxRetries: many}}\n', /spec\.policies\.retries\.r\.maxRetries must be an integer/],
    ];
    for (const [policy, pattern] of bad) {
      const text = `apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: broken}\nspec:\n  policies:\n${policy}`;
      await rejectsWith(loadResources([fixture({ 'r.yaml': text })], ctx), pattern);
    }
  });

  it('parses Go durations', () => {
    const cases: [string, number][] = [
      ['0', 0],
      ['5s', 5000],
      ['500ms', 500],
      ['1m30s', 90_000],
      ['1h', 3_600_000],
      ['1.5s', 1500],
      ['.5m', 30_000],
      ['250us', 0.25],
      ['250µs', 0.25],
      ['100ns', 0.0001],
      ['-2s', -2000],
      ['+1s', 1000],
      ['1h2m3s4ms', 3_723_004],
    ];
    for (const [text, ms] of cases) assert.equal(parseGoDuration(text), ms, text);
    for (const text of ['', '5', 's', '1d', '5 s', '1.s2', '-', '1ss', '.s']) {
      assert.throws(() => parseGoDuration(text), /invalid duration/, text);
    }
  });
});
