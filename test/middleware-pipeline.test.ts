import assert from 'node:assert/strict';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startApp, type RecordedRequest, type TestApp } from './support/apps.js';
import { eventually } from './support/eventually.js';
import { closeHttpAgent, http, json, type HttpResult } from './support/http.js';
import { compileFixture, logLines, PipelineWorkspace, wasmStage, type Pipelines, type Stage } from './support/middleware-sidecar.js';
import type { ComponentSpec } from './support/resources.js';
import type { SidecarProcess } from './support/sidecar.js';
import { HTTPExtension_Verb, InvokeResponseSchema } from '../gen/proto/dapr/proto/common/v1/common_pb.js';
import { formatRemoteAddress } from '../proxy/http/remote-address.js';
import { PipelineExchange } from '../proxy/middleware/exchange.js';
import { InvokeServiceRequestSchema } from '../gen/proto/dapr/proto/runtime/v1/invoke_pb.js';

const workspace = new PipelineWorkspace();
const apps: TestApp[] = [];

after(async () => {
  await workspace.remove();
  await Promise.all(apps.map((app) => app.close()));
  closeHttpAgent();
});

let ids = 0;
/** App ids unique to this run, so sidecars of parallel runs never resolve each other. */
const uniqueId = (what: string): string => `pipeline-${what}-${process.pid}-${++ids}`;

/**
 * Header text as node:http carries it: UTF-8 bytes, one latin1 character each. Bodies sent with such headers must be
 * Buffers: node:http writes a string body in one piece with the head, UTF-8 encoding the head's latin1 too.
 */
const wire = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');
const unwire = (value: string | string[] | undefined): string => Buffer.from(String(value), 'latin1').toString('utf8');

const APP_UNICODE = 'réponse de l’app ✓ 日本語';

/**
 * The app behind the sidecars: `/status/<code>` answers that status with "not here", `/headers-app` adds
 * headers for the response side of the header guest to work on, and everything else echoes the body.
 */
function serveApp(req: RecordedRequest, res: ServerResponse): void {
  if (req.url.startsWith('/status/')) {
    res.writeHead(Number(req.url.slice('/status/'.length)), { 'content-type': 'text/plain' });
    res.end('not here');
    return;
  }
  if (req.url === '/dapr/subscribe') {
    res.writeHead(404);
    res.end();
    return;
  }
  if (req.url.startsWith('/headers-app/many')) {
    res.setHeader('x-app-multi', Array.from({ length: 50 }, (_, i) => `a${i}`));
    for (let i = 0; i < 100; i++) res.setHeader(`x-app-h-${i}`, `value ${i}`);
  }
  if (req.url.startsWith('/headers-app')) {
    res.setHeader('x-app-remove', 'please');
    res.setHeader('x-app-replace', 'app');
    res.setHeader('x-app-unicode', wire(APP_UNICODE));
  }
  res.setHeader('content-type', req.headers['content-type'] ?? 'application/octet-stream');
  res.writeHead(200);
  res.end(req.body);
}

async function newApp(handler = serveApp): Promise<TestApp> {
  const app = await startApp(handler);
  apps.push(app);
  return app;
}

/** What the app received on `path` (path and query, as sent to it). */
function received(app: TestApp, path: string): RecordedRequest[] {
  return app.requests.filter((r) => r.url === path);
}

/** Every value of `name` in the order it was on the wire. */
function rawValues(request: RecordedRequest, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    if (request.rawHeaders[i]!.toLowerCase() === name) values.push(request.rawHeaders[i + 1]!);
  }
  return values;
}

/** What the app received apart from the sidecar's subscription discovery. */
function appCalls(app: TestApp): RecordedRequest[] {
  return app.requests.filter((r) => r.url !== '/dapr/subscribe');
}

/** Whether the sidecar logged a line matching `pattern` (matched against `<level> <message>`). */
function logged(sidecar: SidecarProcess, pattern: RegExp): boolean {
  return logLines(sidecar.output()).some((line) => pattern.test(line));
}

/** `http`, failing after `ms` instead of waiting for the server's idle timeout when it never answers. */
function httpWithin(ms: number, ...args: Parameters<typeof http>): Promise<HttpResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([http(...args), timeout]).finally(() => clearTimeout(timer));
}

function assertDaprError(res: HttpResult, status: number, errorCode: string, message: RegExp): void {
  assert.equal(res.status, status, res.body.toString());
  assert.match(String(res.headers['content-type']), /application\/json/);
  const body = json(res) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['errorCode', 'message']);
  assert.equal(body['errorCode'], errorCode);
  assert.match(String(body['message']), message);
}

/** A sidecar in front of `app` whose API pipeline is the given stages, in order. */
async function apiPipelineSidecar(
  what: string,
  app: TestApp | null,
  stages: readonly Stage[],
  args: string[] = [],
): Promise<{ sidecar: SidecarProcess; appId: string }> {
  const appId = uniqueId(what);
  const sidecar = await workspace.start({
    appId,
    ...(app === null ? {} : { appPort: app.port }),
    components: stages.map((s) => s.component),
    // No handlers at all, not an empty list: the sanity check runs without any pipeline.
    ...(stages.length === 0 ? {} : { api: stages.map((s) => s.handler) }),
    args,
  });
  return { sidecar, appId };
}

/** A guest fixture compiled and written to the workspace: its file:// URL. */
async function guest(fixture: string, replace: Record<string, string> = {}): Promise<string> {
  return workspace.guest(`${fixture.replace(/[/.]/g, '-')}-${++ids}`, await compileFixture(fixture, replace));
}

