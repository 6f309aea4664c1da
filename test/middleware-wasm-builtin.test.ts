import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Logger, LogLevel } from '../proxy/runtime/logger.js';
import { MemoryExchange, WasmLoadError, WasmMiddleware, type MemoryExchangeInit } from '../middleware-wasm/host/index.js';
import { eventually } from './support/eventually.js';

// The compiled test may run from an output dir that only links package.json; its real location is the root.
const PROJECT_ROOT = dirname(realpathSync(fileURLToPath(new URL('../../package.json', import.meta.url))));
const BUILTIN_DIR = join(PROJECT_ROOT, 'middleware-wasm', 'builtin');
const BUILTINS = ['apikey', 'ratelimit', 'routeralias', 'routerchecker', 'uppercase'] as const;
type Builtin = (typeof BUILTINS)[number];

/** Imports a built-in has beyond http_handler: the rate limiter needs a clock, which the ABI lacks. */
const EXTRA_IMPORTS: Partial<Record<Builtin, string[]>> = { ratelimit: ['wasi_snapshot_preview1.clock_time_get'] };

interface BuildScript {
  buildMiddleware(dir: string, options?: { outDir?: string }): Promise<string>;
}

// @types/node does not declare the WebAssembly global; these are the few members used here.
interface WasmGlobal {
  Module: { new (bytes: Uint8Array): object; imports(m: object): Array<{ module: string; name: string }> };
}
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WasmGlobal }).WebAssembly;

const wasm = new Map<Builtin, Uint8Array>();
let outDir: string;

before(async () => {
  const build = (await import(pathToFileURL(join(PROJECT_ROOT, 'scripts', 'build-middleware.mjs')).href)) as BuildScript;
  outDir = mkdtempSync(join(tmpdir(), 'pillion-wasm-builtin-'));
  for (const name of BUILTINS) {
    wasm.set(name, readFileSync(await build.buildMiddleware(join(BUILTIN_DIR, name), { outDir })));
  }
});
after(() => rmSync(outDir, { recursive: true, force: true }));

