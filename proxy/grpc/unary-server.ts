// Unary gRPC server on node:http2: routes each call by :path to a handler that receives the request
// message bytes and replies once.

import http2, {
  constants as h2,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { GrpcStatus } from '../runtime/errors.js';
import { createLogger } from '../runtime/logger.js';
import { GrpcCallError, MAX_TIMER_MS, encodeGrpcMessage, frameProblemError, parseGrpcTimeout } from './call-status.js';
import { FrameProblem, UnaryMessageReader, endWithMessage } from './framing.js';
import { LOCAL_SETTINGS, sessionMemoryMb, widenConnectionWindow } from './session-settings.js';

export type UnaryReply = (err: GrpcCallError | null, response?: Uint8Array) => void;

/**
 * Handles one call. `reply` must be called once; calls after the client cancelled, the deadline passed
 * or the server was torn down are ignored.
 */
export type UnaryHandler = (request: Buffer, headers: IncomingHttpHeaders, reply: UnaryReply) => void;

export interface UnaryServerOptions {
  /** Largest request message accepted; a bigger one is answered with RESOURCE_EXHAUSTED. */
  maxMessageBytes: number;
}

const log = createLogger('grpc.server');

const OK_HEADERS = Object.freeze({ ':status': 200, 'content-type': 'application/grpc' });
const OK_TRAILERS = Object.freeze({ 'grpc-status': '0' });
const RESPOND_THEN_TRAILERS = Object.freeze({ waitForTrailers: true, sendDate: false });
const RESPOND_AND_END = Object.freeze({ endStream: true, sendDate: false });
const EMPTY_RESPONSE = new Uint8Array(0);

const kCall = Symbol('serverCall');
type CallStream = ServerHttp2Stream & { [kCall]: ServerCall };

function isGrpcContentType(value: string): boolean {
  return (
    value === 'application/grpc' ||
    value === 'application/grpc+proto' ||
    value.startsWith('application/grpc;') ||
    value.startsWith('application/grpc+proto;')
  );
}

/** Open-stream count shared by a server and its calls. */
interface StreamCount {
  open: number;
}

class ServerCall {
  private done = false;
  private timer: NodeJS.Timeout | null = null;
  private reader: UnaryMessageReader | null = null;
  private handler: UnaryHandler | null = null;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly headers: IncomingHttpHeaders,
    private readonly maxMessageBytes: number,
    private readonly streams: StreamCount,
  ) {
    streams.open++;
  }

  receive(handler: UnaryHandler, timeoutMs: number): void {
    this.handler = handler;
    this.reader = new UnaryMessageReader(this.maxMessageBytes);
    if (timeoutMs >= 0 && timeoutMs <= MAX_TIMER_MS) this.timer = setTimeout(onDeadline, timeoutMs, this);
    this.stream.on('data', onRequestData);
    this.stream.on('end', onRequestEnd);
  }

  onData(chunk: Buffer): void {
    if (this.done) return;
    const reader = this.reader as UnaryMessageReader;
    const problem = reader.push(chunk);
    if (problem !== FrameProblem.NONE) this.fail(frameProblemError(problem, reader.announcedLength, this.maxMessageBytes));
  }

  onEnd(): void {
    if (this.done) return;
    const reader = this.reader as UnaryMessageReader;
    const problem = reader.finish();
    if (problem !== FrameProblem.NONE) {
      this.fail(frameProblemError(problem, reader.announcedLength, this.maxMessageBytes));
      return;
    }
    try {
      (this.handler as UnaryHandler)(reader.message as Buffer, this.headers, (err, response) => this.reply(err, response));
    } catch (err) {
      this.fail(new GrpcCallError(GrpcStatus.UNKNOWN, `handler failed: ${(err as Error).message}`));
    }
  }

  /** The stream is gone: whatever the handler replies later is dropped. */
  onClose(): void {
    this.streams.open--;
    this.done = true;
    if (this.timer !== null) clearTimeout(this.timer);
  }

  reply(err: GrpcCallError | null, response?: Uint8Array): void {
    if (err !== null) {
      this.fail(err);
      return;
    }
    if (!this.settle()) return;
    const stream = this.stream;
    stream.respond(OK_HEADERS, RESPOND_THEN_TRAILERS);
    stream.on('wantTrailers', sendOkTrailers);
    endWithMessage(stream, response ?? EMPTY_RESPONSE);
  }

  /** Answers with a trailers-only response, then stops any request body still arriving. */
  fail(err: GrpcCallError, extraHeaders?: Readonly<Record<string, string>>): void {
    if (!this.settle()) return;
    const stream = this.stream;
    const headers: Record<string, string | number> = {
      ':status': 200,
      'content-type': 'application/grpc',
      // An "error" carrying OK would read as a successful call without its message.
      'grpc-status': String(err.code === GrpcStatus.OK ? GrpcStatus.UNKNOWN : err.code),
      ...extraHeaders,
    };
    if (err.details !== '') headers['grpc-message'] = encodeGrpcMessage(err.details);
    stream.respond(headers, RESPOND_AND_END);
    stream.close(h2.NGHTTP2_NO_ERROR); // sent after the response is flushed
  }

  /** Answers with a plain HTTP status: the caller is not speaking gRPC. */
  rejectHttp(status: number): void {
    if (!this.settle()) return;
    this.stream.respond({ ':status': status }, RESPOND_AND_END);
    this.stream.close(h2.NGHTTP2_NO_ERROR);
  }

  private settle(): boolean {
    if (this.done) return false;
    this.done = true;
    if (this.timer !== null) clearTimeout(this.timer);
    return !this.stream.destroyed && !this.stream.closed;
  }
}