describe('no pipeline configured', () => {
  let app: TestApp;
  let sidecar: SidecarProcess;
  let appId: string;
  before(async () => {
    app = await newApp();
    ({ sidecar, appId } = await apiPipelineSidecar('none', app, []));
  });

  it('requests reach the app and come back untouched', async () => {
    const unicode = 'a ünïcödé ✓ 日本 z';
    const res = await http(sidecar.url(`/v1.0/invoke/${appId}/method/plain?x=1&y=a%20b`), {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'x-unicode-in': wire(unicode), 'x-multi': ['1', '2'] },
      body: Buffer.from('hello'),
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'hello');
    assert.equal(res.headers['x-seen-uri'], undefined);
    const [seen] = received(app, '/plain?x=1&y=a%20b');
    assert.ok(seen);
    assert.equal(unwire(seen.headers['x-unicode-in']), unicode);
    assert.deepEqual(rawValues(seen, 'x-multi'), ['1', '2']);
  });

  it('a UTF-8 header value starting or ending with a non-ASCII character reaches the app intact', { todo: 'uWebSockets.js trims bytes >= 0x80 off both ends of a header value' }, async () => {
    const unicode = 'ünïcödé ✓ 日本';
    const res = await http(sidecar.url(`/v1.0/invoke/${appId}/method/unicode-edges`), { headers: { 'x-unicode-in': wire(unicode) } });
    assert.equal(res.status, 200);
    assert.equal(unwire(received(app, '/unicode-edges')[0]?.headers['x-unicode-in']), unicode);
  });
});

describe('API pipeline: the request line', () => {
  let app: TestApp;
  let sidecar: SidecarProcess;
  let appId: string;
  before(async () => {
    app = await newApp();
    ({ sidecar, appId } = await apiPipelineSidecar('line', app, [wasmStage('line', await guest('pipeline/request-line.wat'))]));
  });

  it('method, URI with its query, protocol version and source address as the guest sees them', async () => {
    const path = `/v1.0/invoke/${appId}/method/line?q=a%20b&r=1`;
    const res = await http(sidecar.url(path), { method: 'PATCH', body: 'x' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-seen-method'], 'PATCH');
    assert.equal(res.headers['x-seen-uri'], path);
    assert.equal(res.headers['x-seen-proto'], 'HTTP/1.1');
    // uWebSockets.js does not expose the client's port, so the front reports the address with port 0.
    assert.match(String(res.headers['x-seen-source']), /^127\.0\.0\.1:\d+$/);
    const [seen] = received(app, '/line?q=a%20b&r=1');
    assert.ok(seen, 'the request went on to the app');
    assert.equal(seen.headers['x-seen-uri'], path, 'request headers set by the guest reach the app');
  });

  it('a rewritten method and URI (with query) are what the app receives', async () => {
    const res = await http(sidecar.url(`/v1.0/invoke/${appId}/method/original`), {
      headers: { 'x-set-method': 'PUT', 'x-set-uri': `/v1.0/invoke/${appId}/method/rewritten?to=new%20place` },
    });
    assert.equal(res.status, 200);
    assert.equal(received(app, '/original').length, 0);
    const [seen] = received(app, '/rewritten?to=new%20place');
    assert.ok(seen);
    assert.equal(seen.method, 'PUT');
    assert.equal(seen.headers['x-seen-method'], 'GET');
  });

  it('a stage can rewrite the path to another API: routing happens after the chain', async () => {
    const res = await http(sidecar.url(`/v1.0/invoke/${appId}/method/never`), { headers: { 'x-set-uri': '/v1.0/metadata' } });
    assert.equal(res.status, 200);
    assert.equal((json(res) as { id: string }).id, appId);
    assert.equal(received(app, '/never').length, 0);
  });
});

describe('API pipeline: the client address from its bytes', () => {
  it('IPv4, an IPv4 client of a dual-stack socket, and IPv6, clients taking turns', () => {
    const mapped = (a: number, b: number, c: number, d: number): Uint8Array => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, a, b, c, d]);
    const loopback6 = Uint8Array.from([...new Array<number>(15).fill(0), 1]);
    const documentation6 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd, 0x00, 0x0f]);
    for (let round = 0; round < 2; round++) {
      assert.equal(formatRemoteAddress(Uint8Array.from([127, 0, 0, 1])), '127.0.0.1:0');
      assert.equal(formatRemoteAddress(Uint8Array.from([10, 200, 3, 255])), '10.200.3.255:0');
      assert.equal(formatRemoteAddress(mapped(127, 0, 0, 2)), '127.0.0.2:0');
      assert.equal(formatRemoteAddress(mapped(127, 0, 0, 2)), '127.0.0.2:0');
      assert.equal(formatRemoteAddress(loopback6), '[0000:0000:0000:0000:0000:0000:0000:0001]:0');
      assert.equal(formatRemoteAddress(documentation6), '[2001:0db8:0000:0000:0000:0000:abcd:000f]:0');
      assert.equal(formatRemoteAddress(Uint8Array.from([127, 0, 0, 1])), '127.0.0.1:0');
    }
  });
});

