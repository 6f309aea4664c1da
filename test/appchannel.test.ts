import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AppChannelError,
  HttpPool,
  type AppRequest,
  type AppResponse,
  type HttpPoolOptions,
} from '../proxy/appchannel/http-pool.js';
import { PARSE_COMPLETE, PARSE_FAILED, PARSE_INCOMPLETE, ResponseParser } from '../proxy/appchannel/response-parser.js';
import { freePort } from './support/ports.js';

const HOST = '127.0.0.1';
const TEST_TIMEOUT = { timeout: 15_000 };

// ---- helpers --------------------------------------------------------------------------------------

interface Outcome {
  err: AppChannelError | null;
  res: AppResponse | null;
}

function call(pool: HttpPool, req: Partial<AppRequest>): Promise<Outcome> {
  const full: AppRequest = { method: 'GET', path: '/', headers: [], body: null, ...req };
  return new Promise((resolve) => {
    pool.request(full, (err, res) => resolve({ err, res }));
  });
}

async function ok(pool: HttpPool, req: Partial<AppRequest>): Promise<AppResponse> {
  const { err, res } = await call(pool, req);
  assert.equal(err, null, `unexpected error: ${err?.kind} ${err?.message}`);
  assert.ok(res);
  return res;
}

async function failure(pool: HttpPool, req: Partial<AppRequest> = {}): Promise<AppChannelError> {
  const { err, res } = await call(pool, req);
  assert.equal(res, null);
  assert.ok(err instanceof AppChannelError, 'expected an AppChannelError');
  return err;
}

function newPool(t: TestContext, port: number, opts: Partial<HttpPoolOptions> = {}): HttpPool {
  const pool = new HttpPool({ host: HOST, port, maxConcurrency: 0, requestTimeoutMs: 5000, maxResponseBytes: 16 << 20, ...opts });
  t.after(() => pool.close(0));
  return pool;
}

function header(headers: string[], name: string): string | undefined {
  for (let k = 0; k < headers.length; k += 2) if (headers[k].toLowerCase() === name) return headers[k + 1];
  return undefined;
}

interface TestHttpServer {
  port: number;
  server: Server;
  /** Connections accepted so far. */
  connections: number;
  /** Connections closed so far. */
  closed: number;
}

