import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startApp, type TestApp } from './support/apps.js';
import { closeHttpAgent, http, json } from './support/http.js';
import { startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';

const VERBS_WITH_BODY = ['POST', 'PUT', 'PATCH', 'DELETE'];
const ALL_VERBS = ['GET', 'HEAD', 'OPTIONS', ...VERBS_WITH_BODY];
const LARGE = Buffer.alloc(12 * 1024 * 1024);
for (let i = 0; i < LARGE.length; i += 4093) LARGE[i] = (i / 4093) % 253;

describe('service invocation', () => {
  const registry = tempDir('invoke');
  let app: TestApp;
  let callee: SidecarProcess;
  let caller: SidecarProcess;

  before(async () => {
    app = await startApp((req, res) => {
      if (req.url === '/large') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(LARGE);
        return;
      }
      if (req.url.startsWith('/status/')) {
        res.writeHead(Number(req.url.slice('/status/'.length)), { 'content-type': 'text/plain', 'x-app': 'yes' });
        res.end(`app says ${req.url}`);
        return;
      }
      res.setHeader('x-echo-method', req.method);
      res.setHeader('x-echo-url', req.url);
      res.setHeader('x-echo-headers', JSON.stringify(req.headers));
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      if (req.headers['content-type'] !== undefined) res.setHeader('content-type', req.headers['content-type']);
      res.writeHead(201);
      res.end(req.method === 'HEAD' ? undefined : req.body);
    });
    const args = ['--max-body-size', '16Mi'];
    callee = await startSidecar({ appId: 'callee', appPort: app.port, registryDir: registry.path, args });
    caller = await startSidecar({ appId: 'caller', registryDir: registry.path, args });
  });

  after(async () => {
    await Promise.all([callee?.stop(), caller?.stop()]);
    await app?.close();
    closeHttpAgent();
    registry.remove();
  });

  for (const [label, sidecar] of [
    ['self-invoke', () => callee],
    ['caller -> callee', () => caller],
  ] as const) {
    describe(label, () => {
      for (const verb of ALL_VERBS) {
        it(`${verb}: path, query, headers, body and status pass through`, async () => {
          const body = VERBS_WITH_BODY.includes(verb) ? `{"verb":"${verb}"}` : undefined;
          const res = await http(sidecar().url('/v1.0/invoke/callee/method/orders/a%20b/42?x=1&y=two&x=3'), {
            method: verb,
            headers: { 'x-custom': 'v1', 'content-type': 'application/json', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'k=v' },
            body,
          });
          assert.equal(res.status, 201);
          assert.equal(res.headers['x-echo-method'], verb);
          assert.equal(res.headers['x-echo-url'], '/orders/a%20b/42?x=1&y=two&x=3');
          assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2']);
          const seen = JSON.parse(String(res.headers['x-echo-headers'])) as Record<string, string>;
          assert.equal(seen['x-custom'], 'v1');
          assert.equal(seen.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
          assert.equal(seen.tracestate, 'k=v');
          assert.equal(seen['dapr-caller-app-id'], label === 'self-invoke' ? 'callee' : 'caller');
          assert.equal(seen['dapr-callee-app-id'], 'callee');
          assert.equal(seen.connection === undefined || seen.connection === 'keep-alive', true);
          if (verb !== 'HEAD') assert.equal(res.body.toString(), body ?? '');
        });
      }

      it('keeps binary bodies byte for byte', async () => {
        const bytes = Buffer.alloc(256 * 4);
        for (let i = 0; i < bytes.length; i++) bytes[i] = i % 256;
        const res = await http(sidecar().url('/v1.0/invoke/callee/method/bin'), {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream' },
          body: bytes,
        });
        assert.equal(res.status, 201);
        assert.equal(res.headers['content-type'], 'application/octet-stream');
        assert.deepEqual(res.body, bytes);
      });

      it('carries 5 MiB bodies both ways', async () => {
        const big = Buffer.alloc(5 * 1024 * 1024);
        for (let i = 0; i < big.length; i += 997) big[i] = (i / 997) % 251;
        const res = await http(sidecar().url('/v1.0/invoke/callee/method/big'), { method: 'PUT', body: big });
        assert.equal(res.status, 201);
        assert.equal(res.body.length, big.length);
        assert.ok(res.body.equals(big));
      });

      for (const status of [404, 500, 503]) {
        it(`passes the app's own ${status} through, not as a sidecar error`, async () => {
          const res = await http(sidecar().url(`/v1.0/invoke/callee/method/status/${status}`));
          assert.equal(res.status, status);
          assert.equal(res.headers['x-app'], 'yes');
          assert.equal(res.body.toString(), `app says /status/${status}`);
        });
      }

      it('accepts the dapr-app-id header form and app.namespace ids', async () => {
        const viaHeader = await http(sidecar().url('/some/path?q=1'), { method: 'POST', headers: { 'dapr-app-id': 'callee' }, body: 'hi' });
        assert.equal(viaHeader.status, 201);
        assert.equal(viaHeader.headers['x-echo-url'], '/some/path?q=1');
        assert.equal(viaHeader.body.toString(), 'hi');
        const withNamespace = await http(sidecar().url('/v1.0/invoke/callee.default/method/ns'));
        assert.equal(withNamespace.status, 201);
        assert.equal(withNamespace.headers['x-echo-url'], '/ns');
      });

      it('answers an unknown app id with 404 ERR_DIRECT_INVOKE', async () => {
        const res = await http(sidecar().url('/v1.0/invoke/nobody/method/x'));
        assert.equal(res.status, 404);
        const body = json(res) as { errorCode: string; message: string };
        assert.equal(body.errorCode, 'ERR_DIRECT_INVOKE');
        assert.match(body.message, /nobody/);
      });
    });
  }

  it('answers an unrouted path without dapr-app-id with 404 ERR_DIRECT_INVOKE', async () => {
    const res = await http(caller.url('/not/a/route'));
    assert.equal(res.status, 404);
    assert.equal((json(res) as { errorCode: string }).errorCode, 'ERR_DIRECT_INVOKE');
  });

  it('rejects malformed app ids with ERR_DIRECT_INVOKE', async () => {
    const res = await http(caller.url('/v1.0/invoke/a.b.c/method/x'));
    assert.equal(res.status, 400);
    assert.equal((json(res) as { errorCode: string }).errorCode, 'ERR_DIRECT_INVOKE');
  });

  it('answers a body over the limit with 413 in Dapr error shape, with or without Content-Length', async () => {
    const declared = await rawExchange(caller.ports.http, (socket) => {
      socket.write(`POST /v1.0/invoke/callee/method/x HTTP/1.1\r\nHost: x\r\nContent-Length: ${16 * 1024 * 1024 + 1}\r\n\r\n`);
      socket.write(Buffer.alloc(64 * 1024));
    });
    assert.match(declared, /^HTTP\/1\.1 413/);
    assert.match(declared, /"errorCode":"ERR_BODY_TOO_LARGE"/);
    const chunked = await rawExchange(caller.ports.http, (socket) => {
      socket.write('POST /v1.0/invoke/callee/method/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
      const chunk = Buffer.alloc(1024 * 1024, 7);
      for (let i = 0; i < 17; i++) socket.write(`${chunk.length.toString(16)}\r\n`), socket.write(chunk), socket.write('\r\n');
      socket.write('0\r\n\r\n');
    });
    assert.match(chunked, /^HTTP\/1\.1 413/);
    assert.match(chunked, /ERR_BODY_TOO_LARGE/);
    const health = await http(caller.url('/v1.0/healthz/outbound'));
    assert.equal(health.status, 204);
  });

  it('delivers a large response to a slow reader without losing or reordering bytes', async () => {
    for (const sidecar of [callee, caller]) {
      const received = await new Promise<Buffer>((resolve, reject) => {
        const socket = connect(sidecar.ports.http, '127.0.0.1', () => {
          socket.write('GET /v1.0/invoke/callee/method/large HTTP/1.1\r\nHost: x\r\n\r\n');
          socket.pause();
          setTimeout(() => socket.resume(), 400);
        });
        const chunks: Buffer[] = [];
        let total = 0;
        socket.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          total += chunk.length;
          const all = Buffer.concat(chunks);
          const headEnd = all.indexOf('\r\n\r\n');
          if (headEnd !== -1 && total - headEnd - 4 >= LARGE.length) {
            socket.destroy();
            resolve(all.subarray(headEnd + 4));
          }
        });
        socket.on('error', reject);
        setTimeout(() => reject(new Error(`only ${total} bytes arrived`)), 15_000).unref();
      });
      assert.equal(received.length, LARGE.length);
      assert.ok(received.equals(LARGE));
    }
  });

  it('answers pipelined keep-alive requests in order', async () => {
    const answer = await rawExchange(caller.ports.http, (socket) => {
      socket.write(
        'GET /v1.0/healthz/outbound HTTP/1.1\r\nHost: x\r\n\r\n' +
          'PUT /v1.0/metadata/pipelined HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n1\r\nf\r\n0\r\n\r\n' +
          'GET /v1.0/metadata HTTP/1.1\r\nHost: x\r\n\r\n',
      );
    }, 3);
    const statuses = [...answer.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    assert.deepEqual(statuses, ['204', '204', '200']);
    assert.match(answer, /"pipelined":"def"/);
  });

  it('closes a connection that pipelines behind a pending invocation, and keeps serving', async () => {
    // uWebSockets.js closes a connection when a request arrives while an earlier one on it is still being
    // answered; RFC 9112 lets a server do that, and a pipelining client retries on a new connection.
    const answer = await rawExchange(caller.ports.http, (socket) => {
      socket.write(
        'POST /v1.0/invoke/callee/method/one HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc' +
          'GET /v1.0/invoke/callee/method/two HTTP/1.1\r\nHost: x\r\n\r\n',
      );
    }, 2);
    const urls = [...answer.matchAll(/x-echo-url: (\S+)/gi)].map((m) => m[1]);
    assert.ok(urls.length === 0 || urls.join() === '/one,/two', `answers must be complete and in order, got ${urls.join()}`);
    const after = await http(caller.url('/v1.0/invoke/callee/method/after'), { method: 'POST', body: 'ok' });
    assert.equal(after.status, 201);
    assert.equal(after.body.toString(), 'ok');
  });
});

/** Writes a raw request and collects the raw answer until `responses` status lines arrived (or the socket closed). */
function rawExchange(port: number, write: (socket: import('node:net').Socket) => void, responses = 1): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer: ${data.slice(0, 500)}`));
    }, 10_000);
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(data);
    };
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if ((data.match(/HTTP\/1\.1 \d{3}/g) ?? []).length >= responses && /\r\n\r\n[\s\S]*$/.test(data)) {
        setTimeout(finish, 50);
      }
    });
    socket.on('error', () => finish());
    socket.on('close', finish);
    socket.on('connect', () => write(socket));
  });
}