describe('pipelines: the answer as stages see it', () => {
  class TestExchange extends PipelineExchange {
    readonly sourceAddr = '';
  }
  const answer = ['Content-Type', 'text/plain', 'X-App', 'yes'];
  const exchange = (): TestExchange => new TestExchange('GET', '/', [], new Uint8Array(0));
  const values = (headers: PipelineExchange['responseHeaders'], name: string): string[] => {
    const out: string[] = [];
    return out.slice(0, headers.collectValues(name, out));
  };

  it('goes out as the handler gave it when no stage touched it, even after a stage read it', () => {
    const untouched = exchange();
    untouched.takeAnswer(200, answer, new Uint8Array(0));
    assert.equal(untouched.answerHeaders(), answer, 'the same list, not a copy');

    const readEarly = exchange();
    assert.deepEqual(values(readEarly.responseHeaders, 'x-app'), [], 'nothing to read before the answer');
    readEarly.takeAnswer(200, answer, new Uint8Array(0));
    assert.deepEqual(values(readEarly.responseHeaders, 'x-app'), ['yes'], 'names read lower-case after it');
    assert.equal(readEarly.answerHeaders(), answer);
  });

  it('keeps what a stage set before the answer unless the handler sent the same name', () => {
    const early = exchange();
    early.responseHeaders.set('x-early', 'kept');
    early.responseHeaders.set('x-app', 'replaced by the handler');
    early.takeAnswer(201, answer, new Uint8Array(0));
    assert.deepEqual(values(early.responseHeaders, 'x-early'), ['kept']);
    assert.deepEqual(values(early.responseHeaders, 'x-app'), ['yes']);
    assert.deepEqual(early.answerHeaders(), ['content-type', 'text/plain', 'x-app', 'yes', 'x-early', 'kept']);
  });
});

describe('API pipeline: configuration, logging and features', () => {
  const config = '{"environment":"production","ünï":"✓"}';
  let configured: SidecarProcess;
  let logging: SidecarProcess;
  let features: SidecarProcess;
  before(async () => {
    [configured, logging, features] = await Promise.all([
      apiPipelineSidecar('config', null, [wasmStage('config', await guest('config.wat'), { guestConfig: config })]),
      apiPipelineSidecar('log', null, [wasmStage('logger', await guest('log.wat'))]),
      apiPipelineSidecar('features', null, [wasmStage('features', await guest('features.wat'))]),
    ]).then((started) => started.map((s) => s.sidecar));
  });

  it('get_config returns the component\'s guestConfig', async () => {
    const res = await http(configured.url('/v1.0/healthz'));
    assert.equal(res.status, 200);
    assert.equal(res.body.toString('utf8'), config);
  });

  it('guest log lines show in the sidecar output at the levels the sidecar logs', async () => {
    const res = await http(logging.url('/v1.0/healthz'));
    assert.deepEqual([...res.body], [0, 1, 1, 1, 0], 'log_enabled: info and up');
    await eventually(2000, async () => {
      for (const level of ['info', 'warn', 'error']) {
        assert.match(logging.output(), new RegExp(`level=${level} msg="${level} message" scope=pillion\\.middleware\\.http\\.wasm/logger`));
      }
    });
    assert.doesNotMatch(logging.output(), /debug message|none message/);
  });

  it('enable_features grants buffer_request and buffer_response, never trailers', async () => {
    const res = await http(features.url('/v1.0/healthz'));
    assert.equal(res.body.readUInt32LE(0), 1, 'enabled at start-up');
    assert.equal(res.body.readUInt32LE(4), 3, 'asked for all three');
  });
});

describe('API pipeline: headers', () => {
  let app: TestApp;
  let sidecar: SidecarProcess;
  let appId: string;
  before(async () => {
    app = await newApp();
    ({ sidecar, appId } = await apiPipelineSidecar('headers', app, [wasmStage('headers', await guest('pipeline/headers.wat'))]));
  });

  it('get/set/add/remove on both sides, a header repeated 40 times, UTF-8 values both ways', async () => {
    const multi = Array.from({ length: 40 }, (_, i) => `m${i}`);
    const unicode = 'x 日本語のヘッダー ✓ ünï y';
    const res = await http(sidecar.url(`/v1.0/invoke/${appId}/method/headers-app/1`), {
      headers: { 'x-multi': multi, 'x-gone': 'bye', 'x-unicode-in': wire(unicode), 'x-set': 'before' },
    });
    assert.equal(res.status, 200);

    const [seen] = received(app, '/headers-app/1');
    assert.ok(seen);
    assert.deepEqual(rawValues(seen, 'x-multi'), [...multi, 'added']);
    assert.deepEqual(rawValues(seen, 'x-set'), ['one']);
    assert.deepEqual(rawValues(seen, 'x-gone'), []);
    assert.equal(unwire(seen.headers['x-unicode-out']), 'héllo wörld ✓ 日本');
    assert.equal(unwire(seen.headers['x-unicode-back']), unicode, 'the guest read the UTF-8 value intact');

    assert.equal(res.headers['x-multi-count'], '40');
    // host, connection, x-multi, x-gone, x-unicode-in, x-set
    assert.equal(res.headers['x-name-count'], '6');
    assert.equal(res.headers['x-resp-multi'], Array.from({ length: 50 }, (_, i) => `v${i}`).join(', '));
    assert.equal(res.headers['x-app-remove'], undefined);
    assert.equal(res.headers['x-app-replace'], 'guest');
    assert.equal(unwire(res.headers['x-resp-unicode']), 'ünïcödé ✓');
    assert.equal(unwire(res.headers['x-unicode-back']), unicode, 'set before the next handler, kept after');
    assert.equal(unwire(res.headers['x-app-unicode']), APP_UNICODE);
    assert.equal(res.headers['x-app-unicode-len'], String(Buffer.byteLength(APP_UNICODE)), 'the guest read the app\'s UTF-8 value');
  });

  it('an answer with a header repeated 50 times and 100 distinct headers passes the guest whole', async () => {
    const res = await http(sidecar.url(`/v1.0/invoke/${appId}/method/headers-app/many`));
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-app-multi-count'], '50');
    assert.equal(res.headers['x-app-multi'], Array.from({ length: 50 }, (_, i) => `a${i}`).join(', '));
    for (let i = 0; i < 100; i++) assert.equal(res.headers[`x-app-h-${i}`], `value ${i}`);
    const names = Number(res.headers['x-resp-name-count']);
    assert.ok(names >= 104, `the guest saw ${names} response header names`);
  });

  for (const [label, headers] of [
    ['a request header repeated 50 times', { 'x-multi': Array.from({ length: 50 }, (_, i) => `m${i}`) }],
    ['100 distinct request headers', Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`x-distinct-${i}`, `value ${i}`]))],
  ] as const) {
    it(`${label} reach the guest and the app`, { todo: 'uWebSockets.js drops requests of more than 48 header lines without an answer' }, async () => {
      const res = await httpWithin(2000, sidecar.url(`/v1.0/invoke/${appId}/method/headers-app/in`), { headers });
      assert.equal(res.status, 200);
      assert.ok(received(app, '/headers-app/in').length > 0);
    });
  }
});