// Stream listeners are shared functions (the stream is `this`) so a call allocates no closures for them.
function onRequestData(this: CallStream, chunk: Buffer): void {
  this[kCall].onData(chunk);
}
function onRequestEnd(this: CallStream): void {
  this[kCall].onEnd();
}
function onStreamClose(this: CallStream): void {
  this[kCall].onClose();
}
function sendOkTrailers(this: ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}
function ignoreStreamError(): void {
  // Resets and aborted connections surface through 'close'; the listener only keeps them from being uncaught.
}
function onDeadline(call: ServerCall): void {
  call.fail(new GrpcCallError(GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded'));
}

export class UnaryServer {
  private readonly server: Http2Server;
  private readonly sessions = new Set<ServerHttp2Session>();
  private readonly maxMessageBytes: number;
  private readonly streams: StreamCount = { open: 0 };
  private closing: Promise<void> | null = null;

  constructor(
    private readonly handlers: ReadonlyMap<string, UnaryHandler>,
    opts: UnaryServerOptions,
  ) {
    this.maxMessageBytes = opts.maxMessageBytes;
    this.server = http2.createServer({ settings: LOCAL_SETTINGS, maxSessionMemory: sessionMemoryMb(opts.maxMessageBytes) });
    this.server.on('connection', (socket: Socket) => socket.setNoDelay(true));
    this.server.on('session', (session: ServerHttp2Session) => this.track(session));
    this.server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.accept(stream, headers));
    this.server.on('sessionError', (err: Error) => log.debug(`session failed: ${err.message}`));
  }

  /** Calls whose stream is still open (being received, handled or answered). */
  get inFlight(): number {
    return this.streams.open;
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<number> {
    const server = this.server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err: Error) => log.error(`listener failed: ${err.message}`));
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  /**
   * Stops accepting connections and tells every client to open no new streams; calls in flight may
   * finish for up to `graceMs`, after which the remaining connections are torn down.
   */
  close(graceMs: number): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      const forceTimer = setTimeout(() => {
        for (const session of this.sessions) session.destroy();
      }, graceMs);
      this.server.close(() => {
        clearTimeout(forceTimer);
        resolve();
      });
      for (const session of this.sessions) session.close();
    });
    return this.closing;
  }

  private track(session: ServerHttp2Session): void {
    this.sessions.add(session);
    widenConnectionWindow(session);
    session.once('close', () => this.sessions.delete(session));
  }

  private accept(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const call = new ServerCall(stream, headers, this.maxMessageBytes, this.streams);
    (stream as CallStream)[kCall] = call;
    stream.on('error', ignoreStreamError);
    stream.on('close', onStreamClose);

    if (headers[':method'] !== 'POST') return call.rejectHttp(405);
    const contentType = headers['content-type'];
    if (contentType === undefined || !isGrpcContentType(contentType)) return call.rejectHttp(415);
    const encoding = headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      const err = new GrpcCallError(GrpcStatus.UNIMPLEMENTED, `grpc-encoding "${String(encoding)}" is not supported`);
      return call.fail(err, { 'grpc-accept-encoding': 'identity' });
    }
    const path = headers[':path'] as string;
    const handler = this.handlers.get(path);
    if (handler === undefined) {
      return call.fail(new GrpcCallError(GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`));
    }
    const timeout = headers['grpc-timeout'];
    const timeoutMs = timeout === undefined ? -1 : parseGrpcTimeout(String(timeout));
    if (timeout !== undefined && timeoutMs < 0) {
      return call.fail(new GrpcCallError(GrpcStatus.INTERNAL, `malformed grpc-timeout "${String(timeout)}"`));
    }
    call.receive(handler, timeoutMs);
  }
}
