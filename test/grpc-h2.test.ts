import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import http2, { constants as h2, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import {
  InternalInvokeRequestSchema,
  InternalInvokeResponseSchema,
  type InternalInvokeRequest,
  type InternalInvokeResponse,
} from '../gen/proto/dapr/proto/internals/v1/service_invocation_pb.js';
import { encodeGrpcMessage } from '../proxy/grpc/call-status.js';
import { CONNECTION_PREFACE, ErrorCode, Flag, FrameType, Setting } from '../proxy/grpc/h2/frames.js';
import { HpackDecoder, encodeHeaderBlock } from '../proxy/grpc/h2/hpack.js';
import {
  GrpcCallError,
  H2UnaryClient,
  H2UnaryServer,
  type GrpcMetadata,
  type H2UnaryClientOptions,
  type UnaryCallback,
  type UnaryHandler,
  type UnaryReply,
} from '../proxy/grpc/h2/transport.js';
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

/** The calling surface of H2UnaryClient, so helpers can also take a client under construction. */
interface Caller {
  call(path: string, message: Uint8Array, metadata: GrpcMetadata | null, deadlineMs: number, onDone: UnaryCallback): { cancel(): void };
}

function invoke(client: Caller, path: string, message: Uint8Array, opts: { metadata?: GrpcMetadata; deadlineMs?: number } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    client.call(path, message, opts.metadata ?? null, opts.deadlineMs ?? 0, (err, response) => resolve({ err, response }));
  });
}

async function startServer(t: TestContext, handlers: Record<string, UnaryHandler>, maxMessageBytes = MiB, port = 0) {
  const server = new H2UnaryServer(new Map(Object.entries(handlers)), { maxMessageBytes });
  const bound = await server.listen(LOOPBACK, port);
  t.after(() => server.close(0));
  return { server, port: bound };
}

function newClient(t: TestContext, port: number, opts: Partial<H2UnaryClientOptions> = {}): H2UnaryClient {
  const client = new H2UnaryClient(`${LOOPBACK}:${port}`, { maxMessageBytes: MiB, ...opts });
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
    await delay(5);
  }
}

function assertStatus(outcome: Outcome, code: number, detailsPattern?: RegExp): void {
  assert.ok(outcome.err instanceof GrpcCallError, `expected gRPC status ${code}, got a response`);
  assert.equal(outcome.err.code, code, `unexpected status: ${outcome.err.message}`);
  assert.equal(outcome.response, null);
  if (detailsPattern !== undefined) assert.match(outcome.err.details, detailsPattern);
}

/** A gRPC length-prefixed message. */
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

/** Counts the TCP connections this process opens from now on. */
function countConnections(t: TestContext): () => number {
  let sockets = 0;
  const onSocket = (): void => void sockets++;
  diagnostics.subscribe('net.client.socket', onSocket);
  t.after(() => diagnostics.unsubscribe('net.client.socket', onSocket));
  return () => sockets;
}

interface RawResult {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders | null;
  data: Buffer;
}

/** A request through node's own HTTP/2 client, for inputs a gRPC client never produces. */
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

/** A node:http2 server playing the peer; returns its port. */
async function startNodeHttp2Server(
  t: TestContext,
  options: http2.ServerOptions,
  onStream: (stream: http2.ServerHttp2Stream, headers: IncomingHttpHeaders) => void,
): Promise<number> {
  const server = http2.createServer(options);
  server.on('stream', onStream);
    const sessions = new Set<http2.ServerHttp2Session>();
    server.on('session', (session) => sessions.add(session));
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    t.after(() => {
      for (const session of sessions) session.destroy();
      return new Promise((resolve) => server.close(resolve));
    });
  return (server.address() as AddressInfo).port;
}

// ---- a hand-driven HTTP/2 peer, for frames no library sends on purpose

interface RawFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

function h2frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

function settingsPayload(entries: Array<[number, number]>): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return payload;
}

function u32(value: number): Buffer {
  const buf = Buffer.alloc(4);
  buf.writeUInt32BE(value);
  return buf;
}

/** Collects the frames a socket receives (after the client preface, when it plays the server). */
class FrameLog {
  readonly frames: RawFrame[] = [];
  closed = false;
  private pending = Buffer.alloc(0);
  private prefaceLeft: number;

