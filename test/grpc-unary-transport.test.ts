import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import http2, { constants as h2, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import {
  InternalInvokeRequestSchema,
  InternalInvokeResponseSchema,
  type InternalInvokeRequest,
  type InternalInvokeResponse,
} from '../gen/proto/dapr/proto/internals/v1/service_invocation_pb.js';
import { decodeGrpcMessage, encodeGrpcMessage, encodeGrpcTimeout, parseGrpcTimeout } from '../proxy/grpc/call-status.js';
import { FrameProblem, UnaryMessageReader } from '../proxy/grpc/framing.js';
import {
  GrpcCallError,
  UnaryClient,
  UnaryServer,
  type GrpcMetadata,
  type UnaryHandler,
  type UnaryReply,
} from '../proxy/grpc/unary-transport.js';
import { GrpcStatus } from '../proxy/runtime/errors.js';

const LOOPBACK = '127.0.0.1';
const CALL_LOCAL = '/dapr.proto.internals.v1.ServiceInvocation/CallLocal';
const KiB = 1024;
const MiB = 1024 * 1024;
const UNICODE_DETAILS = 'état 100% raté – 失败 ✓\nzweite Zeile';

interface Outcome {
  err: GrpcCallError | null;
  response: Buffer | null;
}

function invoke(
  client: UnaryClient,
  path: string,
  message: Uint8Array,
  opts: { metadata?: GrpcMetadata; deadlineMs?: number } = {},
): Promise<Outcome> {
  return new Promise((resolve) => {
    client.call(path, message, opts.metadata ?? null, opts.deadlineMs ?? 0, (err, response) => resolve({ err, response }));
  });
}

async function startServer(
  t: TestContext,
  handlers: Record<string, UnaryHandler>,
  maxMessageBytes = MiB,
  port = 0,
): Promise<{ server: UnaryServer; port: number }> {
  const server = new UnaryServer(new Map(Object.entries(handlers)), { maxMessageBytes });
  const bound = await server.listen(LOOPBACK, port);
  t.after(() => server.close(0));
  return { server, port: bound };
}

function newClient(t: TestContext, port: number, opts: { maxMessageBytes?: number; connectTimeoutMs?: number } = {}): UnaryClient {
  const client = new UnaryClient(`${LOOPBACK}:${port}`, { maxMessageBytes: opts.maxMessageBytes ?? MiB, ...opts });
  t.after(() => client.close());
  return client;
}

const echo: UnaryHandler = (request, _headers, reply) => reply(null, request);

/** A handler that never answers by itself; the test decides when (or whether) to reply. */
function holdingHandler(): { handler: UnaryHandler; replies: UnaryReply[] } {
  const replies: UnaryReply[] = [];
  return { handler: (_request, _headers, reply) => void replies.push(reply), replies };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function assertStatus(outcome: Outcome, code: number, detailsPattern?: RegExp): void {
  assert.ok(outcome.err instanceof GrpcCallError, `expected gRPC status ${code}, got a response`);
  assert.equal(outcome.err.code, code, `unexpected status: ${outcome.err.message}`);
  assert.equal(outcome.response, null);
  if (detailsPattern !== undefined) assert.match(outcome.err.details, detailsPattern);
}

function frame(message: Uint8Array, compressed = false): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = compressed ? 1 : 0;
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, LOOPBACK, resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

interface RawResult {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders | null;
  data: Buffer;
}

/** A hand-written HTTP/2 request, for inputs a well-behaved client never produces. */
async function rawCall(port: number, headers: OutgoingHttpHeaders, body: Buffer[]): Promise<RawResult> {
  const session = http2.connect(`http://${LOOPBACK}:${port}`);
  session.on('error', () => {});
  try {
    return await new Promise<RawResult>((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', te: 'trailers', ...headers });
      let responseHeaders: IncomingHttpHeaders = {};
      let trailers: IncomingHttpHeaders | null = null;
      const chunks: Buffer[] = [];
      stream.on('response', (h) => (responseHeaders = h));
      stream.on('trailers', (h) => (trailers = h));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', reject);
      stream.on('close', () => resolve({ headers: responseHeaders, trailers, data: Buffer.concat(chunks) }));
      for (const chunk of body) stream.write(chunk);
      stream.end();
    });
  } finally {
    session.close();
  }
}

describe('framing and status codecs', { timeout: 30_000 }, () => {
  test('a message split at every possible point is reassembled', () => {
    const message = Buffer.from('split me anywhere, please');
    const framed = frame(message);
    for (let a = 0; a <= framed.length; a++) {
      for (let b = a; b <= framed.length; b++) {
        const reader = new UnaryMessageReader(KiB);
        for (const part of [framed.subarray(0, a), framed.subarray(a, b), framed.subarray(b)]) {
          if (part.length > 0) assert.equal(reader.push(part), FrameProblem.NONE);
        }
        assert.equal(reader.finish(), FrameProblem.NONE);
        assert.deepEqual(reader.message, message);
      }
    }
  });

  test('the reader reports every malformed body', () => {
    const problem = (limit: number, ...parts: Buffer[]): number => {
      const reader = new UnaryMessageReader(limit);
      for (const part of parts) {
        const found = reader.push(part);
        if (found !== FrameProblem.NONE) return found;
      }
      return reader.finish();
    };
    assert.equal(problem(KiB, frame(Buffer.from('x'), true)), FrameProblem.COMPRESSED);
    assert.equal(problem(4, frame(Buffer.from('12345'))), FrameProblem.TOO_LARGE);
    assert.equal(problem(KiB, frame(Buffer.from('a')), frame(Buffer.from('b'))), FrameProblem.EXTRA_MESSAGE);
    assert.equal(problem(KiB), FrameProblem.NO_MESSAGE);
    assert.equal(problem(KiB, frame(Buffer.from('abcdef')).subarray(0, 7)), FrameProblem.TRUNCATED);
    assert.equal(problem(KiB, Buffer.from([0, 0])), FrameProblem.TRUNCATED);
    assert.equal(problem(KiB, frame(Buffer.alloc(0))), FrameProblem.NONE);
  });

  test('grpc-message is percent-encoded UTF-8 and decoding tolerates junk', () => {
    assert.equal(encodeGrpcMessage('plain text'), 'plain text');
    assert.equal(encodeGrpcMessage('100% ü\n'), '100%25 %C3%BC%0A');
    assert.equal(decodeGrpcMessage(encodeGrpcMessage(UNICODE_DETAILS)), UNICODE_DETAILS);
    assert.match(encodeGrpcMessage(UNICODE_DETAILS), /^[\x20-\x7e]*$/);
    assert.equal(decodeGrpcMessage('bad %zz and %4'), 'bad %zz and %4');
    assert.equal(decodeGrpcMessage(undefined), '');
  });

  test('grpc-timeout uses at most 8 digits and parses every unit', () => {
    assert.equal(encodeGrpcTimeout(123), '123m');
    assert.equal(encodeGrpcTimeout(0.2), '1m');
    assert.equal(encodeGrpcTimeout(100_000_000), '100000S');
    assert.equal(encodeGrpcTimeout(1e14), '27777778H');
    assert.equal(encodeGrpcTimeout(1e18), '99999999H');
    assert.equal(parseGrpcTimeout('2S'), 2000);
    assert.equal(parseGrpcTimeout('1H'), 3_600_000);
    assert.equal(parseGrpcTimeout('3M'), 180_000);
    assert.equal(parseGrpcTimeout('1500u'), 1.5);
    assert.equal(parseGrpcTimeout('5000000n'), 5);
    assert.equal(parseGrpcTimeout('123456789m'), -1);
    assert.equal(parseGrpcTimeout('soon'), -1);
  });
});

describe('UnaryClient and UnaryServer', { timeout: 30_000 }, () => {
  test('round trip carries message, metadata and deadline', async (t) => {
    let seen: IncomingHttpHeaders = {};
    const { port } = await startServer(t, {
      [CALL_LOCAL]: (request, headers, reply) => {
        seen = headers;
        reply(null, Buffer.concat([Buffer.from('re:'), request]));
      },
      '/test.Svc/Empty': (request, _headers, reply) => reply(null, request.length === 0 ? undefined : request),
    });
    const client = newClient(t, port);
    const outcome = await invoke(client, CALL_LOCAL, Buffer.from('hello'), {
      metadata: { 'dapr-caller-app-id': 'caller', 'x-trace-bin': 'AAEC', 'content-type': 'text/plain', connection: 'close' },
      deadlineMs: 5000,
    });
    assert.equal(outcome.err, null);
    assert.equal(outcome.response?.toString(), 're:hello');
    assert.equal(seen[':path'], CALL_LOCAL);
    assert.equal(seen['content-type'], 'application/grpc', 'metadata must not override the transport headers');
    assert.equal(seen.te, 'trailers');
    assert.equal(seen['grpc-timeout'], '5000m');
    assert.equal(seen['dapr-caller-app-id'], 'caller');
    assert.equal(seen['x-trace-bin'], 'AAEC');
    assert.equal(seen.connection, undefined);

    const farDeadline = await invoke(client, CALL_LOCAL, Buffer.from('later'), { deadlineMs: 1e12 });
    assert.equal(farDeadline.response?.toString(), 're:later', 'deadlines beyond timer range must not fire at once');
    assert.equal(seen['grpc-timeout'], '277778H');

    const empty = await invoke(client, '/test.Svc/Empty', new Uint8Array(0));
    assert.equal(empty.err, null);
    assert.equal(empty.response?.length, 0);
  });

  test('invalid metadata fails only that call', async (t) => {
    const { port } = await startServer(t, { [CALL_LOCAL]: echo });
    const client = newClient(t, port);
    assertStatus(await invoke(client, CALL_LOCAL, Buffer.from('x'), { metadata: { 'Bad Key': 'v' } }), GrpcStatus.INTERNAL, /Bad Key/);
    assertStatus(await invoke(client, CALL_LOCAL, Buffer.from('x'), { metadata: { 'x-v': 'line\nbreak' } }), GrpcStatus.INTERNAL, /x-v/);
    assertStatus(await invoke(client, CALL_LOCAL, Buffer.from('x'), { metadata: { ':path': '/evil' } }), GrpcStatus.INTERNAL);
    const ok = await invoke(client, CALL_LOCAL, Buffer.from('still fine'));
    assert.equal(ok.response?.toString(), 'still fine');
  });

  test('5 MiB messages in both directions', async (t) => {
    const payload = randomBytes(5 * MiB);
    let requestIntact = false;
    const { port } = await startServer(
      t,
      {
        [CALL_LOCAL]: (request, _headers, reply) => {
          requestIntact = request.equals(payload);
          reply(null, Buffer.from(request).reverse());
        },
      },
      8 * MiB,
    );
    const client = newClient(t, port, { maxMessageBytes: 8 * MiB });
    const outcome = await invoke(client, CALL_LOCAL, payload);
    assert.equal(outcome.err, null);
    assert.ok(requestIntact, 'server received the request intact');
    assert.ok(outcome.response?.equals(Buffer.from(payload).reverse()), 'client received the response intact');
  });

  test('200 concurrent calls share one session', async (t) => {
    const { server, port } = await startServer(t, {
      [CALL_LOCAL]: (request, _headers, reply) => setImmediate(() => reply(null, Buffer.from(`ok:${request.toString()}`))),
    });
    let sockets = 0;
    const countSocket = (): void => void sockets++;
    diagnostics.subscribe('net.client.socket', countSocket);
    t.after(() => diagnostics.unsubscribe('net.client.socket', countSocket));
    const client = newClient(t, port);
    const outcomes = await Promise.all(Array.from({ length: 200 }, (_, i) => invoke(client, CALL_LOCAL, Buffer.from(String(i)))));
    outcomes.forEach((outcome, i) => {
      assert.equal(outcome.err, null);
      assert.equal(outcome.response?.toString(), `ok:${i}`);
    });
    assert.equal(sockets, 1, 'all calls ride on a single connection');
    await waitFor(() => server.inFlight === 0, 'streams to close');
  });

  test('unknown method -> UNIMPLEMENTED without hanging, even with a large body', async (t) => {
    const { port } = await startServer(t, { [CALL_LOCAL]: echo }, 8 * MiB);
    const client = newClient(t, port);
    assertStatus(await invoke(client, '/no.Such/Method', Buffer.from('x')), GrpcStatus.UNIMPLEMENTED, /\/no\.Such\/Method/);
    assertStatus(await invoke(client, '/no.Such/Method', Buffer.alloc(2 * MiB)), GrpcStatus.UNIMPLEMENTED);
    const ok = await invoke(client, CALL_LOCAL, Buffer.from('after'));
    assert.equal(ok.response?.toString(), 'after', 'the session survives rejected calls');

    const raw = await rawCall(port, { ':path': '/no.Such/Method', 'content-type': 'application/grpc' }, [frame(Buffer.from('x'))]);
    assert.equal(raw.headers['grpc-status'], '12', 'trailers-only response carries the status in the headers');
    assert.equal(raw.data.length, 0);
  });

  test('handler errors keep their code and unicode message; a throwing handler -> UNKNOWN', async (t) => {
    const { port } = await startServer(t, {
      '/test.Svc/Fail': (_request, _headers, reply) => reply(new GrpcCallError(GrpcStatus.NOT_FOUND, UNICODE_DETAILS)),
      '/test.Svc/ErrorWithOk': (_request, _headers, reply) => reply(new GrpcCallError(GrpcStatus.OK, 'confused')),
      '/test.Svc/Throw': () => {
        throw new Error('handler bug');
      },
    });
    const client = newClient(t, port);
    const failed = await invoke(client, '/test.Svc/Fail', Buffer.from('x'));
    assertStatus(failed, GrpcStatus.NOT_FOUND);
    assert.equal(failed.err?.details, UNICODE_DETAILS);
    assertStatus(await invoke(client, '/test.Svc/Throw', Buffer.from('x')), GrpcStatus.UNKNOWN, /handler bug/);
    assertStatus(await invoke(client, '/test.Svc/ErrorWithOk', Buffer.from('x')), GrpcStatus.UNKNOWN, /confused/);

    const raw = await rawCall(port, { ':path': '/test.Svc/Fail', 'content-type': 'application/grpc' }, [frame(Buffer.from('x'))]);
    assert.equal(raw.headers['grpc-message'], encodeGrpcMessage(UNICODE_DETAILS));
  });

  test('oversize messages -> RESOURCE_EXHAUSTED in both directions', async (t) => {
    const { port } = await startServer(
      t,
      {
        [CALL_LOCAL]: echo,
        '/test.Svc/Big': (_request, _headers, reply) => reply(null, Buffer.alloc(2 * KiB)),
      },
      KiB,
    );
    const client = newClient(t, port, { maxMessageBytes: KiB });
    assertStatus(await invoke(client, CALL_LOCAL, Buffer.alloc(2 * KiB)), GrpcStatus.RESOURCE_EXHAUSTED, /2048 vs\. 1024/);
    assertStatus(await invoke(client, CALL_LOCAL, Buffer.alloc(4 * MiB)), GrpcStatus.RESOURCE_EXHAUSTED);
    assertStatus(await invoke(client, '/test.Svc/Big', Buffer.from('x')), GrpcStatus.RESOURCE_EXHAUSTED, /2048 vs\. 1024/);
    const ok = await invoke(client, CALL_LOCAL, Buffer.alloc(KiB, 1));
    assert.equal(ok.response?.length, KiB, 'a message of exactly the limit passes');
  });

  test('client deadline -> DEADLINE_EXCEEDED and the server sees the stream cancelled', async (t) => {
    const held = holdingHandler();
    const { server, port } = await startServer(t, { [CALL_LOCAL]: held.handler });
    const client = newClient(t, port);
    const started = Date.now();
    assertStatus(await invoke(client, CALL_LOCAL, Buffer.from('x'), { deadlineMs: 100 }), GrpcStatus.DEADLINE_EXCEEDED);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 90 && elapsed < 2000, `deadline fired after ${elapsed} ms`);
    await waitFor(() => server.inFlight === 0, 'the cancelled stream to close');
    held.replies[0](null, Buffer.from('too late')); // must be ignored safely
  });

  test('server enforces grpc-timeout when the handler is late', async (t) => {
    const held = holdingHandler();
    const { server, port } = await startServer(t, { [CALL_LOCAL]: held.handler });
    const started = Date.now();
    const raw = await rawCall(port, { ':path': CALL_LOCAL, 'content-type': 'application/grpc', 'grpc-timeout': '80m' }, [
      frame(Buffer.from('x')),
    ]);
    assert.equal(raw.headers['grpc-status'], String(GrpcStatus.DEADLINE_EXCEEDED));
    assert.ok(Date.now() - started < 2000);
    await waitFor(() => server.inFlight === 0, 'the expired stream to close');
    held.replies[0](null, Buffer.from('too late'));
    held.replies[0](new GrpcCallError(GrpcStatus.INTERNAL, 'twice'));
  });

  test('server down -> UNAVAILABLE quickly, on every attempt', async (t) => {
    const client = newClient(t, await freePort());
    for (let attempt = 0; attempt < 2; attempt++) {
      const started = Date.now();
      assertStatus(await invoke(client, CALL_LOCAL, Buffer.from('x'), { deadlineMs: 10_000 }), GrpcStatus.UNAVAILABLE, /ECONNREFUSED/);
      assert.ok(Date.now() - started < 2000);
    }
  });

  test('a peer that accepts TCP but never speaks HTTP/2 -> UNAVAILABLE after the connect timeout', async (t) => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, LOOPBACK, resolve));
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => silent.close(resolve));
    });
    const client = newClient(t, (silent.address() as AddressInfo).port, { connectTimeoutMs: 150 });
    const started = Date.now();
    assertStatus(await invoke(client, CALL_LOCAL, Buffer.from('x')), GrpcStatus.UNAVAILABLE, /not established within 150 ms/);
    assert.ok(Date.now() - started < 2000);
  });

  test('server restarted on the same port -> the next call reconnects transparently', async (t) => {
    const first = new UnaryServer(new Map([[CALL_LOCAL, echo]]), { maxMessageBytes: KiB });
    const port = await first.listen(LOOPBACK, 0);
    t.after(() => first.close(0));
    const client = newClient(t, port);
    assert.equal((await invoke(client, CALL_LOCAL, Buffer.from('one'))).response?.toString(), 'one');
    await first.close(100);
    assertStatus(await invoke(client, CALL_LOCAL, Buffer.from('down')), GrpcStatus.UNAVAILABLE);

    await startServer(t, { [CALL_LOCAL]: (request, _h, reply) => reply(null, Buffer.from(`second:${request.toString()}`)) }, KiB, port);
    assert.equal((await invoke(client, CALL_LOCAL, Buffer.from('two'))).response?.toString(), 'second:two');
  });

  test('graceful close lets calls in flight finish and refuses new ones', async (t) => {
    const { server, port } = await startServer(t, {
      [CALL_LOCAL]: (request, _headers, reply) => setTimeout(() => reply(null, request), 150),
    });
    const client = newClient(t, port);
    const calls = [1, 2, 3].map((i) => invoke(client, CALL_LOCAL, Buffer.from(`in-flight-${i}`)));
    await waitFor(() => server.inFlight === 3, 'three calls in flight');
    const started = Date.now();
    const closed = server.close(5000);
    assertStatus(await invoke(client, CALL_LOCAL, Buffer.from('late')), GrpcStatus.UNAVAILABLE);
    const outcomes = await Promise.all(calls);
    outcomes.forEach((outcome, i) => assert.equal(outcome.response?.toString(), `in-flight-${i + 1}`));
    await closed;
    assert.ok(Date.now() - started < 2000, 'close resolves once the calls are done, not at the end of the grace period');
    assert.equal(server.inFlight, 0);
  });

  test('close destroys calls still running after the grace period', async (t) => {
    const held = holdingHandler();
    const { server, port } = await startServer(t, { [CALL_LOCAL]: held.handler });
    const client = newClient(t, port);
    const calls = [invoke(client, CALL_LOCAL, Buffer.from('a')), invoke(client, CALL_LOCAL, Buffer.from('b'))];
    await waitFor(() => held.replies.length === 2, 'both handlers to run');
    const started = Date.now();
    await server.close(100);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 90 && elapsed < 2000, `close took ${elapsed} ms`);
    for (const outcome of await Promise.all(calls)) assertStatus(outcome, GrpcStatus.UNAVAILABLE);
    for (const reply of held.replies) reply(null, Buffer.from('after teardown'));
    assert.equal(server.inFlight, 0);
  });

  test('cancel before the reply: CANCELLED once, stream reset, late reply ignored', async (t) => {
    const held = holdingHandler();
    const { server, port } = await startServer(t, { [CALL_LOCAL]: held.handler });
    const client = newClient(t, port);
    const results: Outcome[] = [];
    const call = client.call(CALL_LOCAL, Buffer.from('x'), null, 0, (err, response) => results.push({ err, response }));
    await waitFor(() => held.replies.length === 1, 'the handler to run');
    call.cancel();
    assert.equal(results.length, 1);
    assertStatus(results[0], GrpcStatus.CANCELLED);
    await waitFor(() => server.inFlight === 0, 'the server stream to close');
    held.replies[0](null, Buffer.from('too late'));
    call.cancel();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(results.length, 1, 'the callback runs exactly once');
    assert.equal((await invoke(client, CALL_LOCAL, Buffer.from('y'), { deadlineMs: 50 })).err?.code, GrpcStatus.DEADLINE_EXCEEDED);
  });

  test('calls after close() fail with UNAVAILABLE, asynchronously', async (t) => {
    const { port } = await startServer(t, { [CALL_LOCAL]: echo });
    const client = newClient(t, port);
    client.close();
    assert.ok(client.closed);
    let sync = true;
    const outcome = await new Promise<Outcome>((resolve) => {
      client.call(CALL_LOCAL, Buffer.from('x'), null, 0, (err, response) => {
        assert.equal(sync, false, 'callback must not run synchronously');
        resolve({ err, response });
      });
      sync = false;
    });
    assertStatus(outcome, GrpcStatus.UNAVAILABLE, /closed/);
  });

  test('an idle client does not keep the process alive', async (t) => {
    const { port } = await startServer(t, { [CALL_LOCAL]: echo });
    const moduleUrl = new URL('../proxy/grpc/unary-transport.js', import.meta.url).href;
    const script = `
      const { UnaryClient } = await import(${JSON.stringify(moduleUrl)});
      const client = new UnaryClient('${LOOPBACK}:${port}', { maxMessageBytes: 1024 });
      client.call('${CALL_LOCAL}', Buffer.from('child'), null, 5000, (err, response) => {
        process.stdout.write(err ? 'error ' + err.message : response.toString());
      });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
    t.after(() => {
      clearTimeout(killTimer);
      child.kill('SIGKILL');
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on('exit', (c, s) => resolve([c, s])),
    );
    assert.equal(output, 'child');
    assert.equal(signal, null, 'the child exited by itself instead of being killed');
    assert.equal(code, 0);
  });
});

describe('UnaryServer rejects malformed calls', { timeout: 30_000 }, () => {
  const grpcHeaders = { ':path': CALL_LOCAL, 'content-type': 'application/grpc' };

  test('non-gRPC requests get plain HTTP errors', async (t) => {
    const { port } = await startServer(t, { [CALL_LOCAL]: echo });
    const wrongType = await rawCall(port, { ...grpcHeaders, 'content-type': 'application/json' }, [Buffer.from('{}')]);
    assert.equal(wrongType.headers[':status'], 415);
    const wrongMethod = await rawCall(port, { ...grpcHeaders, ':method': 'GET' }, []);
    assert.equal(wrongMethod.headers[':status'], 405);
  });

  test('application/grpc+proto is accepted', async (t) => {
    const { port } = await startServer(t, { [CALL_LOCAL]: echo });
    const raw = await rawCall(port, { ...grpcHeaders, 'content-type': 'application/grpc+proto' }, [frame(Buffer.from('p'))]);
    assert.equal(raw.headers[':status'], 200);
    assert.equal(raw.trailers?.['grpc-status'], '0');
    assert.deepEqual(raw.data, frame(Buffer.from('p')));
  });

  test('bad bodies and headers get a gRPC status', async (t) => {
    const { server, port } = await startServer(t, { [CALL_LOCAL]: echo });
    const cases: Array<[string, OutgoingHttpHeaders, Buffer[], number]> = [
      ['compressed flag', grpcHeaders, [frame(Buffer.from('x'), true)], GrpcStatus.INTERNAL],
      ['two messages', grpcHeaders, [frame(Buffer.from('a')), frame(Buffer.from('b'))], GrpcStatus.UNIMPLEMENTED],
      ['no message', grpcHeaders, [], GrpcStatus.UNIMPLEMENTED],
      ['truncated message', grpcHeaders, [frame(Buffer.from('abcdef')).subarray(0, 8)], GrpcStatus.INTERNAL],
      ['unsupported encoding', { ...grpcHeaders, 'grpc-encoding': 'gzip' }, [frame(Buffer.from('x'))], GrpcStatus.UNIMPLEMENTED],
      ['malformed timeout', { ...grpcHeaders, 'grpc-timeout': 'soon' }, [frame(Buffer.from('x'))], GrpcStatus.INTERNAL],
    ];
    for (const [name, headers, body, code] of cases) {
      const raw = await rawCall(port, headers, body);
      const status = raw.headers['grpc-status'] ?? raw.trailers?.['grpc-status'];
      assert.equal(status, String(code), name);
      if (name === 'unsupported encoding') assert.equal(raw.headers['grpc-accept-encoding'], 'identity');
    }
    await waitFor(() => server.inFlight === 0, 'all rejected streams to close');
  });
});

describe('UnaryClient against a misbehaving server', { timeout: 30_000 }, () => {
  test('maps HTTP statuses, resets, missing statuses and bad framing', async (t) => {
    const server = http2.createServer();
    server.on('stream', (stream, headers) => {
      stream.on('error', () => {});
      stream.resume();
      const grpcOk = { ':status': 200, 'content-type': 'application/grpc' };
      const sendWithTrailers = (chunks: Buffer[], trailers: OutgoingHttpHeaders): void => {
        stream.respond(grpcOk, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers(trailers));
        const writeNext = (i: number): void => {
          if (i === chunks.length) {
            stream.end();
            return;
          }
          stream.write(chunks[i], () => setImmediate(writeNext, i + 1));
        };
        writeNext(0);
      };
      switch (headers[':path']) {
        case '/http503':
          return stream.respond({ ':status': 503 }, { endStream: true });
        case '/http404':
          return stream.respond({ ':status': 404 }, { endStream: true });
        case '/html':
          stream.respond({ ':status': 200, 'content-type': 'text/html' });
          return stream.end('<html></html>');
        case '/byte-by-byte':
          return sendWithTrailers([...frame(Buffer.from('dribbled'))].map((b) => Buffer.from([b])), { 'grpc-status': '0' });
        case '/no-status':
          return sendWithTrailers([frame(Buffer.from('x'))], {});
        case '/no-message':
          return sendWithTrailers([], { 'grpc-status': '0' });
        case '/two-messages':
          return sendWithTrailers([frame(Buffer.from('a')), frame(Buffer.from('b'))], { 'grpc-status': '0' });
        case '/compressed':
          return sendWithTrailers([frame(Buffer.from('a'), true)], { 'grpc-status': '0' });
        case '/reset-before-response':
          return stream.close(h2.NGHTTP2_INTERNAL_ERROR);
        case '/reset-after-headers':
          stream.respond(grpcOk);
          return stream.write(Buffer.from([0, 0]), () => stream.destroy(new Error('server gave up')));
        case '/drop-connection':
          return stream.session?.destroy();
        default:
          return stream.respond({ ...grpcOk, 'grpc-status': '5', 'grpc-message': 'gone%20away' }, { endStream: true });
      }
    });
    // server.close() waits for every accepted connection, but the client's idle session is only closed
    // by an after-hook that runs later (hooks run in registration order): end the sessions here.
    const sessions = new Set<http2.ServerHttp2Session>();
    server.on('session', (session) => sessions.add(session));
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    t.after(() => {
      for (const session of sessions) session.destroy();
      return new Promise((resolve) => server.close(resolve));
    });
    const client = newClient(t, (server.address() as AddressInfo).port);
    const expect = async (path: string, code: number, details?: RegExp): Promise<void> => {
      const outcome = await invoke(client, path, Buffer.from('req'), { deadlineMs: 3000 });
      assert.ok(outcome.err !== null, `${path} should fail`);
      assert.equal(outcome.err.code, code, `${path}: ${outcome.err.message}`);
      if (details !== undefined) assert.match(outcome.err.details, details, path);
    };

    const dribbled = await invoke(client, '/byte-by-byte', Buffer.from('req'));
    assert.equal(dribbled.err, null);
    assert.equal(dribbled.response?.toString(), 'dribbled');
    await expect('/trailers-only', GrpcStatus.NOT_FOUND, /^gone away$/);
    await expect('/http503', GrpcStatus.UNAVAILABLE, /503/);
    await expect('/http404', GrpcStatus.UNIMPLEMENTED);
    await expect('/html', GrpcStatus.UNKNOWN, /content-type/);
    await expect('/no-status', GrpcStatus.UNKNOWN, /grpc-status/);
    await expect('/no-message', GrpcStatus.UNIMPLEMENTED);
    await expect('/two-messages', GrpcStatus.UNIMPLEMENTED);
    await expect('/compressed', GrpcStatus.INTERNAL);
    await expect('/reset-before-response', GrpcStatus.UNAVAILABLE);
    await expect('/reset-after-headers', GrpcStatus.INTERNAL, new RegExp(`code ${h2.NGHTTP2_INTERNAL_ERROR}`));
    await expect('/drop-connection', GrpcStatus.UNAVAILABLE);
    const after = await invoke(client, '/byte-by-byte', Buffer.from('req'));
    assert.equal(after.response?.toString(), 'dribbled', 'a new session replaces the dropped one');
  });
});

describe('interoperability with @grpc/grpc-js', { timeout: 30_000 }, () => {
  const serializeRequest = (value: InternalInvokeRequest): Buffer => Buffer.from(toBinary(InternalInvokeRequestSchema, value));
  const deserializeRequest = (bytes: Buffer): InternalInvokeRequest => fromBinary(InternalInvokeRequestSchema, bytes);
  const serializeResponse = (value: InternalInvokeResponse): Buffer => Buffer.from(toBinary(InternalInvokeResponseSchema, value));
  const deserializeResponse = (bytes: Buffer): InternalInvokeResponse => fromBinary(InternalInvokeResponseSchema, bytes);
  const invokeRequest = (method: string, data = new Uint8Array(0)): InternalInvokeRequest =>
    create(InternalInvokeRequestSchema, {
      ver: 1,
      message: { method, contentType: 'application/octet-stream', data: { typeUrl: '', value: data } },
    });
  const invokeResponse = (request: InternalInvokeRequest, callerId: string): InternalInvokeResponse =>
    create(InternalInvokeResponseSchema, {
      status: { code: 200, message: 'OK' },
      message: { contentType: `handled ${request.message?.method} for ${callerId}`, data: request.message?.data },
    });

  test('UnaryClient -> @grpc/grpc-js server', async (t) => {
    const server = new grpc.Server({ 'grpc.max_receive_message_length': KiB });
    server.addService(
      {
        CallLocal: {
          path: CALL_LOCAL,
          requestStream: false,
          responseStream: false,
          requestSerialize: serializeRequest,
          requestDeserialize: deserializeRequest,
          responseSerialize: serializeResponse,
          responseDeserialize: deserializeResponse,
        },
      },
      {
        CallLocal: (
          call: grpc.ServerUnaryCall<InternalInvokeRequest, InternalInvokeResponse>,
          callback: grpc.sendUnaryData<InternalInvokeResponse>,
        ) => {
          if (call.request.message?.method === 'fail') {
            callback({ code: grpc.status.PERMISSION_DENIED, details: UNICODE_DETAILS });
            return;
          }
          callback(null, invokeResponse(call.request, String(call.metadata.get('dapr-caller-app-id')[0])));
        },
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${LOOPBACK}:0`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    t.after(() => server.forceShutdown());
    const client = newClient(t, port);

    const request = invokeRequest('orders', Buffer.from('payload'));
    const ok = await invoke(client, CALL_LOCAL, toBinary(InternalInvokeRequestSchema, request), {
      metadata: { 'dapr-caller-app-id': 'checkout' },
      deadlineMs: 5000,
    });
    assert.equal(ok.err, null);
    const response = fromBinary(InternalInvokeResponseSchema, ok.response as Buffer);
    assert.equal(response.status?.code, 200);
    assert.equal(response.message?.contentType, 'handled orders for checkout');
    assert.equal(Buffer.from(response.message?.data?.value ?? []).toString(), 'payload');

    const failed = await invoke(client, CALL_LOCAL, toBinary(InternalInvokeRequestSchema, invokeRequest('fail')));
    assertStatus(failed, GrpcStatus.PERMISSION_DENIED);
    assert.equal(failed.err?.details, UNICODE_DETAILS);
    assertStatus(await invoke(client, '/no.Such/Method', Buffer.from('x')), GrpcStatus.UNIMPLEMENTED);
    const big = toBinary(InternalInvokeRequestSchema, invokeRequest('big', Buffer.alloc(2 * KiB)));
    assertStatus(await invoke(client, CALL_LOCAL, big), GrpcStatus.RESOURCE_EXHAUSTED);
  });

  test('@grpc/grpc-js client -> UnaryServer', async (t) => {
    const held = holdingHandler();
    const { port } = await startServer(
      t,
      {
        [CALL_LOCAL]: (request, headers, reply) => {
          const decoded = fromBinary(InternalInvokeRequestSchema, request);
          if (decoded.message?.method === 'fail') {
            reply(new GrpcCallError(GrpcStatus.FAILED_PRECONDITION, UNICODE_DETAILS));
            return;
          }
          reply(null, toBinary(InternalInvokeResponseSchema, invokeResponse(decoded, String(headers['dapr-caller-app-id']))));
        },
        '/test.Svc/Hold': held.handler,
      },
      KiB,
    );
    const client = new grpc.Client(`${LOOPBACK}:${port}`, grpc.credentials.createInsecure());
    t.after(() => client.close());
    const call = (path: string, request: InternalInvokeRequest, deadlineMs = 5000) =>
      new Promise<{ err: grpc.ServiceError | null; response?: InternalInvokeResponse }>((resolve) => {
        const metadata = new grpc.Metadata();
        metadata.set('dapr-caller-app-id', 'checkout');
        client.makeUnaryRequest(
          path,
          serializeRequest,
          deserializeResponse,
          request,
          metadata,
          { deadline: Date.now() + deadlineMs },
          (err, response) => resolve({ err, response }),
        );
      });

    const ok = await call(CALL_LOCAL, invokeRequest('orders', Buffer.from('payload')));
    assert.equal(ok.err, null);
    assert.equal(ok.response?.message?.contentType, 'handled orders for checkout');
    assert.equal(Buffer.from(ok.response?.message?.data?.value ?? []).toString(), 'payload');

    const failed = await call(CALL_LOCAL, invokeRequest('fail'));
    assert.equal(failed.err?.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(failed.err?.details, UNICODE_DETAILS);
    assert.equal((await call('/no.Such/Method', invokeRequest('x'))).err?.code, grpc.status.UNIMPLEMENTED);
    assert.equal((await call(CALL_LOCAL, invokeRequest('big', Buffer.alloc(2 * KiB)))).err?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal((await call('/test.Svc/Hold', invokeRequest('slow'), 100)).err?.code, grpc.status.DEADLINE_EXCEEDED);
    const again = await call(CALL_LOCAL, invokeRequest('again'));
    assert.equal(again.response?.message?.contentType, 'handled again for checkout');
  });
});