describe('API pipeline: large bodies with buffering', () => {
  let app: TestApp;
  let whole: { sidecar: SidecarProcess; appId: string };
  let streamed: { sidecar: SidecarProcess; appId: string };
  before(async () => {
    app = await newApp();
    const url = await guest('pipeline/body-transform.wat');
    const args = ['--max-body-size', '16Mi'];
    [whole, streamed] = await Promise.all([
      apiPipelineSidecar('body-whole', app, [wasmStage('body', url)], args),
      apiPipelineSidecar('body-stream', app, [wasmStage('body', url, { guestConfig: 'stream' })], args),
    ]);
  });

  const pattern = (size: number): Buffer => {
    const body = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) body[i] = (i * 7 + (i >> 11)) & 0xff;
    return body;
  };
  const xor = (body: Buffer): Buffer => body.map((b) => b ^ 0x5a) as Buffer;
  const increment = (body: Buffer): Buffer => body.map((b) => (b + 1) & 0xff) as Buffer;

  async function roundTrip(target: { sidecar: SidecarProcess; appId: string }, size: number): Promise<void> {
    const body = pattern(size);
    const path = `/body-${size}-${++ids}`;
    const res = await http(target.sidecar.url(`/v1.0/invoke/${target.appId}/method${path}`), {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body,
    });
    assert.equal(res.status, 200);
    const [seen] = received(app, path);
    assert.ok(seen);
    assert.equal(seen.body.length, size, 'the app got the whole transformed body');
    assert.ok(seen.body.equals(xor(body)), 'the app got the request body transformed byte for byte');
    assert.equal(res.body.length, size);
    assert.ok(res.body.equals(increment(xor(body))), 'the client got the response body transformed byte for byte');
  }

  for (const size of [0, 1000, 1024 * 1024, 4 * 1024 * 1024]) {
    it(`${size} bytes read whole and written back at once`, () => roundTrip(whole, size));
  }

  it('a guest writing each chunk back as it reads it (a streaming filter) transforms the whole body', () =>
    roundTrip(streamed, 1024 * 1024),
  );
});

describe('API pipeline: short-circuit', () => {
  let app: TestApp;
  let sidecar: SidecarProcess;
  let appId: string;
  before(async () => {
    app = await newApp();
    const stages = [wasmStage('stamp', await guest('stamp.wat', { VERSION: 'a' })), wasmStage('deny', await guest('short-circuit.wat'))];
    ({ sidecar, appId } = await apiPipelineSidecar('deny', app, stages, ['--max-body-size', '64Ki']));
  });

  it('the guest\'s status, headers and body reach the client, the app sees nothing, earlier stages see the answer', async () => {
    const res = await http(sidecar.url(`/v1.0/invoke/${appId}/method/secret`), { method: 'POST', body: 'x'.repeat(10_000) });
    assert.equal(res.status, 403);
    assert.equal(res.headers['content-type'], 'text/plain');
    assert.equal(res.body.toString(), 'denied!');
    assert.equal(res.headers['x-version'], 'a', 'the stage before ran handle_response');
    assert.deepEqual(appCalls(app), []);
  });

  it('a body over the size limit is refused before the chain, and the sidecar keeps serving', async () => {
    const res = await http(sidecar.url(`/v1.0/invoke/${appId}/method/secret`), { method: 'POST', body: Buffer.alloc(100 * 1024) });
    assertDaprError(res, 413, 'ERR_BODY_TOO_LARGE', /exceeds the limit of 65536 bytes/);
    assert.equal(res.headers['x-version'], undefined);
    const next = await http(sidecar.url(`/v1.0/invoke/${appId}/method/secret`));
    assert.equal(next.status, 403);
    assert.deepEqual(appCalls(app), []);
  });
});