  constructor(socket: net.Socket, expectPreface: boolean) {
    this.prefaceLeft = expectPreface ? CONNECTION_PREFACE.length : 0;
    socket.on('data', (chunk: Buffer) => this.push(chunk));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  async next(what: string, match: (f: RawFrame) => boolean, timeoutMs = 3000): Promise<RawFrame> {
    let found: RawFrame | undefined;
    await waitFor(() => (found = this.frames.find(match)) !== undefined, what, timeoutMs);
    return found as RawFrame;
  }

  of(type: number, streamId = -1): RawFrame[] {
    return this.frames.filter((f) => f.type === type && (streamId < 0 || f.streamId === streamId));
  }

  private push(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    if (this.prefaceLeft > 0) {
      const skip = Math.min(this.prefaceLeft, this.pending.length);
      this.prefaceLeft -= skip;
      this.pending = this.pending.subarray(skip);
    }
    while (this.pending.length >= 9) {
      const length = this.pending.readUIntBE(0, 3);
      if (this.pending.length < 9 + length) break;
      this.frames.push({
        type: this.pending[3],
        flags: this.pending[4],
        streamId: this.pending.readUInt32BE(5) & 0x7fffffff,
        payload: Buffer.from(this.pending.subarray(9, 9 + length)),
      });
      this.pending = this.pending.subarray(9 + length);
    }
  }
}

function decodeFields(decoder: HpackDecoder, block: Buffer): Record<string, string> {
  const out: string[] = [];
  const count = decoder.decode(block, 0, block.length, out);
  assert.ok(count >= 0, 'header block decodes');
  const fields: Record<string, string> = {};
  for (let i = 0; i < count; i += 2) fields[out[i]] = out[i + 1];
  return fields;
}

async function rawConnect(t: TestContext, port: number): Promise<{ socket: net.Socket; log: FrameLog }> {
  const socket = net.connect(port, LOOPBACK);
  const log = new FrameLog(socket, false);
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  return { socket, log };
}

const REQUEST_BLOCK = encodeHeaderBlock([
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', CALL_LOCAL],
  [':authority', 'raw'],
  ['content-type', 'application/grpc'],
  ['te', 'trailers'],
]);

describe('H2UnaryClient and H2UnaryServer', { timeout: 60_000 }, () => {
  test('round trip carries message, metadata and deadline; empty messages work', async (t) => {
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
      metadata: { 'dapr-caller-app-id': 'caller', 'x-trace-bin': 'AAEC', 'content-type': 'text/plain', connection: 'close', 'user-agent': 'ua' },
      deadlineMs: 5000,
    });
    assert.equal(outcome.err, null);
    assert.equal(outcome.response?.toString(), 're:hello');
    assert.equal(seen[':path'], CALL_LOCAL);
    assert.equal(seen[':method'], 'POST');
    assert.equal(seen[':authority'], `${LOOPBACK}:${port}`);
    assert.equal(seen['content-type'], 'application/grpc', 'metadata must not override the transport headers');
    assert.equal(seen.te, 'trailers');
    // The first call waits for the connection, so less of its deadline is left when it is sent.
    const timeoutMs = Number(/^(\d+)m$/.exec(String(seen['grpc-timeout']))?.[1]);
    assert.ok(timeoutMs > 4000 && timeoutMs <= 5000, `grpc-timeout ${seen['grpc-timeout']}`);
    assert.equal(seen['dapr-caller-app-id'], 'caller');
    assert.equal(seen['x-trace-bin'], 'AAEC');
    assert.equal(seen['user-agent'], 'ua');
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
    assertStatus(await invoke(client, CALL_LOCAL, Buffer.from('x'), { metadata: { '': 'empty' } }), GrpcStatus.INTERNAL);
    const ok = await invoke(client, CALL_LOCAL, Buffer.from('still fine'));
    assert.equal(ok.response?.toString(), 'still fine');
  });

  test('5 MiB messages in both directions pass the 4 MiB stream windows', async (t) => {
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
    const outcomes = await Promise.all([invoke(client, CALL_LOCAL, payload), invoke(client, CALL_LOCAL, payload)]);
    for (const outcome of outcomes) {
      assert.equal(outcome.err, null);
      assert.ok(outcome.response?.equals(Buffer.from(payload).reverse()), 'client received the response intact');
    }
    assert.ok(requestIntact, 'server received the request intact');
  });

  test('500 concurrent calls share one connection', async (t) => {
    const { server, port } = await startServer(t, {
      [CALL_LOCAL]: (request, _headers, reply) => setImmediate(() => reply(null, Buffer.from(`ok:${request.toString()}`))),
    });
    const connections = countConnections(t);
    const client = newClient(t, port);
    // 2 KiB each: frames are copied into the write slabs, which fill up and roll over many times.
    const body = (i: number): string => `${i}:`.padEnd(2 * KiB, String.fromCharCode(97 + (i % 26)));
    const outcomes = await Promise.all(Array.from({ length: 500 }, (_, i) => invoke(client, CALL_LOCAL, Buffer.from(body(i)))));
    outcomes.forEach((outcome, i) => {
      assert.equal(outcome.err, null);
      assert.equal(outcome.response?.toString(), `ok:${body(i)}`);
    });
    assert.equal(connections(), 1, 'all calls ride on a single connection');
    await waitFor(() => server.inFlight === 0, 'streams to close');
  });