async function httpServer(t: TestContext, handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void): Promise<TestHttpServer> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks)));
  });
  const state: TestHttpServer = { port: 0, server, connections: 0, closed: 0 };
  server.on('connection', (socket) => {
    state.connections++;
    socket.on('close', () => state.closed++);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  state.port = (server.address() as net.AddressInfo).port;
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return state;
}

interface TestRawServer {
  port: number;
  connections: number;
  closed: number;
  sockets: Set<net.Socket>;
}

/**
 * A TCP server speaking whatever it is told: `onRequest` gets each request head (bodies are not
 * expected), the connection's socket, the index of the request on that connection and the index
 * of the connection.
 */
async function rawServer(
  t: TestContext,
  onRequest: (socket: net.Socket, head: string, requestIndex: number, connectionIndex: number) => void,
): Promise<TestRawServer> {
  const state: TestRawServer = { port: 0, connections: 0, closed: 0, sockets: new Set() };
  const server = net.createServer((socket) => {
    const connectionIndex = state.connections++;
    state.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => {
      state.closed++;
      state.sockets.delete(socket);
    });
    let pending = '';
    let requestIndex = 0;
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      let end: number;
      while ((end = pending.indexOf('\r\n\r\n')) !== -1) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        onRequest(socket, head, requestIndex++, connectionIndex);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  state.port = (server.address() as net.AddressInfo).port;
  t.after(() => {
    for (const socket of state.sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return state;
}

/** A raw server answering every request with `response` (one byte per character). */
function answering(t: TestContext, response: string): Promise<TestRawServer> {
  const bytes = Buffer.from(response, 'latin1');
  return rawServer(t, (socket) => socket.write(bytes));
}

async function until(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Echo app: reports what it received as JSON, with the request body as the response body. */
function echoApp(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  res.setHeader('x-echo', JSON.stringify({ method: req.method, url: req.url, rawHeaders: req.rawHeaders }));
  res.setHeader('content-type', 'application/octet-stream');
  res.end(body);
}

function echoed(res: AppResponse): { method: string; url: string; rawHeaders: string[] } {
  return JSON.parse(header(res.headers, 'x-echo') ?? 'null');
}

// ---- round trips --------------------------------------------------------------------------------

test('round trips every verb with path, query and headers preserved', TEST_TIMEOUT, async (t) => {
  const app = await httpServer(t, echoApp);
  const pool = newPool(t, app.port);
  for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']) {
    const body = method === 'GET' || method === 'HEAD' ? null : Buffer.from(`payload of ${method}`);
    const res = await ok(pool, {
      method,
      path: '/v1/orders/42?x=1&y=%20two&flag',
      headers: ['Content-Type', 'text/plain', 'X-Custom', 'A b c', 'traceparent', '00-abc-def-01', 'x-multi', '1', 'x-multi', '2'],
      body,
    });
    assert.equal(res.status, 200);
    const seen = echoed(res);
    assert.equal(seen.method, method);
    assert.equal(seen.url, '/v1/orders/42?x=1&y=%20two&flag');
    const raw = seen.rawHeaders;
    assert.deepEqual(raw.slice(0, 2), ['Host', `${HOST}:${app.port}`]);
    assert.deepEqual(raw.slice(2, 12), ['Content-Type', 'text/plain', 'X-Custom', 'A b c', 'traceparent', '00-abc-def-01', 'x-multi', '1', 'x-multi', '2']);
    const length = header(raw, 'content-length');
    assert.equal(length, body === null ? undefined : String(body.length));
    assert.equal(header(raw, 'transfer-encoding'), undefined);
    assert.deepEqual(res.body, method === 'HEAD' || body === null ? Buffer.alloc(0) : body);
    assert.equal(header(res.headers, 'content-type'), 'application/octet-stream');
    assert.equal(header(res.headers, 'content-length'), undefined, 'content-length is not passed on');
    assert.equal(header(res.headers, 'connection'), undefined, 'connection is not passed on');
    assert.equal(header(res.headers, 'keep-alive'), undefined, 'keep-alive is not passed on');
  }
  assert.equal(app.connections, 1);
});

test('POST, PUT and PATCH without a body send Content-Length: 0; others send none', TEST_TIMEOUT, async (t) => {
  const app = await httpServer(t, echoApp);
  const pool = newPool(t, app.port);
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    const seen = echoed(await ok(pool, { method, path: '/x' }));
    assert.equal(header(seen.rawHeaders, 'content-length'), ['POST', 'PUT', 'PATCH'].includes(method) ? '0' : undefined, method);
  }
  const seen = echoed(await ok(pool, { method: 'DELETE', path: '/x', body: new Uint8Array(0) }));
  assert.equal(header(seen.rawHeaders, 'content-length'), '0', 'an empty body given is announced');
});

test('binary bodies are byte-exact both ways, including 5 MiB', TEST_TIMEOUT, async (t) => {
  const app = await httpServer(t, echoApp);
  const pool = newPool(t, app.port);
  const everyByte = Buffer.alloc(256 * 4);
  for (let i = 0; i < everyByte.length; i++) everyByte[i] = i & 0xff;
  assert.deepEqual((await ok(pool, { method: 'POST', path: '/bin', body: everyByte })).body, everyByte);

  const big = Buffer.allocUnsafe(5 << 20);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  const res = await ok(pool, { method: 'PUT', path: '/big', body: new Uint8Array(big.buffer, big.byteOffset, big.length) });
  assert.equal(res.body.length, big.length);
  assert.ok(res.body.equals(big), '5 MiB body differs');
});

test('chunked responses from node:http are reassembled', TEST_TIMEOUT, async (t) => {
  const big = Buffer.alloc(3 << 20, 7);
  const app = await httpServer(t, (req, res) => {
    res.setHeader('x-kind', 'chunked');
    if (req.url === '/big') {
      for (let at = 0; at < big.length; at += 100_000) res.write(big.subarray(at, at + 100_000));
      res.end();
      return;
    }
    res.write('alpha,');
    setTimeout(() => {
      res.write(Buffer.from([0, 1, 2, 255]));
      res.write('');
      setTimeout(() => res.end('omega'), 5);
    }, 5);
  });
  const pool = newPool(t, app.port);
  const res = await ok(pool, { path: '/small' });
  assert.deepEqual(res.body, Buffer.concat([Buffer.from('alpha,'), Buffer.from([0, 1, 2, 255]), Buffer.from('omega')]));
  assert.equal(header(res.headers, 'transfer-encoding'), undefined);
  assert.equal(header(res.headers, 'x-kind'), 'chunked');
  assert.ok((await ok(pool, { path: '/big' })).body.equals(big));
  assert.equal(app.connections, 1, 'the connection is reused after chunked responses');
});

const CHUNKED_WITH_EXTRAS =
  'HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n' +
  '5;name=value;q="quoted"\r\nhello\r\n' +
  '1 ;ext\r\n,\r\n' +
  '0006\r\n world\r\n' +
  '0\r\nX-Sum: 11\r\nX-Other: y\r\n\r\n';

test('a chunked response split byte by byte, with extensions and trailers, is parsed', TEST_TIMEOUT, async (t) => {
  const app = await rawServer(t, (socket) => {
    void (async () => {
      for (const byte of Buffer.from(CHUNKED_WITH_EXTRAS, 'latin1')) {
        if (socket.destroyed) return;
        socket.write(Buffer.from([byte]));
        await sleep(1);
      }
    })();
  });
  const pool = newPool(t, app.port);
  const res = await ok(pool, { path: '/slow' });
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), 'hello, world');
  assert.deepEqual(res.headers, ['X-A', '1'], 'framing headers and trailers are dropped');
  await ok(pool, { path: '/again' });
  assert.equal(app.connections, 1);
});

test('a response delimited by the connection closing is read to the end and the socket is not reused', TEST_TIMEOUT, async (t) => {
  const app = await rawServer(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part, ');
    setTimeout(() => socket.end('second part'), 20);
  });
  const pool = newPool(t, app.port);
  const res = await ok(pool, {});
  assert.equal(res.body.toString(), 'first part, second part');
  assert.equal((await ok(pool, {})).body.toString(), 'first part, second part');
  assert.equal(app.connections, 2);
});

test('204, 304 and HEAD responses have no body even when a length is announced', TEST_TIMEOUT, async (t) => {
  const app = await rawServer(t, (socket, head) => {
    if (head.startsWith('HEAD')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
    else if (head.includes('/204')) socket.write('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n');
    else if (head.includes('/304')) socket.write('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 50\r\n\r\n');
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone');
  });
  const pool = newPool(t, app.port);
  const head = await ok(pool, { method: 'HEAD', path: '/' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal((await ok(pool, { path: '/204' })).status, 204);
  const notModified = await ok(pool, { path: '/304' });
  assert.equal(notModified.status, 304);
  assert.deepEqual(notModified.headers, ['ETag', '"x"']);
  assert.equal((await ok(pool, { path: '/' })).body.toString(), 'done');
  assert.equal(app.connections, 1, 'no body bytes were expected, so the connection stayed in sync');

  const httpApp = await httpServer(t, (req, res) => {
    res.statusCode = req.url === '/204' ? 204 : 304;
    res.end();
  });
  const pool2 = newPool(t, httpApp.port);
  assert.equal((await ok(pool2, { path: '/204' })).status, 204);
  assert.equal((await ok(pool2, { path: '/304' })).status, 304);
});

test('interim 1xx responses are skipped', TEST_TIMEOUT, async (t) => {
  const app = await rawServer(t, (socket) => {
    socket.write('HTTP/1.1 100 Continue\r\n\r\n');
    setTimeout(() => {
      socket.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 201 Created\r\nX-Final: yes\r\n');
      socket.write('Content-Length: 3\r\n\r\nnew');
    }, 10);
  });
  const pool = newPool(t, app.port);
  const res = await ok(pool, { method: 'POST', path: '/create', body: Buffer.from('x') });
  assert.equal(res.status, 201);
  assert.deepEqual(res.headers, ['X-Final', 'yes']);
  assert.equal(res.body.toString(), 'new');

  const httpApp = await httpServer(t, (_req, res, body) => res.end(body));
  httpApp.server.on('checkContinue', (req, res) => {
    res.writeContinue();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.end(Buffer.concat(chunks)));
  });
  const pool2 = newPool(t, httpApp.port);
  const echoedBody = await ok(pool2, { method: 'POST', path: '/', headers: ['Expect', '100-continue'], body: Buffer.from('continued') });
  assert.equal(echoedBody.body.toString(), 'continued');
});

test('response headers: order, case and repeats kept; hop-by-hop and nominated ones dropped', TEST_TIMEOUT, async (t) => {
  const app = await answering(
    t,
    'HTTP/1.1 200 OK\r\n' +
      'Content-Type: text/plain\r\n' +
      'Connection: keep-alive, X-Secret\r\n' +
      'X-Secret: drop me\r\n' +
      'Keep-Alive: timeout=30\r\n' +
      'Proxy-Authenticate: Basic\r\n' +
      'Set-Cookie: a=1\r\n' +
      'TE: trailers\r\n' +
      'Trailer: X-T\r\n' +
      'Upgrade: h2c\r\n' +
      'Set-Cookie: b=2\r\n' +
      'X-Empty:\r\n' +
      'X-Spaces: \t padded value \t\r\n' +
      'X-Utf8: caf\u00c3\u00a9\r\n' +
      'content-LENGTH: 2\r\n' +
      '\r\nok',
  );
  const pool = newPool(t, app.port);
  const res = await ok(pool, {});
  assert.deepEqual(res.headers, [
    'Content-Type', 'text/plain',
    'Set-Cookie', 'a=1',
    'Set-Cookie', 'b=2',
    'X-Empty', '',
    'X-Spaces', 'padded value',
    'X-Utf8', 'café',
  ]);
  assert.equal(res.body.toString(), 'ok');
});

test('a request header with a line feed is refused before anything is sent', TEST_TIMEOUT, async (t) => {
  const app = await httpServer(t, echoApp);
  const pool = newPool(t, app.port);
  let sync = true;
  const pending = call(pool, { headers: ['X-Evil', 'a\r\nX-Injected: 1'] });
  sync = false;
  const { err } = await pending;
  assert.equal(sync, false);
  assert.equal(err?.kind, 'protocol');
  assert.equal((await failure(pool, { path: '/a HTTP/1.1\nX: y' })).kind, 'protocol');
  assert.equal(app.connections, 0);
  await ok(pool, { headers: ['X-Fine', 'caf\u00e9 \u2603'] });
});

// ---- connection reuse -----------------------------------------------------------------------------

test('keep-alive: 100 sequential requests use one connection', TEST_TIMEOUT, async (t) => {
  const app = await httpServer(t, (req, res) => res.end(req.url));
  const pool = newPool(t, app.port);
  for (let i = 0; i < 100; i++) assert.equal((await ok(pool, { path: `/n/${i}` })).body.toString(), `/n/${i}`);
  assert.equal(app.connections, 1);
  assert.equal(pool.inFlight, 0);
});

test('Connection: close and HTTP/1.0 without keep-alive prevent reuse; HTTP/1.0 keep-alive allows it', TEST_TIMEOUT, async (t) => {
  const close = await answering(t, 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na');
  const http10 = await answering(t, 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb');
  const http10KeepAlive = await answering(t, 'HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nc');
  for (const [server, expected] of [[close, 3], [http10, 3], [http10KeepAlive, 1]] as const) {
    const pool = newPool(t, server.port);
    for (let i = 0; i < 3; i++) await ok(pool, {});
    assert.equal(server.connections, expected);
  }
});

test('a request on an idle socket the server already closed is retried once on a fresh socket', TEST_TIMEOUT, async (t) => {
  for (const how of ['end', 'reset'] as const) {
    // Each connection answers its first request only, as if its keep-alive timer fired as the next one arrived.
    const app = await rawServer(t, (socket, _head, requestIndex, connectionIndex) => {
      if (requestIndex === 0) socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n${connectionIndex}`);
      else if (how === 'end') socket.end();
      else socket.resetAndDestroy();
    });
    const pool = newPool(t, app.port);
    assert.equal((await ok(pool, { method: 'GET' })).body.toString(), '0');
    assert.equal((await ok(pool, { method: 'POST', body: Buffer.from('not idempotent, still safe') })).body.toString(), '1', how);
    assert.equal((await ok(pool, { method: 'DELETE' })).body.toString(), '2', how);
    assert.equal(app.connections, 3);
  }
});

test('the retry happens once: a fresh connection failing too is reported as reset', TEST_TIMEOUT, async (t) => {
  let served = 0;
  const app = await rawServer(t, (socket) => {
    if (served++ === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  const pool = newPool(t, app.port);
  await ok(pool, {});
  assert.equal((await failure(pool)).kind, 'reset');
  assert.equal(app.connections, 2, 'one retry, not more');
});

test('idle sockets closed by the server are forgotten; idle timeout closes ours', TEST_TIMEOUT, async (t) => {
  const app = await rawServer(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx');
    setTimeout(() => socket.end(), 30);
  });
  const pool = newPool(t, app.port);
  await ok(pool, {});
  await until(() => app.closed === 1, 'the server to close its idle socket');
  await ok(pool, {});
  assert.equal(app.connections, 2);

  const quiet = await rawServer(t, (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
  const pool2 = newPool(t, quiet.port, { idleTimeoutMs: 50 });
  await ok(pool2, {});
  await ok(pool2, {});
  assert.equal(quiet.closed, 0);
  await until(() => quiet.closed === 1, 'the idle timeout to close the socket');
});

test('a Keep-Alive timeout announced by the server shortens the idle lifetime', TEST_TIMEOUT, async (t) => {
  const app = await answering(t, 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 0\r\n\r\n');
  const pool = newPool(t, app.port);
  await ok(pool, {});
  await until(() => app.closed === 1, 'the socket to be closed before the server would', 2000);
});

test('idle sockets do not keep the process alive', TEST_TIMEOUT, async (t) => {
  const app = await httpServer(t, (_req, res) => res.end('x'));
  app.server.keepAliveTimeout = 60_000;
  const poolUrl = new URL('../proxy/appchannel/http-pool.js', import.meta.url).href;
  const script = `
    import { HttpPool } from ${JSON.stringify(poolUrl)};
    const pool = new HttpPool({ host: '${HOST}', port: ${app.port}, maxConcurrency: 0, requestTimeoutMs: 60000, maxResponseBytes: 1024, idleTimeoutMs: 60000 });
    pool.request({ method: 'GET', path: '/', headers: [], body: null }, (err, res) => {
      if (err) throw err;
      process.stdout.write(String(res.status));
    });`;
  const started = Date.now();
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const killer = setTimeout(() => child.kill(), 5000);
  t.after(() => {
    clearTimeout(killer);
    child.kill();
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, 'exited by itself, not killed');
  assert.equal(output, '200', 'the in-flight request kept the process alive until it completed');
  assert.ok(Date.now() - started < 5000);
});

// ---- failures -------------------------------------------------------------------------------------

test('connection refused is a connect error', TEST_TIMEOUT, async (t) => {
  const pool = newPool(t, await freePort());
  const err = await failure(pool);
  assert.equal(err.kind, 'connect');
  assert.match(err.message, /ECONNREFUSED/);
  assert.equal(pool.inFlight, 0);
});

test('a server that never answers times out and its socket is destroyed', TEST_TIMEOUT, async (t) => {
  const app = await rawServer(t, () => {});
  const pool = newPool(t, app.port, { requestTimeoutMs: 100 });
  const started = Date.now();
  const err = await failure(pool);
  assert.equal(err.kind, 'timeout');
  assert.ok(Date.now() - started >= 95, 'not before the timeout');
  await until(() => app.closed === 1, 'the timed-out socket to be destroyed');
  assert.equal(pool.inFlight, 0);
});

test('a response cut short by the timeout half-way is a timeout too', TEST_TIMEOUT, async (t) => {
  const app = await rawServer(t, (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
  const pool = newPool(t, app.port, { requestTimeoutMs: 80 });
  assert.equal((await failure(pool)).kind, 'timeout');
});

test('queued requests time out too, and each request gets its own deadline', TEST_TIMEOUT, async (t) => {
  const app = await rawServer(t, (socket, head) => {
    const delay = Number(/\/delay\/(\d+)/.exec(head)?.[1] ?? 0);
    setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), delay);
  });
  const pool = newPool(t, app.port, { maxConcurrency: 1, requestTimeoutMs: 150 });
  const slow = call(pool, { path: '/delay/1000' });
  const queued = call(pool, { path: '/delay/0' });
  assert.equal(pool.queued, 1);
  assert.equal((await slow).err?.kind, 'timeout');
  assert.equal((await queued).err?.kind, 'timeout');
  assert.equal(app.connections, 1, 'the queued request, out of time too, was never sent');
  assert.equal(pool.queued, 0);
  assert.equal(pool.inFlight, 0);
  const fast = [call(pool, { path: '/delay/30' }), call(pool, { path: '/delay/30' })];
  for (const outcome of await Promise.all(fast)) assert.equal(outcome.err, null, 'within the deadline while queued');
});

test('a server destroying the connection mid-response is a reset', TEST_TIMEOUT, async (t) => {
  const app = await httpServer(t, (_req, res) => {
    res.setHeader('content-length', '100000');
    res.write(Buffer.alloc(1000));
    setTimeout(() => res.destroy(), 10);
  });
  const pool = newPool(t, app.port);
  assert.equal((await failure(pool)).kind, 'reset');

  const closing = await rawServer(t, (socket) => socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel'));
  const pool2 = newPool(t, closing.port);
  assert.equal((await failure(pool2)).kind, 'reset');

  const silent = await rawServer(t, (socket) => socket.end());
  const pool3 = newPool(t, silent.port);
  assert.equal((await failure(pool3)).kind, 'reset', 'closed before any byte on a fresh connection');
});

const MALFORMED: Array<[string, string]> = [
  ['not HTTP', 'HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'],
  ['garbage status line', 'hello there\r\n\r\n'],
  ['status code with letters', 'HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n'],
  ['status code out of range', 'HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n'],
  ['header without colon', 'HTTP/1.1 200 OK\r\nX-Broken\r\nContent-Length: 0\r\n\r\n'],
  ['space before colon', 'HTTP/1.1 200 OK\r\nX-Broken : 1\r\nContent-Length: 0\r\n\r\n'],
  ['bare LF inside a value', 'HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2\r\nContent-Length: 0\r\n\r\n'],
  ['obsolete line folding', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  continued\r\nContent-Length: 0\r\n\r\n'],
  ['bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'],
  ['chunk size overflow', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n'],
  ['missing CRLF after chunk', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhelloworld\r\n0\r\n\r\n'],
  ['conflicting content-length', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'],
  ['content-length list disagreeing', 'HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd'],
  ['negative content-length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'],
  ['content-length and chunked', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
  ['unsupported transfer-encoding', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
  ['unrequested 101', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'],
];

test('malformed responses are protocol errors and their sockets are destroyed', TEST_TIMEOUT, async (t) => {
  for (const [what, response] of MALFORMED) {
    const app = await answering(t, response);
    const pool = newPool(t, app.port);
    const err = await failure(pool);
    assert.equal(err.kind, 'protocol', `${what}: ${err.message}`);
    await until(() => app.closed === 1, `the socket to be destroyed after: ${what}`);
  }
});

test('a header block over 64 KiB is a protocol error; a large one under the limit is fine', TEST_TIMEOUT, async (t) => {
  const huge = await answering(t, `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\nContent-Length: 0\r\n\r\n`);
  assert.equal((await failure(newPool(t, huge.port))).kind, 'protocol');
  const endless = await rawServer(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\n');
    for (let i = 0; i < 100; i++) socket.write(`X-Many-${i}: ${'b'.repeat(1000)}\r\n`);
  });
  assert.equal((await failure(newPool(t, endless.port))).kind, 'protocol');

  const value = 'c'.repeat(40 * 1024);
  const large = await answering(t, `HTTP/1.1 200 OK\r\nX-Large: ${value}\r\nContent-Length: 2\r\n\r\nok`);
  const res = await ok(newPool(t, large.port), {});
  assert.equal(header(res.headers, 'x-large'), value);
});

test('responses over maxResponseBytes are too-large, whatever the framing', TEST_TIMEOUT, async (t) => {
  const app = await rawServer(t, (socket, head) => {
    if (head.includes('/length')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n');
    else if (head.includes('/chunked')) socket.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n${'x'.repeat(64)}\r\n40\r\n`);
    else if (head.includes('/close')) socket.end(`HTTP/1.1 200 OK\r\n\r\n${'y'.repeat(150)}`);
    else socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n${'z'.repeat(100)}`);
  });
  const pool = newPool(t, app.port, { maxResponseBytes: 100 });
  for (const path of ['/length', '/chunked', '/close']) assert.equal((await failure(pool, { path })).kind, 'too-large', path);
  assert.equal((await ok(pool, { path: '/exact' })).body.length, 100);
});

// ---- concurrency, abort, close ------------------------------------------------------------------

test('maxConcurrency bounds requests in flight; the rest wait in order', TEST_TIMEOUT, async (t) => {
  let current = 0;
  let peak = 0;
  const order: string[] = [];
  const app = await httpServer(t, (req, res) => {
    current++;
    peak = Math.max(peak, current);
    order.push(req.url ?? '');
    setTimeout(() => {
      current--;
      res.end(req.url);
    }, 30);
  });
  const pool = newPool(t, app.port, { maxConcurrency: 2 });
  const calls = Array.from({ length: 10 }, (_, i) => call(pool, { path: `/${i}` }));
  assert.equal(pool.inFlight, 2);
  assert.equal(pool.queued, 8);
  const outcomes = await Promise.all(calls);
  outcomes.forEach((o, i) => assert.equal(o.res?.body.toString(), `/${i}`));
  assert.equal(peak, 2);
  assert.equal(app.connections, 2);
  assert.equal(pool.inFlight, 0);
  assert.equal(pool.queued, 0);

  order.length = 0;
  const serial = newPool(t, app.port, { maxConcurrency: 1 });
  await Promise.all(Array.from({ length: 5 }, (_, i) => call(serial, { path: `/fifo/${i}` })));
  assert.deepEqual(order, Array.from({ length: 5 }, (_, i) => `/fifo/${i}`), 'FIFO');
});

test('aborting a queued request removes it; its callback is never called', TEST_TIMEOUT, async (t) => {
  const seen: string[] = [];
  let release: () => void = () => {};
  const app = await httpServer(t, (req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/hold') release = () => res.end('held');
    else res.end('ok');
  });
  const pool = newPool(t, app.port, { maxConcurrency: 1 });
  const held = call(pool, { path: '/hold' });
  let called = false;
  const pending = pool.request({ method: 'GET', path: '/aborted', headers: [], body: null }, () => (called = true));
  const after = call(pool, { path: '/after' });
  assert.equal(pool.queued, 2);
  pending.abort();
  pending.abort();
  assert.equal(pool.queued, 1);
  await until(() => seen.length === 1, 'the held request to arrive');
  release();
  assert.equal((await held).res?.body.toString(), 'held');
  assert.equal((await after).res?.body.toString(), 'ok');
  await sleep(30);
  assert.equal(called, false);
  assert.deepEqual(seen, ['/hold', '/after']);
});

test('aborting an in-flight request closes its socket; its callback is never called', TEST_TIMEOUT, async (t) => {
  const app = await httpServer(t, (req, res) => {
    if (req.url !== '/never') res.end('fine');
  });
  const pool = newPool(t, app.port, { maxConcurrency: 1 });
  let called = false;
  const pending = pool.request({ method: 'POST', path: '/never', headers: [], body: Buffer.from('x') }, () => (called = true));
  const queued = call(pool, { path: '/next' });
  await until(() => app.connections === 1, 'the request to reach the app');
  pending.abort();
  assert.equal((await queued).res?.body.toString(), 'fine', 'the freed slot goes to the queued request');
  await until(() => app.closed === 1, 'the aborted socket to close');
  await sleep(30);
  assert.equal(called, false);
  assert.equal(pool.inFlight, 0);
});

test('aborting after completion or after a rejection is harmless', TEST_TIMEOUT, async (t) => {
  const app = await httpServer(t, (_req, res) => res.end('x'));
  const pool = newPool(t, app.port);
  let calls = 0;
  const done = new Promise<void>((resolve) => {
    const pending = pool.request({ method: 'GET', path: '/', headers: [], body: null }, () => {
      calls++;
      pending.abort();
      resolve();
    });
  });
  await done;
  await ok(pool, {});
  assert.equal(calls, 1);
  assert.equal(app.connections, 1, 'the connection was not torn down by the late abort');

  let rejectedCalled = false;
  const rejected = pool.request({ method: 'GET', path: '/\n', headers: [], body: null }, () => (rejectedCalled = true));
  rejected.abort();
  await sleep(10);
  assert.equal(rejectedCalled, false);
});

test('close() waits for in-flight and queued requests, destroys idle sockets and refuses new ones', TEST_TIMEOUT, async (t) => {
  const app = await httpServer(t, (req, res) => setTimeout(() => res.end(req.url), 50));
  const pool = newPool(t, app.port, { maxConcurrency: 1 });
  await ok(pool, { path: '/warm' });
  const first = call(pool, { path: '/first' });
  const second = call(pool, { path: '/second' });
  let closed = false;
  const closing = pool.close().then(() => (closed = true));
  assert.equal((await failure(pool)).kind, 'closed');
  assert.equal((await first).res?.body.toString(), '/first');
  assert.equal(closed, false);
  assert.equal((await second).res?.body.toString(), '/second');
  await closing;
  await until(() => app.closed === app.connections, 'every socket to be closed');
  assert.equal(pool.close(), pool.close(), 'close() is idempotent');
});

test('close() with a grace period fails what is left: in-flight aborted, queued closed', TEST_TIMEOUT, async (t) => {
  const app = await rawServer(t, () => {});
  const pool = newPool(t, app.port, { maxConcurrency: 1, requestTimeoutMs: 0 });
  const inFlight = call(pool, { path: '/stuck' });
  const queued = call(pool, { path: '/waiting' });
  await until(() => app.connections === 1, 'the request to reach the app');
  const started = Date.now();
  await pool.close(50);
  assert.ok(Date.now() - started >= 45);
  assert.equal((await inFlight).err?.kind, 'aborted');
  assert.equal((await queued).err?.kind, 'closed');
  await until(() => app.closed === 1, 'the in-flight socket to be destroyed');
});

test('close() on an idle pool resolves at once and closes idle sockets', TEST_TIMEOUT, async (t) => {
  const app = await httpServer(t, (_req, res) => res.end('x'));
  const pool = newPool(t, app.port);
  await Promise.all([ok(pool, {}), ok(pool, {}), ok(pool, {})]);
  assert.equal(app.connections, 3);
  await pool.close();
  await until(() => app.closed === 3, 'idle sockets to be closed');
});

// ---- parser, fed directly -------------------------------------------------------------------------

function parseWhole(input: Buffer, splits: number[], noBody = false): ResponseParser {
  const parser = new ResponseParser();
  parser.reset(noBody, Infinity);
  // Fed through one scratch buffer that is scribbled over after each call, as the pool's read buffer is.
  const scratch = Buffer.alloc(input.length + 16);
  let from = 0;
  for (const to of [...splits, input.length]) {
    input.copy(scratch, 3, from, to);
    const outcome = parser.execute(scratch, 3, 3 + to - from);
    // CRLF everywhere past the input: a terminator must never be found beyond the bytes given.
    scratch.fill('\r\n');
    if (to === input.length) assert.equal(outcome, PARSE_COMPLETE, `splits ${splits.join(',')}`);
    else assert.equal(outcome, PARSE_INCOMPLETE, `splits ${splits.join(',')}`);
    from = to;
  }
  return parser;
}

test('the parser gives the same result for every way of splitting its input', TEST_TIMEOUT, () => {
  const input = Buffer.from(
    'HTTP/1.1 100 Continue\r\n\r\n' + CHUNKED_WITH_EXTRAS.replace('X-A: 1', 'X-A: 1\r\nX-B:  two  '),
    'latin1',
  );
  const check = (parser: ResponseParser): void => {
    assert.equal(parser.status, 200);
    assert.deepEqual(parser.headers, ['X-A', '1', 'X-B', 'two']);
    assert.equal(parser.takeBody().toString(), 'hello, world');
    assert.equal(parser.keepAlive, true);
  };
  check(parseWhole(input, []));
  for (let a = 1; a < input.length; a++) {
    check(parseWhole(input, [a]));
    for (let b = a + 1; b < input.length; b += 7) check(parseWhole(input, [a, b]));
  }
  check(parseWhole(input, Array.from({ length: input.length - 1 }, (_, i) => i + 1)));

  const fixed = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789', 'latin1');
  for (let a = 1; a < fixed.length; a++) assert.equal(parseWhole(fixed, [a]).takeBody().toString(), '0123456789');
});

test('the parser reports what follows a complete response and stops at the first failure', TEST_TIMEOUT, () => {
  const parser = new ResponseParser();
  parser.reset(false, Infinity);
  const two = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\n', 'latin1');
  assert.equal(parser.execute(two, 0, two.length), PARSE_COMPLETE);
  assert.equal(parser.leftover, 17);

  parser.reset(false, Infinity);
  assert.equal(parser.started, false);
  const bad = Buffer.from('HTTP/1.1 200 OK\r\nX: \u0001\r\n\r\n', 'latin1');
  assert.equal(parser.execute(bad, 0, bad.length), PARSE_FAILED);
  assert.equal(parser.started, true);
  assert.equal(parser.errorKind, 'protocol');
  assert.match(parser.errorMessage, /header value/);
});