describe('API pipeline: the response path', () => {
  let app: TestApp;
  let rewriting: { sidecar: SidecarProcess; appId: string };
  let late: { sidecar: SidecarProcess; appId: string };
  let teapot: SidecarProcess;
  let invalid: SidecarProcess;
  let informational: SidecarProcess;
  before(async () => {
    app = await newApp();
    const status = await guest('pipeline/status.wat');
    let answering: { sidecar: SidecarProcess }[];
    [rewriting, late, ...answering] = await Promise.all([
      apiPipelineSidecar('rewrite', app, [wasmStage('rewrite', await guest('response.wat'))]),
      apiPipelineSidecar('late', app, [wasmStage('late', await guest('pipeline/late-write.wat'))]),
      apiPipelineSidecar('teapot', null, [wasmStage('teapot', status, { guestConfig: '418' })]),
      apiPipelineSidecar('invalid', null, [wasmStage('invalid', status, { guestConfig: '1000' })]),
      apiPipelineSidecar('informational', null, [wasmStage('informational', status, { guestConfig: '100' })]),
    ]);
    [teapot, invalid, informational] = answering.map((s) => s.sidecar);
  });

  it('handle_response rewrites the status and wraps the buffered body', async () => {
    const missing = await http(rewriting.sidecar.url(`/v1.0/invoke/${rewriting.appId}/method/status/404`));
    assert.equal(missing.status, 410);
    assert.equal(missing.body.toString(), 'wrapped:not here');
    assert.equal(missing.headers['x-error'], '0');
    const found = await http(rewriting.sidecar.url(`/v1.0/invoke/${rewriting.appId}/method/found`), { method: 'POST', body: 'yes' });
    assert.equal(found.status, 200);
    assert.equal(found.body.toString(), 'wrapped:yes');
  });

  it('a status the guest sets by itself reaches the client', async () => {
    const res = await http(teapot.url('/v1.0/healthz'));
    assert.equal(res.status, 418);
    assert.equal(res.body.toString(), 'status');
  });

  it('an invalid status fails the request with 500 in Dapr\'s error shape', async () => {
    assertDaprError(await http(invalid.url('/v1.0/healthz')), 500, 'ERR_INTERNAL', /invalid status 1000/);
  });

  it('an informational (1xx) status as the final answer is a 500, not a response the client cannot parse', async () => {
    assertDaprError(await httpWithin(2000, informational.url('/v1.0/healthz')), 500, 'ERR_INTERNAL', /status 100/);
  });

  it('changing the response after the app answered without buffer_response is a 500, not a half-changed answer', async () => {
    const res = await http(late.sidecar.url(`/v1.0/invoke/${late.appId}/method/late`), { method: 'POST', body: 'app body' });
    assertDaprError(res, 500, 'ERR_INTERNAL', /failed in handle_response: write_body after the next handler needs the buffer_response feature/);
    assert.equal(received(app, '/late').length, 1);
  });
});

describe('API pipeline: unsafe guest output', () => {
  let app: TestApp;
  let headers: { sidecar: SidecarProcess; appId: string };
  let uri: { sidecar: SidecarProcess; appId: string };
  before(async () => {
    app = await newApp();
    const url = await guest('pipeline/unsafe-headers.wat');
    const uriAppId = uniqueId('unsafe-uri');
    const smuggling = `/v1.0/invoke/${uriAppId}/method/ok HTTP/1.1\r\nx-injected: 1\r\n\r\nGET /smuggled`;
    const rewriting = wasmStage('unsafe', url, { guestConfig: smuggling });
    [headers, uri] = await Promise.all([
      apiPipelineSidecar('unsafe', app, [wasmStage('unsafe', url)]),
      workspace
        .start({ appId: uriAppId, appPort: app.port, components: [rewriting.component], api: [rewriting.handler] })
        .then((sidecar) => ({ sidecar, appId: uriAppId })),
    ]);
  });

  it('a header value with CR/LF or an invalid name is dropped, on the way to the app and to the client', async () => {
    const res = await http(headers.sidecar.url(`/v1.0/invoke/${headers.appId}/method/unsafe`));
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-good'], 'fine');
    assert.equal(res.headers['x-bad'], undefined);
    assert.equal(res.headers['x-injected'], undefined);
    const [seen] = received(app, '/unsafe');
    assert.ok(seen);
    assert.equal(seen.headers['x-good'], 'fine');
    assert.equal(seen.headers['x-bad'], undefined);
    assert.equal(seen.headers['x-injected'], undefined);
    assert.ok(!seen.rawHeaders.some((name) => name.toLowerCase().startsWith('bad')));
  });

  it('a URI rewritten with CR/LF cannot smuggle a second request to the app', async () => {
    const res = await http(uri.sidecar.url(`/v1.0/invoke/${uri.appId}/method/start`));
    assertDaprError(res, 500, 'ERR_DIRECT_INVOKE', /line feed in request method, path or headers/);
    await sleep(100);
    assert.deepEqual(appCalls(app).filter((r) => r.url.includes('smuggled') || r.headers['x-injected'] !== undefined), []);
  });
});

describe('API pipeline: trap recovery', () => {
  let app: TestApp;
  let sidecar: SidecarProcess;
  let appId: string;
  before(async () => {
    app = await newApp();
    ({ sidecar, appId } = await apiPipelineSidecar('trap', app, [wasmStage('trapper', await guest('trap.wat'))]));
  });

  it('a trap answers its request with 500 in Dapr\'s error shape, is logged, and the next requests are served', async () => {
    const count = async (path: string): Promise<string | string[] | undefined> => {
      const res = await http(sidecar.url(`/v1.0/invoke/${appId}/method${path}`));
      assert.equal(res.status, 200);
      return received(app, path)[0]?.headers['x-count'];
    };
    assert.equal(await count('/one'), '1');
    assert.equal(await count('/two'), '2');
    const trapped = await http(sidecar.url(`/v1.0/invoke/${appId}/method/trap`), { headers: { 'x-trap': '1' } });
    assertDaprError(trapped, 500, 'ERR_INTERNAL', /wasm middleware "trapper" failed in handle_request: unreachable/);
    assert.equal(received(app, '/trap').length, 0);
    await eventually(2000, async () => assert.ok(logged(sidecar, /^error wasm middleware "trapper" failed in handle_request: unreachable/)));
    assert.equal(await count('/three'), '1', 'served by a fresh instance');
    assert.equal(await count('/four'), '2');
  });
});