  test('stream ids running out move calls to a fresh connection while the old one finishes', async (t) => {
    const held = holdingHandler();
    const { port } = await startServer(t, { [CALL_LOCAL]: echo, '/test.Svc/Hold': held.handler });
    const connections = countConnections(t);
    const client = newClient(t, port, { streamsPerConnection: 3 });
    const slow = invoke(client, '/test.Svc/Hold', Buffer.from('slow'));
    await waitFor(() => held.replies.length === 1, 'the held call to arrive');
    for (let i = 0; i < 7; i++) assert.equal((await invoke(client, CALL_LOCAL, Buffer.from(`n${i}`))).response?.toString(), `n${i}`);
    assert.equal(connections(), 3, '8 calls at 3 streams per connection');
    held.replies[0](null, Buffer.from('finished on the old connection'));
    assert.equal((await slow).response?.toString(), 'finished on the old connection');
  });

  test('unknown method -> UNIMPLEMENTED without hanging, even with a large body', async (t) => {
    const { port } = await startServer(t, { [CALL_LOCAL]: echo }, 8 * MiB);
    const client = newClient(t, port);
    assertStatus(await invoke(client, '/no.Such/Method', Buffer.from('x')), GrpcStatus.UNIMPLEMENTED, /\/no\.Such\/Method/);
    assertStatus(await invoke(client, '/no.Such/Method', Buffer.alloc(6 * MiB)), GrpcStatus.UNIMPLEMENTED);
    const ok = await invoke(client, CALL_LOCAL, Buffer.from('after'));
    assert.equal(ok.response?.toString(), 'after', 'the connection survives rejected calls');

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
    assertStatus(await invoke(client, CALL_LOCAL, Buffer.alloc(6 * MiB)), GrpcStatus.RESOURCE_EXHAUSTED);
    assertStatus(await invoke(client, '/test.Svc/Big', Buffer.from('x')), GrpcStatus.RESOURCE_EXHAUSTED, /2048 vs\. 1024/);
    const ok = await invoke(client, CALL_LOCAL, Buffer.alloc(KiB, 1));
    assert.equal(ok.response?.length, KiB, 'a message of exactly the limit passes');
  });