/** A logger that keeps what it is given. */
function recordingLogger(): Logger & { lines: Array<{ level: LogLevel; msg: string }> } {
  const lines: Array<{ level: LogLevel; msg: string }> = [];
  const write = (level: LogLevel) => (msg: string) => void lines.push({ level, msg });
  return { lines, enabled: () => true, debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

interface Loaded {
  middleware: WasmMiddleware;
  logger: ReturnType<typeof recordingLogger>;
}

/** Loads a built-in with `metadata` as its configuration, the JSON object of strings the host passes. */
async function load(name: Builtin, metadata: Record<string, string> | string = {}, strictSandbox = false): Promise<Loaded> {
  const logger = recordingLogger();
  const config = typeof metadata === 'string' ? metadata : JSON.stringify(metadata);
  const middleware = await WasmMiddleware.load(wasm.get(name)!, {
    name,
    guestConfig: new TextEncoder().encode(config),
    strictSandbox,
    logger,
  });
  return { middleware, logger };
}

interface Outcome {
  /** The middleware passed the request on (it answered otherwise). */
  passed: boolean;
  exchange: MemoryExchange;
}

function run(middleware: WasmMiddleware, init: MemoryExchangeInit = {}): Outcome {
  const exchange = new MemoryExchange(init);
  const request = middleware.handleRequest(exchange);
  // Read before handleResponse, which ends the request and lets the middleware reuse its object.
  const passed = request.next;
  if (passed) middleware.handleResponse(request);
  return { passed, exchange };
}

function responseHeader(exchange: MemoryExchange, name: string): string | undefined {
  const out: string[] = [];
  return exchange.responseHeaders.collectValues(name, out) > 0 ? out[0] : undefined;
}

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

/** Asserts the guest answered itself with `status`; returns the body as text. */
function assertAnswered({ passed, exchange }: Outcome, status: number): string {
  assert.equal(passed, false, 'the middleware answers instead of passing the request on');
  assert.equal(exchange.statusCode, status);
  return text(exchange.responseBody);
}

/** Asserts the built-in refuses to start with `metadata`: loading fails, quoting the reason the guest logged. */
async function assertRefusesToStart(name: Builtin, metadata: Record<string, string> | string, fragment: string): Promise<void> {
  const logger = recordingLogger();
  const config = typeof metadata === 'string' ? metadata : JSON.stringify(metadata);
  await assert.rejects(WasmMiddleware.load(wasm.get(name)!, { name, guestConfig: new TextEncoder().encode(config), logger }), (err: Error) => {
    assert.ok(err instanceof WasmLoadError, `${err.name}: ${err.message}`);
    assert.match(err.message, new RegExp(`${name}": the guest failed to start: .*the guest reported: ${name}: .*${fragment}`));
    return true;
  });
  assert.ok(logger.lines.some((line) => line.level === 'error' && line.msg.includes(fragment)), 'the reason is logged too');
}

describe('built-in middleware modules', () => {
  test('each imports only http_handler functions, the rate limiter also the WASI clock', () => {
    for (const name of BUILTINS) {
      const imports = WebAssemblyApi.Module.imports(new WebAssemblyApi.Module(wasm.get(name)!));
      const foreign = imports.filter((entry) => entry.module !== 'http_handler').map((entry) => `${entry.module}.${entry.name}`);
      assert.deepEqual(foreign, EXTRA_IMPORTS[name] ?? [], name);
    }
  });

  test('a configuration that is not a JSON object of strings stops a built-in from starting', async () => {
    // uppercase takes no configuration and reads none.
    for (const name of BUILTINS.filter((builtin) => builtin !== 'uppercase')) {
      await assertRefusesToStart(name, '{"rule": ["^/a$"]}', 'not a JSON object of strings');
    }
    await assertRefusesToStart('ratelimit', 'not json', 'not a JSON object of strings');
  });

  test('metadata names match ignoring case; JSON escapes in values are resolved', async () => {
    const { middleware } = await load('routerchecker', '{"RULE": "^\\/v1\\\\.\\u0030\\/[a-z]+$"}');
    assert.equal(run(middleware, { uri: '/v1.0/state' }).passed, true);
    assertAnswered(run(middleware, { uri: '/v1x0/state' }), 400);
  });
});

describe('uppercase (middleware.http.uppercase)', () => {
  let middleware: WasmMiddleware;
  before(async () => ({ middleware } = await load('uppercase')));

  test('upper-cases the request body and passes the request on', () => {
    const { passed, exchange } = run(middleware, { method: 'POST', requestBody: Buffer.from('hello, world 42!') });
    assert.equal(passed, true);
    assert.equal(text(exchange.requestBody), 'HELLO, WORLD 42!');
  });

  test('upper-cases a large body', () => {
    const body = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(60_000); // about 2 MiB
    const { exchange } = run(middleware, { method: 'POST', requestBody: Buffer.from(body) });
    assert.equal(text(exchange.requestBody), body.toUpperCase());
  });

  test('upper-cases unicode text, large bodies included', () => {
    const phrase = 'héllo wörld ñandú, αβγ δ, привет мир, emoji 😀 stays; ';
    for (const body of [phrase, phrase.repeat(20_000)]) {
      const { exchange } = run(middleware, { method: 'POST', requestBody: Buffer.from(body) });
      assert.equal(text(exchange.requestBody), body.toUpperCase());
    }
  });

  test('leaves an empty body empty', () => {
    const { passed, exchange } = run(middleware, { method: 'GET' });
    assert.equal(passed, true);
    assert.equal(exchange.requestBody.length, 0);
  });

  test('bodies of successive requests stay apart', () => {
    assert.equal(text(run(middleware, { requestBody: Buffer.from('first longer body') }).exchange.requestBody), 'FIRST LONGER BODY');
    assert.equal(text(run(middleware, { requestBody: Buffer.from('ab') }).exchange.requestBody), 'AB');
  });
});

describe('routeralias (middleware.http.routeralias)', () => {
  const routes = {
    '/mall/activity/info': '/v1.0/invoke/srv.default/method/mall/activity/info',
    '/hello/activity/{id}/info': '/v1.0/invoke/srv.default/method/hello/activity/info',
  };
  let middleware: WasmMiddleware;
  before(async () => ({ middleware } = await load('routeralias', { routes: JSON.stringify(routes) })));

  test('rewrites an alias to its target, keeping the query string', () => {
    const { passed, exchange } = run(middleware, { uri: '/mall/activity/info?id=123&name=kung+fu' });
    assert.equal(passed, true);
    assert.equal(exchange.uri, '/v1.0/invoke/srv.default/method/mall/activity/info?id=123&name=kung+fu');
  });

  test('rewrites an alias without a query', () => {
    assert.equal(run(middleware, { uri: '/mall/activity/info' }).exchange.uri, '/v1.0/invoke/srv.default/method/mall/activity/info');
  });

  test('adds path variables to the query', () => {
    assert.equal(
      run(middleware, { uri: '/hello/activity/a%20b/info?x=1' }).exchange.uri,
      '/v1.0/invoke/srv.default/method/hello/activity/info?x=1&id=a+b',
    );
  });

  test('leaves other paths alone, including near misses', () => {
    for (const uri of ['/v1.0/state/store', '/mall/activity/info/', '/mall/activity', '/hello/activity//info']) {
      const { passed, exchange } = run(middleware, { uri });
      assert.equal(passed, true);
      assert.equal(exchange.uri, uri);
    }
  });

  test('reads the older form, one metadata entry per alias', async () => {
    const { middleware: legacy, logger } = await load('routeralias', { '/old': '/v1.0/invoke/app/method/new' });
    assert.equal(run(legacy, { uri: '/old?q=1' }).exchange.uri, '/v1.0/invoke/app/method/new?q=1');
    assert.ok(logger.lines.some((line) => line.level === 'warn' && line.msg.includes('deprecated')));
  });

  test('refuses routes that are not JSON, or variables it cannot match', async () => {
    await assertRefusesToStart('routeralias', { routes: '/a: /b' }, 'routes must be a JSON object');
    await assertRefusesToStart('routeralias', { routes: JSON.stringify({ '/a/{id:[0-9]+}': '/b' }) }, 'whole-segment variables');
    await assertRefusesToStart('routeralias', { routes: JSON.stringify({ 'a': '/b' }) }, 'the alias must be a path');
  });
});

describe('routerchecker (middleware.http.routerchecker)', () => {
  let middleware: WasmMiddleware;
  before(async () => ({ middleware } = await load('routerchecker', { rule: '^[A-Za-z0-9/._-]+$' })));

  test("passes Dapr's documented PASS cases", () => {
    for (const method of ['method', '01', 'METHOD', 'user/info', 'user_info', 'user-info']) {
      assert.equal(run(middleware, { uri: `/v1.0/invoke/demo.default/method/${method}` }).passed, true, method);
    }
    assert.equal(run(middleware, { uri: '/v1.0/invoke/demo/method/method' }).passed, true);
  });

  test("refuses Dapr's documented FAIL cases with 400 invalid router", () => {
    for (const tail of ['cat%20password', '%22%20AND%204210=4210%20limit%201', '%22$(curl']) {
      const outcome = run(middleware, { uri: `/v1.0/invoke/demo.default/method/${tail}` });
      assert.equal(assertAnswered(outcome, 400), 'invalid router', tail);
      assert.equal(responseHeader(outcome.exchange, 'content-type'), 'text/plain; charset=utf-8');
    }
  });

  test('matches the query too, as daprd does, and refuses malformed escapes', () => {
    assertAnswered(run(middleware, { uri: '/v1.0/state/store?key=a' }), 400);
    assert.equal(run(middleware, { uri: '/v1.0/state/store?' }).passed, true);
    assertAnswered(run(middleware, { uri: '/v1.0/state/%zz' }), 400);
  });

  test('supports the documented regex subset', async () => {
    const cases: Array<[rule: string, passes: string[], fails: string[]]> = [
      ['/v1\\.0/', ['/v1.0/state', '/x/v1.0/'], ['/v1x0/state']],
      ['^/orders/\\d+$', ['/orders/42'], ['/orders/', '/orders/4a']],
      ['^/a/[^/]*/c?$', ['/a//', '/a/bb/c', '/a/b/'], ['/a/b/d', '/a/b']],
      ['^/x.*?y$', ['/xy', '/x/any/y'], ['/x/any/z']],
      ['^/[\\d\\-a-c]+$', ['/1-a', '/cab'], ['/d']],
      ['^/\\S+\\s?$', ['/a', '/a%20'], ['/a%20%20']],
      ['^/[]x]+$', ['/]x]'], ['/y']],
      ['', ['/anything'], []],
      // Characters past ASCII, one of them outside the BMP (two UTF-16 units, one character to the matcher).
      ['^/caf[éè]\\.\\S$', ['/caf%C3%A9.%F0%9F%98%80', '/caf%C3%A8.x'], ['/caf%C3%AA.x', '/caf%C3%A9.%F0%9F%98%80x']],
      // More items than one 64-bit state word holds: a repeat and skippable runs across the word boundary.
      [`^/${'a'.repeat(70)}b*c$`, [`/${'a'.repeat(70)}c`, `/${'a'.repeat(70)}bbbc`], [`/${'a'.repeat(69)}c`, `/${'a'.repeat(70)}bd`]],
      [`${'x?'.repeat(66)}z`, ['/z', `/${'x'.repeat(66)}z`, '/xxz'], ['/y', '/yx']],
    ];
    for (const [rule, passes, fails] of cases) {
      const { middleware: checker } = await load('routerchecker', { rule });
      for (const uri of passes) assert.equal(run(checker, { uri }).passed, true, `${rule} should pass ${uri}`);
      for (const uri of fails) assertAnswered(run(checker, { uri }), 400);
    }
  });

  test('a rule outside the subset stops it from starting', async () => {
    for (const rule of ['^/(a|b)$', '^/a{2}$', '^/a**$', '/a^b', '^/\\bword', '^/[[:alpha:]]$', '^/[a-', '*a']) {
      await assertRefusesToStart('routerchecker', { rule }, 'is not supported');
    }
  });

  test('without a rule every request passes, with a warning', async () => {
    const { middleware: open, logger } = await load('routerchecker');
    assert.equal(run(open, { uri: '/any thing' }).passed, true);
    assert.ok(logger.lines.some((line) => line.level === 'warn' && line.msg.includes('no rule')));
  });
});

describe('ratelimit (middleware.http.ratelimit)', () => {
  test('admits a burst of maxRequestsPerSecond, then 429 until the bucket refills (sandbox clock)', async () => {
    // The strict sandbox's monotonic clock advances 1 ms per read, and the module reads it once per request:
    // at 10/s the 10 first requests pass, and the next is admitted 100 ms after the first, at request 101.
    const { middleware } = await load('ratelimit', { maxRequestsPerSecond: '10' }, true);
    const admitted: number[] = [];
    for (let i = 1; i <= 101; i++) {
      const outcome = run(middleware, { sourceAddr: '10.0.0.1:5000' });
      if (outcome.passed) admitted.push(i);
      else {
        assert.equal(assertAnswered(outcome, 429), 'You have reached maximum request limit.');
        assert.equal(responseHeader(outcome.exchange, 'content-type'), 'text/plain; charset=utf-8');
      }
    }
    assert.deepEqual(admitted, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 101]);
  });

  test('limits each client apart: the connection address, or X-Forwarded-For / X-Real-IP', async () => {
    const { middleware } = await load('ratelimit', { MaxRequestsPerSecond: '2' }, true);
    const passes = (init: MemoryExchangeInit): boolean => run(middleware, init).passed;
    assert.deepEqual([1, 2, 3].map(() => passes({ sourceAddr: '10.0.0.1:1' })), [true, true, false]);
    // Another port of the same address is the same client; another address is not.
    assert.equal(passes({ sourceAddr: '10.0.0.1:2' }), false);
    assert.equal(passes({ sourceAddr: '[::1]:2' }), true);
    // Behind a proxy the last forwarded-for entry names the client.
    const viaProxy = (forwarded: string): MemoryExchangeInit => ({ sourceAddr: '10.0.0.1:1', requestHeaders: ['X-Forwarded-For', forwarded] });
    assert.deepEqual([1, 2, 3].map(() => passes(viaProxy('1.1.1.1, 2.2.2.2'))), [true, true, false]);
    assert.equal(passes(viaProxy('2.2.2.2, 3.3.3.3')), true);
    assert.equal(passes({ sourceAddr: '10.0.0.1:1', requestHeaders: ['X-Real-IP', '4.4.4.4'] }), true);
  });

  test('admits again once time has passed (real clock)', async () => {
    const { middleware } = await load('ratelimit', { maxRequestsPerSecond: '5' });
    const passes = (): boolean => run(middleware, { sourceAddr: '10.9.9.9:1' }).passed;
    const burst = Array.from({ length: 6 }, passes);
    assert.deepEqual(burst, [true, true, true, true, true, false]);
    // One request's worth refills in 200 ms at 5/s.
    await eventually(2000, async () => assert.equal(passes(), true));
  });

  test('defaults to 100 per second', async () => {
    // A burst of 100, plus one more per 10 ms of sandbox time (1 ms per request): the first refusal is the
    // 112th request, where 10/s would refuse the 11th.
    const { middleware } = await load('ratelimit', {}, true);
    const results = Array.from({ length: 120 }, () => run(middleware).passed);
    assert.equal(results.indexOf(false) + 1, 112);
  });

  test('a rate that is not a positive number stops it from starting', async () => {
    for (const rate of ['abc', '0', '-5', '10x', 'Infinity']) {
      await assertRefusesToStart('ratelimit', { maxRequestsPerSecond: rate }, 'maxRequestsPerSecond must be a positive number');
    }
  });
});

describe('apikey', () => {
  let middleware: WasmMiddleware;
  before(async () => ({ middleware } = await load('apikey', { keys: ' alpha-key , beta-key ,' })));

  test('passes a request carrying one of the keys', () => {
    for (const key of ['alpha-key', 'beta-key']) {
      assert.equal(run(middleware, { requestHeaders: ['X-Api-Key', key] }).passed, true, key);
    }
  });

  test('answers 401 with a JSON error when the key is missing or wrong', () => {
    for (const headers of [[], ['x-api-key', 'alpha'], ['x-api-key', 'alpha-key2'], ['x-api-key', ''], ['authorization', 'alpha-key']]) {
      const outcome = run(middleware, { requestHeaders: headers });
      const body = JSON.parse(assertAnswered(outcome, 401)) as { errorCode: string; message: string };
      assert.equal(body.errorCode, 'ERR_UNAUTHORIZED');
      assert.match(body.message, /x-api-key/);
      assert.equal(responseHeader(outcome.exchange, 'content-type'), 'application/json');
    }
  });

  test('reads the key from headerName', async () => {
    const { middleware: custom } = await load('apikey', { headerName: 'X-Tenant-Key', keys: 'k1' });
    assert.equal(run(custom, { requestHeaders: ['x-tenant-key', 'k1'] }).passed, true);
    assertAnswered(run(custom, { requestHeaders: ['x-api-key', 'k1'] }), 401);
  });

  test('does not start without keys, or with an empty headerName', async () => {
    for (const metadata of [{}, { keys: ' , ' }] as Array<Record<string, string>>) {
      await assertRefusesToStart('apikey', metadata, 'no API key is configured');
    }
    await assertRefusesToStart('apikey', { keys: 'k1', headerName: ' ' }, 'headerName must not be empty');
  });
});