describe('API pipeline: hot reload under load', () => {
  let sidecar: SidecarProcess;
  let url: string;
  before(async () => {
    url = await guest('stamp.wat', { VERSION: 'a' });
    ({ sidecar } = await apiPipelineSidecar('reload', null, [wasmStage('stamp', url)]));
  });

  it('replacing the file swaps the module without failing a request; a broken replacement keeps the old one', async (t) => {
    const seen = new Map<string, number>();
    const failures: string[] = [];
    let running = true;
    let last = '';
    const worker = async (): Promise<void> => {
      while (running) {
        try {
          const res = await http(sidecar.url('/v1.0/healthz'));
          const version = String(res.headers['x-version']);
          if (res.status !== 204 || !/^[ab]$/.test(version)) failures.push(`${res.status} ${version} ${res.body.toString()}`);
          seen.set(version, (seen.get(version) ?? 0) + 1);
          last = version;
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const workers = Array.from({ length: 16 }, worker);
    try {
      await sleep(200);
      assert.ok((seen.get('a') ?? 0) > 0);
      workspace.replaceGuest(url, await compileFixture('stamp.wat', { VERSION: 'b' }));
      await eventually(5000, async () => assert.ok((seen.get('b') ?? 0) > 20, 'the new module serves'));
      assert.ok(logged(sidecar, /^info wasm middleware "stamp": new module loaded/));

      workspace.replaceGuest(url, await compileFixture('missing-export.wat'));
      await eventually(5000, async () =>
        assert.ok(logged(sidecar, /^error reload of file:.* failed; the running module stays: .*does not export the function "handle_request"/)),
      );
      const before = seen.get('b')!;
      await eventually(2000, async () => assert.ok(seen.get('b')! > before + 20));
      assert.equal(last, 'b');
    } finally {
      running = false;
      await Promise.all(workers);
    }
    t.diagnostic(`${[...seen.values()].reduce((a, b) => a + b, 0)} requests by 16 clients: ${JSON.stringify(Object.fromEntries(seen))}`);
    assert.deepEqual(failures, []);
    const afterBroken = await http(sidecar.url('/v1.0/healthz'));
    assert.equal(afterBroken.headers['x-version'], 'b');
  });
});

describe('API pipeline: chain order', () => {
  let app: TestApp;
  let sidecar: SidecarProcess;
  let appId: string;
  before(async () => {
    app = await newApp();
    const url = await guest('pipeline/chain.wat');
    const stages = ['A', 'B', 'C'].map((mark) => wasmStage(`stage-${mark.toLowerCase()}`, url, { guestConfig: mark }));
    ({ sidecar, appId } = await apiPipelineSidecar('chain', app, stages));
  });

  it('requests pass the stages in order, responses come back in reverse', async () => {
    const res = await http(sidecar.url(`/v1.0/invoke/${appId}/method/chain`), { headers: { 'x-chain': '>' } });
    assert.equal(res.status, 200);
    assert.equal(received(app, '/chain')[0]?.headers['x-chain'], '>ABC');
    assert.equal(res.headers['x-chain'], 'CBA');
  });
});

describe('API pipeline: stages that leave the response alone', () => {
  // Stages whose handle_response is empty have nothing to do once the request passed them: the pipeline lets
  // them go before the handler runs and sends its answer as it comes, unless a stage set response headers early.
  let app: TestApp;
  let sidecar: SidecarProcess;
  let appId: string;
  let early: SidecarProcess;
  let earlyId: string;
  let mixed: SidecarProcess;
  let mixedId: string;
  before(async () => {
    app = await newApp();
    const [pass, earlyHeader, chain] = await Promise.all([guest('pipeline/pass.wat'), guest('pipeline/early-header.wat'), guest('pipeline/chain.wat')]);
    [{ sidecar, appId }, { sidecar: early, appId: earlyId }, { sidecar: mixed, appId: mixedId }] = await Promise.all([
      apiPipelineSidecar('quiet', app, [wasmStage('quiet-1', pass), wasmStage('quiet-2', pass)]),
      apiPipelineSidecar('early', app, [wasmStage('early-pass', pass), wasmStage('early-header', earlyHeader)]),
      apiPipelineSidecar('mixed', app, [wasmStage('mixed-chain', chain, { guestConfig: 'A' }), wasmStage('mixed-pass', pass)]),
    ]);
  });

  it('the answer reaches the client as the app gave it, request after request', async () => {
    for (let i = 0; i < 20; i++) {
      const body = `echo ${i} ${'x'.repeat(i * 100)}`;
      const res = await http(sidecar.url(`/v1.0/invoke/${appId}/method/quiet/${i}`), { method: 'POST', body, headers: { 'content-type': 'text/x-test' } });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), body);
      assert.equal(res.headers['content-type'], 'text/x-test');
    }
    const missing = await http(sidecar.url(`/v1.0/invoke/${appId}/method/status/404`));
    assert.equal(missing.status, 404);
    assert.equal(missing.body.toString(), 'not here');
    const sidecarError = await http(sidecar.url('/v1.0/state/no-such-store/key'));
    assertDaprError(sidecarError, 500, 'ERR_STATE_STORE_NOT_CONFIGURED', /not configured/);
  });

  it('a response header a stage set before passing the request on is still added to the answer', async () => {
    const res = await http(early.url(`/v1.0/invoke/${earlyId}/method/status/418`));
    assert.equal(res.status, 418);
    assert.equal(res.body.toString(), 'not here');
    assert.equal(res.headers['x-early'], 'kept');
  });

  it('one stage that handles responses is enough for the answer to come back through the chain', async () => {
    const res = await http(mixed.url(`/v1.0/invoke/${mixedId}/method/mixed`), { headers: { 'x-chain': '>' } });
    assert.equal(res.status, 200);
    assert.equal(received(app, '/mixed')[0]?.headers['x-chain'], '>A');
    assert.equal(res.headers['x-chain'], 'A');
  });
});

describe('app pipeline', () => {
  const topic = `orders-${process.pid}`;
  let app: TestApp;
  let sidecar: SidecarProcess;
  let appId: string;
  let denyingApp: TestApp;
  let denying: SidecarProcess;
  let denyingId: string;
  before(async () => {
    app = await newApp((req, res) => {
      if (req.url === '/dapr/subscribe') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify([{ pubsubname: 'pubsub', topic, route: '/events/orders' }]));
        return;
      }
      serveApp(req, res);
    });
    denyingApp = await newApp();
    const [line, headers, chain, deny] = await Promise.all([
      guest('pipeline/request-line.wat'),
      guest('pipeline/headers.wat'),
      guest('pipeline/chain.wat'),
      guest('short-circuit.wat'),
    ]);
    const api = wasmStage('api-mark', chain, { guestConfig: 'A' });
    const appLine = wasmStage('app-line', line);
    const appHeaders = wasmStage('app-headers', headers);
    const appMark = wasmStage('app-mark', chain, { guestConfig: 'P' });
    appId = uniqueId('app');
    denyingId = uniqueId('app-deny');
    [sidecar, denying] = await Promise.all([
      workspace.start({
        appId,
        appPort: app.port,
        components: [api.component, appLine.component, appHeaders.component, appMark.component, { name: 'pubsub', type: 'pubsub.in-memory' }],
        api: [api.handler],
        app: [appLine.handler, appHeaders.handler, appMark.handler],
      }),
      workspace.start({ appId: denyingId, appPort: denyingApp.port, components: [wasmStage('deny', deny).component], app: [{ name: 'deny', type: 'middleware.http.wasm' }] }),
    ]);
  });

  it('service invocation passes the API pipeline, then the app pipeline, and back', async () => {
    const res = await http(sidecar.url(`/v1.0/invoke/${appId}/method/orders?x=1`), { method: 'POST', body: '{}' });
    assert.equal(res.status, 200);
    const [seen] = received(app, '/orders?x=1');
    assert.ok(seen);
    assert.equal(seen.headers['x-chain'], 'AP');
    assert.equal(seen.headers['x-seen-method'], 'POST');
    assert.equal(seen.headers['x-seen-uri'], '/orders?x=1', 'the app pipeline sees the request to the app');
    assert.equal(seen.headers['x-seen-source'], '', 'calls from the sidecar itself have no client address');
    assert.equal(res.headers['x-chain'], 'PA');
  });

  it('gRPC invocation with 100 distinct metadata entries: the app pipeline sees them all as headers', async () => {
    const client = new grpc.Client(`127.0.0.1:${sidecar.ports.grpc}`, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    for (let i = 0; i < 100; i++) metadata.set(`x-distinct-${i}`, `value ${i}`);
    const request = create(InvokeServiceRequestSchema, {
      id: appId,
      message: { method: 'distinct', data: create(AnySchema, { value: Buffer.from('grpc') }), contentType: 'text/plain', httpExtension: { verb: HTTPExtension_Verb.POST } },
    });
    try {
      const response = await new Promise<Buffer>((resolve, reject) => {
        client.makeUnaryRequest(
          '/dapr.proto.runtime.v1.Dapr/InvokeService',
          () => Buffer.from(toBinary(InvokeServiceRequestSchema, request)),
          (bytes: Buffer) => bytes,
          request,
          metadata,
          (err, value) => (err === null ? resolve(value!) : reject(err)),
        );
      });
      assert.equal(Buffer.from(fromBinary(InvokeResponseSchema, response).data!.value).toString(), 'grpc');
    } finally {
      client.close();
    }
    const [seen] = received(app, '/distinct');
    assert.ok(seen);
    for (let i = 0; i < 100; i++) assert.equal(seen.headers[`x-distinct-${i}`], `value ${i}`);
    const names = Number(seen.headers['x-name-count']);
    assert.ok(names > 100, `the guest saw ${names} request header names`);
  });

  it('an answer with a header repeated 50 times passes the app pipeline whole', async () => {
    const res = await http(sidecar.url(`/v1.0/invoke/${appId}/method/headers-app/many`));
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-app-multi-count'], '50', 'counted by the app pipeline guest');
    assert.equal(res.headers['x-app-multi'], Array.from({ length: 50 }, (_, i) => `a${i}`).join(', '));
    assert.equal(res.headers['x-chain'], 'PA');
  });

  it('subscription discovery and pub/sub deliveries pass the app pipeline', async () => {
    const [discovery] = received(app, '/dapr/subscribe');
    assert.ok(discovery, 'the sidecar asked for subscriptions');
    assert.equal(discovery.headers['x-seen-uri'], '/dapr/subscribe');
    const published = await http(sidecar.url(`/v1.0/publish/pubsub/${topic}`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"order":1}',
    });
    assert.equal(published.status, 204);
    const delivery = await eventually(5000, async () => {
      const [event] = received(app, '/events/orders');
      assert.ok(event);
      return event;
    });
    assert.equal(delivery.method, 'POST');
    assert.equal(delivery.headers['x-seen-uri'], '/events/orders');
    assert.equal(delivery.headers['x-chain'], 'P', 'only the app pipeline is on the delivery path');
    assert.deepEqual((JSON.parse(delivery.body.toString()) as { data: unknown }).data, { order: 1 });
  });

  it('an app pipeline stage that answers by itself answers the invoking client; the app sees nothing', async () => {
    const res = await http(denying.url(`/v1.0/invoke/${denyingId}/method/secret`), { method: 'POST', body: 'x' });
    assert.equal(res.status, 403);
    assert.equal(res.headers['content-type'], 'text/plain');
    assert.equal(res.body.toString(), 'denied!');
    assert.equal(received(denyingApp, '/secret').length, 0);
  });
});