  test('client deadline -> DEADLINE_EXCEEDED and the server sees the stream reset', async (t) => {
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
    const first = new H2UnaryServer(new Map([[CALL_LOCAL, echo]]), { maxMessageBytes: KiB });
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
    await delay(50);
    assert.equal(results.length, 1, 'the callback runs exactly once');
    assert.equal((await invoke(client, CALL_LOCAL, Buffer.from('y'), { deadlineMs: 50 })).err?.code, GrpcStatus.DEADLINE_EXCEEDED);
    await waitFor(() => server.inFlight === 0, 'the expired stream to close');
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
    const moduleUrl = new URL('../proxy/grpc/h2/client.js', import.meta.url).href;
    const script = `
      const { H2UnaryClient } = await import(${JSON.stringify(moduleUrl)});
      const client = new H2UnaryClient('${LOOPBACK}:${port}', { maxMessageBytes: 1024 });
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

describe('H2UnaryServer with malformed input', { timeout: 60_000 }, () => {
  const grpcHeaders = { ':path': CALL_LOCAL, 'content-type': 'application/grpc' };

  test('non-gRPC requests get plain HTTP errors; application/grpc+proto is accepted', async (t) => {
    const { port } = await startServer(t, { [CALL_LOCAL]: echo });
    const wrongType = await rawCall(port, { ...grpcHeaders, 'content-type': 'application/json' }, [Buffer.from('{}')]);
    assert.equal(wrongType.headers[':status'], 415);
    const wrongMethod = await rawCall(port, { ...grpcHeaders, ':method': 'GET' }, []);
    assert.equal(wrongMethod.headers[':status'], 405);
    const proto = await rawCall(port, { ...grpcHeaders, 'content-type': 'application/grpc+proto' }, [frame(Buffer.from('p'))]);
    assert.equal(proto.headers[':status'], 200);
    assert.equal(proto.trailers?.['grpc-status'], '0');
    assert.deepEqual(proto.data, frame(Buffer.from('p')));
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

  test('frames cut at any byte, with padding, priority, CONTINUATION and PING', async (t) => {
    const { port } = await startServer(t, { [CALL_LOCAL]: echo });
    const { socket, log } = await rawConnect(t, port);
    const split = 7;
    const message = frame(Buffer.from('a message that arrives a few bytes at a time'));
    const bytes = Buffer.concat([
      CONNECTION_PREFACE,
      h2frame(FrameType.SETTINGS, 0, 0, settingsPayload([[Setting.ENABLE_PUSH, 0]])),
      h2frame(
        FrameType.HEADERS,
        Flag.PADDED | Flag.PRIORITY,
        1,
        Buffer.concat([Buffer.from([3]), Buffer.from([0, 0, 0, 0, 16]), REQUEST_BLOCK.subarray(0, split), Buffer.alloc(3)]),
      ),
      h2frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, REQUEST_BLOCK.subarray(split)),
      h2frame(FrameType.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 16])),
      h2frame(FrameType.DATA, Flag.PADDED, 1, Buffer.concat([Buffer.from([4]), message.subarray(0, 10), Buffer.alloc(4)])),
      h2frame(0xfa, 0, 0, Buffer.from('unknown frame types are ignored')),
      h2frame(FrameType.DATA, Flag.PADDED | Flag.END_STREAM, 1, Buffer.concat([Buffer.from([2]), message.subarray(10), Buffer.alloc(2)])),
      h2frame(FrameType.PING, 0, 0, Buffer.from('12345678')),
    ]);
    for (let i = 0; i < bytes.length; i += 5) {
      socket.write(bytes.subarray(i, i + 5));
      await delay(1);
    }
    const ping = await log.next('PING ACK', (f) => f.type === FrameType.PING);
    assert.equal(ping.flags, Flag.ACK);
    assert.equal(ping.payload.toString(), '12345678');
    await log.next('trailers', (f) => f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0);
    assert.ok(log.frames.some((f) => f.type === FrameType.SETTINGS && f.flags === Flag.ACK), 'our SETTINGS were acknowledged');
    const decoder = new HpackDecoder();
    const [head, trailers] = log.of(FrameType.HEADERS, 1);
    assert.equal(decodeFields(decoder, head.payload)[':status'], '200');
    assert.equal(decodeFields(decoder, trailers.payload)['grpc-status'], '0');
    assert.deepEqual(Buffer.concat(log.of(FrameType.DATA, 1).map((f) => f.payload)), message);
  });

  test('a stream error resets only that stream', async (t) => {
    const held = holdingHandler();
    const { server, port } = await startServer(t, { [CALL_LOCAL]: held.handler });
    const { socket, log } = await rawConnect(t, port);
    socket.write(
      Buffer.concat([
        CONNECTION_PREFACE,
        h2frame(FrameType.SETTINGS, 0, 0),
        h2frame(FrameType.HEADERS, Flag.END_HEADERS, 1, REQUEST_BLOCK),
        h2frame(FrameType.DATA, Flag.END_STREAM, 1, frame(Buffer.from('held'))),
      ]),
    );
    await waitFor(() => held.replies.length === 1, 'the handler to run');
    socket.write(h2frame(FrameType.WINDOW_UPDATE, 0, 1, u32(0)));
    const reset = await log.next('RST_STREAM', (f) => f.type === FrameType.RST_STREAM);
    assert.equal(reset.payload.readUInt32BE(0), ErrorCode.PROTOCOL_ERROR);
    await waitFor(() => server.inFlight === 0, 'the stream to close');
    held.replies[0](null, Buffer.from('dropped'));
    socket.write(h2frame(FrameType.PING, 0, 0, Buffer.from('stillup!')));
    assert.equal((await log.next('PING ACK', (f) => f.type === FrameType.PING)).payload.toString(), 'stillup!');
    assert.equal(log.of(FrameType.DATA).length, 0, 'the late reply was dropped');
  });

  test('connection errors end in GOAWAY and close; other clients are unaffected', async (t) => {
    const { port } = await startServer(t, { [CALL_LOCAL]: echo });
    const client = newClient(t, port);
    const opening = Buffer.concat([CONNECTION_PREFACE, h2frame(FrameType.SETTINGS, 0, 0)]);
    const oversized = Buffer.alloc(9);
    oversized.writeUIntBE(300 * KiB, 0, 3);
    const cases: Array<[string, Buffer, number]> = [
      ['an HTTP/1.1 request instead of the preface', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), ErrorCode.PROTOCOL_ERROR],
      ['a first frame other than SETTINGS', Buffer.concat([CONNECTION_PREFACE, h2frame(FrameType.PING, 0, 0, Buffer.alloc(8))]), ErrorCode.PROTOCOL_ERROR],
      ['DATA on stream 0', Buffer.concat([opening, h2frame(FrameType.DATA, 0, 0, Buffer.from('x'))]), ErrorCode.PROTOCOL_ERROR],
      ['DATA on an idle stream', Buffer.concat([opening, h2frame(FrameType.DATA, 0, 5, Buffer.from('x'))]), ErrorCode.PROTOCOL_ERROR],
      ['a frame above the maximum size', Buffer.concat([opening, oversized]), ErrorCode.FRAME_SIZE_ERROR],
      ['SETTINGS of odd length', Buffer.concat([opening, h2frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5))]), ErrorCode.FRAME_SIZE_ERROR],
      ['an undecodable header block', Buffer.concat([opening, h2frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0x80]))]), ErrorCode.COMPRESSION_ERROR],
      ['a stream opened by the wrong side', Buffer.concat([opening, h2frame(FrameType.HEADERS, Flag.END_HEADERS, 2, REQUEST_BLOCK)]), ErrorCode.PROTOCOL_ERROR],
      [
        'a header block interrupted',
        Buffer.concat([opening, h2frame(FrameType.HEADERS, 0, 1, REQUEST_BLOCK), h2frame(FrameType.PING, 0, 0, Buffer.alloc(8))]),
        ErrorCode.PROTOCOL_ERROR,
      ],
      ['a connection WINDOW_UPDATE of 0', Buffer.concat([opening, h2frame(FrameType.WINDOW_UPDATE, 0, 0, u32(0))]), ErrorCode.PROTOCOL_ERROR],
      ['a PUSH_PROMISE', Buffer.concat([opening, h2frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4))]), ErrorCode.PROTOCOL_ERROR],
    ];
    for (const [name, bytes, code] of cases) {
      const { socket, log } = await rawConnect(t, port);
      socket.write(bytes);
      const goaway = await log.next(`GOAWAY for ${name}`, (f) => f.type === FrameType.GOAWAY);
      assert.equal(goaway.payload.readUInt32BE(4), code, name);
      await waitFor(() => log.closed, `the server to close the connection after ${name}`);
      assert.equal((await invoke(client, CALL_LOCAL, Buffer.from(name))).response?.toString(), name, `still serving after ${name}`);
    }
  });
});

describe('H2UnaryClient against other peers', { timeout: 60_000 }, () => {
  test('honours the peer windows and frame size; reads padding, CONTINUATION; answers PING', async (t) => {
    const accepted: net.Socket[] = [];
    const rawServer = net.createServer((socket) => accepted.push(socket));
    await new Promise<void>((resolve) => rawServer.listen(0, LOOPBACK, resolve));
    t.after(() => {
      for (const socket of accepted) socket.destroy();
      return new Promise((resolve) => rawServer.close(resolve));
    });
    const client = newClient(t, (rawServer.address() as AddressInfo).port);
    const request = randomBytes(1000);
    const first = invoke(client, CALL_LOCAL, request);
    await waitFor(() => accepted.length === 1, 'the client to connect');
    const socket = accepted[0];
    const log = new FrameLog(socket, true);
    socket.write(h2frame(FrameType.SETTINGS, 0, 0, settingsPayload([[Setting.INITIAL_WINDOW_SIZE, 100]])));
    await log.next('SETTINGS ACK', (f) => f.type === FrameType.SETTINGS && f.flags === Flag.ACK);
    const dataBytes = (streamId: number): number => log.of(FrameType.DATA, streamId).reduce((sum, f) => sum + f.payload.length, 0);
    await waitFor(() => dataBytes(1) === 100, 'the first 100 bytes');
    await delay(50);
    assert.equal(dataBytes(1), 100, 'nothing beyond the stream window');
    socket.write(h2frame(FrameType.WINDOW_UPDATE, 0, 1, u32(300)));
    await waitFor(() => dataBytes(1) === 400, 'the next 300 bytes');
    await delay(50);
    assert.equal(dataBytes(1), 400, 'a window opened part way is used, then waited on again');
    socket.write(h2frame(FrameType.WINDOW_UPDATE, 0, 1, u32(5000)));
    await log.next('END_STREAM', (f) => f.type === FrameType.DATA && (f.flags & Flag.END_STREAM) !== 0);
    assert.deepEqual(Buffer.concat(log.of(FrameType.DATA, 1).map((f) => f.payload)), frame(request));

    socket.write(h2frame(FrameType.PING, 0, 0, Buffer.from('pingpong')));
    assert.equal((await log.next('PING ACK', (f) => f.type === FrameType.PING)).payload.toString(), 'pingpong');

    const head = encodeHeaderBlock([
      [':status', '200'],
      ['content-type', 'application/grpc'],
    ]);
    const response = frame(Buffer.from('response in padded pieces'));
    socket.write(
      Buffer.concat([
        h2frame(FrameType.HEADERS, Flag.PADDED | Flag.PRIORITY, 1, Buffer.concat([Buffer.from([2]), Buffer.alloc(5), head.subarray(0, 3), Buffer.alloc(2)])),
        h2frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, head.subarray(3)),
        h2frame(FrameType.DATA, Flag.PADDED, 1, Buffer.concat([Buffer.from([7]), response.subarray(0, 4), Buffer.alloc(7)])),
        h2frame(FrameType.DATA, 0, 1, response.subarray(4)),
        h2frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, encodeHeaderBlock([['grpc-status', '0']])),
      ]),
    );
    const outcome = await first;
    assert.equal(outcome.err, null);
    assert.equal(outcome.response?.toString(), 'response in padded pieces');

    // Larger windows, default 16 KiB frames: a 40 KiB message and 20 KiB of metadata must be cut to fit.
    // Lowering the header table size obliges the encoder to announce a table size update.
    const settings = settingsPayload([
      [Setting.INITIAL_WINDOW_SIZE, MiB],
      [Setting.HEADER_TABLE_SIZE, 0],
    ]);
    socket.write(h2frame(FrameType.SETTINGS, 0, 0, settings));
    const acks = (): number => log.of(FrameType.SETTINGS).filter((f) => f.flags === Flag.ACK).length;
    await waitFor(() => acks() === 2, 'the new settings to be acknowledged');
    const second = invoke(client, CALL_LOCAL, Buffer.alloc(40 * KiB, 1), { metadata: { 'x-big': 'v'.repeat(20 * KiB) } });
    await log.next('second request', (f) => f.type === FrameType.DATA && f.streamId === 3 && (f.flags & Flag.END_STREAM) !== 0);
    const [headers] = log.of(FrameType.HEADERS, 3);
    assert.equal(headers.flags & Flag.END_HEADERS, 0, 'the header block continues');
    assert.equal(headers.payload[0], 0x20, 'the block opens with a table size update to 0');
    const continuations = log.of(FrameType.CONTINUATION, 3);
    assert.ok(continuations.length >= 1 && (continuations[continuations.length - 1].flags & Flag.END_HEADERS) !== 0);
    const decoded = decodeFields(new HpackDecoder(), Buffer.concat([headers.payload, ...continuations.map((f) => f.payload)]));
    assert.equal(decoded['x-big'].length, 20 * KiB);
    for (const f of log.frames) assert.ok(f.payload.length <= 16 * KiB, 'no frame above the peer maximum');
    assert.equal(dataBytes(3), 40 * KiB + 5);
    socket.write(h2frame(FrameType.RST_STREAM, 0, 3, u32(ErrorCode.REFUSED_STREAM)));
    assertStatus(await second, GrpcStatus.UNAVAILABLE, /reset with code 7/);

    // A response without :status fails the call and resets its stream.
    const third = invoke(client, CALL_LOCAL, Buffer.from('x'));
    await log.next('third request', (f) => f.type === FrameType.HEADERS && f.streamId === 5);
    socket.write(h2frame(FrameType.HEADERS, Flag.END_HEADERS, 5, encodeHeaderBlock([['content-type', 'application/grpc']])));
    assertStatus(await third, GrpcStatus.INTERNAL, /malformed response headers/);
    const malformedReset = await log.next('RST_STREAM', (f) => f.type === FrameType.RST_STREAM && f.streamId === 5);
    assert.equal(malformedReset.payload.readUInt32BE(0), ErrorCode.PROTOCOL_ERROR);

    // A protocol violation by the server: the client answers with GOAWAY and fails what was in flight.
    const fourth = invoke(client, CALL_LOCAL, Buffer.from('x'));
    await log.next('fourth request', (f) => f.type === FrameType.HEADERS && f.streamId === 7);
    socket.write(h2frame(FrameType.DATA, 0, 9, Buffer.from('idle stream')));
    assertStatus(await fourth, GrpcStatus.UNAVAILABLE, /protocol error/);
    assert.equal((await log.next('GOAWAY', (f) => f.type === FrameType.GOAWAY)).payload.readUInt32BE(4), ErrorCode.PROTOCOL_ERROR);
  });

  test('GOAWAY from the peer: streams up to its last id finish, later ones fail UNAVAILABLE, new calls reconnect', async (t) => {
    const held: http2.ServerHttp2Stream[] = [];
    const port = await startNodeHttp2Server(t, {}, (stream, headers) => {
      stream.on('error', () => {});
      stream.resume();
      if (headers[':path'] !== '/hold') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true });
        return;
      }
      held.push(stream);
      if (held.length === 2) stream.session?.goaway(h2.NGHTTP2_NO_ERROR, held[0].id);
    });
    const connections = countConnections(t);
    const client = newClient(t, port);
    const first = invoke(client, '/hold', Buffer.from('1'));
    await waitFor(() => held.length === 1, 'the first stream');
    const second = invoke(client, '/hold', Buffer.from('2'));
    assertStatus(await second, GrpcStatus.UNAVAILABLE, /GOAWAY/);
    held[0].respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    held[0].on('wantTrailers', () => held[0].sendTrailers({ 'grpc-status': '0' }));
    held[0].end(frame(Buffer.from('below the last stream id')));
    assert.equal((await first).response?.toString(), 'below the last stream id');
    assertStatus(await invoke(client, '/trailers-only', Buffer.from('x')), GrpcStatus.UNIMPLEMENTED, /no message/);
    assert.equal(connections(), 2, 'the call after GOAWAY opened a new connection');
  });

  test('maps HTTP statuses, resets, missing statuses and bad framing from a padding node:http2 server', async (t) => {
    const port = await startNodeHttp2Server(t, { paddingStrategy: h2.PADDING_STRATEGY_MAX }, (stream, headers) => {
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
    const client = newClient(t, port);
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
    assert.equal(after.response?.toString(), 'dribbled', 'a new connection replaces the dropped one');
  });
});

describe('interoperability', { timeout: 60_000 }, () => {
  const serializeRequest = (value: InternalInvokeRequest): Buffer => Buffer.from(toBinary(InternalInvokeRequestSchema, value));
  const deserializeRequest = (bytes: Buffer): InternalInvokeRequest => fromBinary(InternalInvokeRequestSchema, bytes);
  const serializeResponse = (value: InternalInvokeResponse): Buffer => Buffer.from(toBinary(InternalInvokeResponseSchema, value));
  const deserializeResponse = (bytes: Buffer): InternalInvokeResponse => fromBinary(InternalInvokeResponseSchema, bytes);
  const invokeRequest = (method: string, data: Uint8Array = new Uint8Array(0)): InternalInvokeRequest =>
    create(InternalInvokeRequestSchema, {
      ver: 1,
      message: { method, contentType: 'application/octet-stream', data: { typeUrl: '', value: data } },
    });
  const invokeResponse = (request: InternalInvokeRequest, callerId: string): InternalInvokeResponse =>
    create(InternalInvokeResponseSchema, {
      status: { code: 200, message: 'OK' },
      message: { contentType: `handled ${request.message?.method} for ${callerId}`, data: request.message?.data },
    });

  /** The CallLocal handler every server flavour runs: echoes the data, fails on request. */
  const callLocal: UnaryHandler = (request, headers, reply) => {
    const decoded = fromBinary(InternalInvokeRequestSchema, request);
    if (decoded.message?.method === 'fail') {
      reply(new GrpcCallError(GrpcStatus.FAILED_PRECONDITION, UNICODE_DETAILS));
      return;
    }
    reply(null, toBinary(InternalInvokeResponseSchema, invokeResponse(decoded, String(headers['dapr-caller-app-id']))));
  };

  /** Runs the CallLocal conversation through any client against a server running `callLocal`. */
  async function conversation(client: Caller, bigBytes: number): Promise<void> {
    const send = (method: string, data?: Uint8Array) =>
      invoke(client, CALL_LOCAL, toBinary(InternalInvokeRequestSchema, invokeRequest(method, data)), {
        metadata: { 'dapr-caller-app-id': 'checkout' },
        deadlineMs: 10_000,
      });
    const ok = await send('orders', Buffer.from('payload'));
    assert.equal(ok.err, null);
    const response = fromBinary(InternalInvokeResponseSchema, ok.response as Buffer);
    assert.equal(response.status?.code, 200);
    assert.equal(response.message?.contentType, 'handled orders for checkout');
    assert.equal(Buffer.from(response.message?.data?.value ?? []).toString(), 'payload');

    const failed = await send('fail');
    assertStatus(failed, GrpcStatus.FAILED_PRECONDITION);
    assert.equal(failed.err?.details, UNICODE_DETAILS);
    assertStatus(await invoke(client, '/no.Such/Method', Buffer.from('x')), GrpcStatus.UNIMPLEMENTED);

    const big = randomBytes(bigBytes);
    const bigOutcome = await send('big', big);
    assert.equal(bigOutcome.err, null, bigOutcome.err?.message);
    assert.ok(Buffer.from(fromBinary(InternalInvokeResponseSchema, bigOutcome.response as Buffer).message?.data?.value ?? []).equals(big));

    const many = await Promise.all(Array.from({ length: 100 }, (_, i) => send(`m${i}`)));
    many.forEach((outcome, i) => {
      assert.equal(outcome.err, null);
      assert.equal(fromBinary(InternalInvokeResponseSchema, outcome.response as Buffer).message?.contentType, `handled m${i} for checkout`);
    });
  }

  async function startGrpcJsServer(t: TestContext, options: grpc.ServerOptions, onCall?: () => Promise<void>): Promise<number> {
    const server = new grpc.Server(options);
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
          const answer = (): void => {
            if (call.request.message?.method === 'fail') {
              callback({ code: grpc.status.FAILED_PRECONDITION, details: UNICODE_DETAILS });
              return;
            }
            callback(null, invokeResponse(call.request, String(call.metadata.get('dapr-caller-app-id')[0])));
          };
          if (onCall === undefined) answer();
          else void onCall().then(answer);
        },
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${LOOPBACK}:0`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    t.after(() => server.forceShutdown());
    return port;
  }

  test('H2UnaryClient -> @grpc/grpc-js server', async (t) => {
    const port = await startGrpcJsServer(t, { 'grpc.max_receive_message_length': 8 * MiB, 'grpc.max_send_message_length': 8 * MiB });
    const client = newClient(t, port, { maxMessageBytes: 8 * MiB });
    await conversation(client, 5 * MiB);
  });

  test('H2UnaryClient -> @grpc/grpc-js server: oversize both ways', async (t) => {
    const port = await startGrpcJsServer(t, { 'grpc.max_receive_message_length': KiB });
    const client = newClient(t, port, { maxMessageBytes: KiB });
    const big = toBinary(InternalInvokeRequestSchema, invokeRequest('big', Buffer.alloc(2 * KiB)));
    assertStatus(await invoke(client, CALL_LOCAL, big), GrpcStatus.RESOURCE_EXHAUSTED);
    // The response repeats the caller id from the metadata: it outgrows the request and the client's limit.
    const request = toBinary(InternalInvokeRequestSchema, invokeRequest('m', Buffer.alloc(700)));
    const metadata = { 'dapr-caller-app-id': 'c'.repeat(500) };
    assertStatus(await invoke(client, CALL_LOCAL, request, { metadata }), GrpcStatus.RESOURCE_EXHAUSTED, /vs\. 1024/);
  });

  test('H2UnaryClient queues beyond the peer MAX_CONCURRENT_STREAMS', async (t) => {
    let active = 0;
    let peak = 0;
    const port = await startGrpcJsServer(t, { 'grpc.max_concurrent_streams': 4 }, async () => {
      peak = Math.max(peak, ++active);
      await delay(10);
      active--;
    });
    const client = newClient(t, port);
    const calls = Array.from({ length: 40 }, (_, i) => invoke(client, CALL_LOCAL, toBinary(InternalInvokeRequestSchema, invokeRequest(`q${i}`))));
    client.close(); // calls already made, queued or not, still complete
    for (const outcome of await Promise.all(calls)) assert.equal(outcome.err, null, outcome.err?.message);
    assert.ok(peak <= 4, `at most 4 calls at the server at once, saw ${peak}`);
    assert.equal(peak, 4, 'the limit is used fully');
  });

  test('@grpc/grpc-js client -> H2UnaryServer', async (t) => {
    const held = holdingHandler();
    const { server, port } = await startServer(t, { [CALL_LOCAL]: callLocal, '/test.Svc/Hold': held.handler }, 8 * MiB);
    const client = new grpc.Client(`${LOOPBACK}:${port}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 8 * MiB,
      'grpc.max_send_message_length': 8 * MiB,
    });
    t.after(() => client.close());
    const call = (path: string, request: InternalInvokeRequest, deadlineMs = 5000) =>
      new Promise<{ err: grpc.ServiceError | null; response?: InternalInvokeResponse }>((resolve) => {
        const metadata = new grpc.Metadata();
        metadata.set('dapr-caller-app-id', 'checkout');
        client.makeUnaryRequest(path, serializeRequest, deserializeResponse, request, metadata, { deadline: Date.now() + deadlineMs }, (err, response) =>
          resolve({ err, response }),
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
    const big = randomBytes(5 * MiB);
    const bigOutcome = await call(CALL_LOCAL, invokeRequest('big', big));
    assert.ok(Buffer.from(bigOutcome.response?.message?.data?.value ?? []).equals(big));
    const many = await Promise.all(Array.from({ length: 100 }, (_, i) => call(CALL_LOCAL, invokeRequest(`m${i}`))));
    many.forEach((outcome, i) => assert.equal(outcome.response?.message?.contentType, `handled m${i} for checkout`));
    assert.equal((await call('/test.Svc/Hold', invokeRequest('slow'), 100)).err?.code, grpc.status.DEADLINE_EXCEEDED);
    await waitFor(() => server.inFlight === 0, 'the expired call to close');

    const small = new grpc.Client(`${LOOPBACK}:${port}`, grpc.credentials.createInsecure());
    t.after(() => small.close());
    const oversize = await new Promise<grpc.ServiceError | null>((resolve) =>
      small.makeUnaryRequest(CALL_LOCAL, serializeRequest, deserializeResponse, invokeRequest('big', randomBytes(5 * MiB)), (err) =>
        resolve(err),
      ),
    );
    assert.equal(oversize?.code, grpc.status.RESOURCE_EXHAUSTED, 'a response above the client limit');
  });

  test('node:http2 client -> H2UnaryServer: Huffman-coded, indexed metadata arrives intact', async (t) => {
    const seen: IncomingHttpHeaders[] = [];
    const { port } = await startServer(t, { [CALL_LOCAL]: (request, headers, reply) => void (seen.push(headers), reply(null, request)) });
    const session = http2.connect(`http://${LOOPBACK}:${port}`);
    session.on('error', () => {});
    t.after(() => session.close());
    const values = Array.from({ length: 20 }, () => randomBytes(48).toString('base64'));
    for (const [i, value] of values.entries()) {
      // Repeated names and values go through nghttp2's dynamic table; values are Huffman-coded when shorter.
      const stream = session.request({
        ':method': 'POST',
        ':path': CALL_LOCAL,
        'content-type': 'application/grpc',
        te: 'trailers',
        'x-random': value,
        'x-repeated': 'the same value every time',
        'x-index': String(i),
      });
      stream.on('error', () => {});
      stream.resume();
      stream.end(frame(Buffer.from(value)));
      await once(stream, 'close');
    }
    assert.equal(seen.length, values.length);
    seen.forEach((headers, i) => {
      assert.equal(headers['x-random'], values[i]);
      assert.equal(headers['x-repeated'], 'the same value every time');
      assert.equal(headers['x-index'], String(i));
    });
  });
});