describe('guest sandbox and memory', () => {
  let server: Server;
  let strict: SidecarProcess[];
  let memory: SidecarProcess;
  before(async () => {
    const sandbox = await compileFixture('sandbox.wat');
    server = createServer((_req, res) => res.end(sandbox));
    await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
    const served = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sandbox.wasm`;
    const started = await Promise.all([
      apiPipelineSidecar('sandbox-file', null, [wasmStage('sandbox', workspace.guest(`sandbox-${++ids}`, sandbox), { strictSandbox: 'true' })]),
      apiPipelineSidecar('sandbox-http', null, [wasmStage('sandbox', served, { strictSandbox: 'true' })]),
      apiPipelineSidecar('memory', null, [wasmStage('memory', await guest('pipeline/memory.wat'), { maxMemoryBytes: String(2 * 65536) })]),
    ]);
    strict = started.slice(0, 2).map((s) => s.sidecar);
    memory = started[2]!.sidecar;
  });
  after(() => new Promise<void>((closed) => server.close(() => closed())));

  it('strictSandbox: two sidecars see the same fixed clocks and random bytes, request by request', async () => {
    for (let round = 0; round < 2; round++) {
      const [a, b] = await Promise.all(strict.map((s) => http(s.url('/v1.0/healthz'))));
      assert.equal(a!.body.length, 40);
      assert.deepEqual(a!.body, b!.body);
      assert.equal(a!.body.readBigUInt64LE(0), 1_640_995_200_000_000_000n, 'wall clock fixed at 2022-01-01');
      assert.ok(a!.body.readBigUInt64LE(16) > a!.body.readBigUInt64LE(8), 'the monotonic clock still advances');
    }
  });

  it('maxMemoryBytes: a guest that grew past the limit is replaced and keeps serving', async () => {
    const pages = async (headers: Record<string, string> = {}): Promise<unknown> => {
      const res = await http(memory.url('/v1.0/healthz'), { headers });
      assert.equal(res.status, 200);
      return res.headers['x-pages'];
    };
    assert.equal(await pages(), '1');
    assert.equal(await pages({ 'x-grow': '1' }), '3');
    assert.equal(await pages(), '1', 'a fresh instance');
    assert.equal(await pages({ 'x-grow': '1' }), '3');
    assert.equal(await pages(), '1');
    assert.ok(logged(memory, /^warn wasm middleware "memory": guest memory grew to 196608 bytes \(limit 131072\); starting a fresh instance/));
  });
});

describe('start-up failures', () => {
  const guard = (url: string): ComponentSpec => wasmStage('guard', url).component;
  const guarded = (type = 'middleware.http.wasm'): Pipelines['api'] => [{ name: 'guard', type }];
  let good: string;
  let noHandler: string;
  before(async () => {
    [good, noHandler] = await Promise.all([guest('stamp.wat', { VERSION: 'a' }), guest('missing-export.wat')]);
  });

  const cases: [label: string, setup: () => [ComponentSpec[], Pipelines], message: RegExp][] = [
    [
      'a handler naming no component',
      () => [[], { api: [{ name: 'ghost', type: 'middleware.http.wasm' }] }],
      /spec\.httpPipeline\.handlers\[0\]: no middleware component named "ghost"/,
    ],
    [
      'a handler whose type differs from the component\'s',
      () => [[guard(good)], { app: guarded('middleware.http.uppercase') }],
      /spec\.appHttpPipeline\.handlers\[0\]: component "guard" is of type middleware\.http\.wasm, not middleware\.http\.uppercase/,
    ],
    ['a missing .wasm file', () => [[guard(good.replace(/\.wasm$/, '-absent.wasm'))], { api: guarded() }], /component "guard".*-absent\.wasm.*no such file/i],
    ['a guest without handle_request', () => [[guard(noHandler)], { api: guarded() }], /component "guard".*does not export the function "handle_request"/],
    [
      'a url with an unsupported scheme',
      () => [[guard('ftp://example.com/guard.wasm')], { api: guarded() }],
      /component "guard".*unsupported scheme "ftp:"; use file:\/\/, http:\/\/ or https:\/\//,
    ],
  ];
  for (const [label, setup, message] of cases) {
    it(`${label} stops the sidecar with a message naming it`, async () => {
      const [components, pipelines] = setup();
      const { code, output } = await workspace.failedStart(uniqueId('fail'), components, pipelines);
      assert.notEqual(code, 0, output);
      assert.ok(logLines(output).some((line) => line.startsWith('error start-up failed: ') && message.test(line)), output);
    });
  }
});
