// Unary gRPC server on a hand-written HTTP/2 connection (cleartext, prior knowledge) over net.Socket: routes
// each call by :path to a handler that receives the request message bytes and replies once.

import type { IncomingHttpHeaders } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { GrpcStatus } from '../../runtime/errors.js';
import { createLogger } from '../../runtime/logger.js';
import { GrpcCallError, MAX_TIMER_MS, encodeGrpcMessage, frameProblemError, parseGrpcTimeout } from '../call-status.js';
import { FrameProblem, UnaryMessageReader } from '../framing.js';
import type { UnaryHandler, UnaryServerOptions } from '../unary-types.js';
import { H2Connection, H2Stream } from './connection.js';
import { ErrorCode } from './frames.js';
import { encodeHeaderBlock, literalFieldBound, writeLiteralField } from './hpack.js';

const log = createLogger('grpc.h2.server');

const RESPONSE_HEAD = encodeHeaderBlock([
  [':status', '200'],
  ['content-type', 'application/grpc'],
]);
const OK_TRAILERS = encodeHeaderBlock([['grpc-status', '0']]);
const EMPTY_RESPONSE = new Uint8Array(0);
const GRPC_CONTENT_TYPE = /^application\/grpc(\+proto)?(;|$)/;

/** What the connections of one server share. */
interface ServerCore {
  readonly handlers: ReadonlyMap<string, UnaryHandler>;
  readonly maxMessageBytes: number;
  /** Calls whose stream is open. */
  inFlight: number;
}

/** One call: the request stream, the handler's reply and the response. */
class ServerCall extends H2Stream {
  /** The response is decided (sent or being sent) or the stream is gone: later replies are dropped. */
  settled = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private reader: UnaryMessageReader | null = null;
  private handler: UnaryHandler | null = null;

  constructor(
    private readonly conn: ServerConnection,
    private readonly core: ServerCore,
    readonly headers: IncomingHttpHeaders,
  ) {
    super();
    core.inFlight++;
  }

  receive(handler: UnaryHandler, timeoutMs: number): void {
    this.handler = handler;
    this.reader = new UnaryMessageReader(this.core.maxMessageBytes);
    if (timeoutMs >= 0 && timeoutMs <= MAX_TIMER_MS) this.timer = setTimeout(onDeadline, timeoutMs, this);
  }

  onData(data: Buffer): void {
    const reader = this.reader;
    if (this.settled || reader === null || data.length === 0) return;
    const problem = reader.push(data);
    if (problem !== FrameProblem.NONE) this.fail(frameProblemError(problem, reader.announcedLength, this.core.maxMessageBytes));
  }

  onEnd(): void {
    const reader = this.reader;
    if (this.settled || reader === null) return;
    const problem = reader.finish();
    if (problem !== FrameProblem.NONE) {
      this.fail(frameProblemError(problem, reader.announcedLength, this.core.maxMessageBytes));
      return;
    }
    try {
      (this.handler as UnaryHandler)(reader.message as Buffer, this.headers, (err, response) => this.reply(err, response));
    } catch (err) {
      this.fail(new GrpcCallError(GrpcStatus.UNKNOWN, `handler failed: ${(err as Error).message}`));
    }
  }

  reply(err: GrpcCallError | null, response?: Uint8Array): void {
    if (err !== null) {
      this.fail(err);
      return;
    }
    if (this.settle()) this.conn.respond(this, response ?? EMPTY_RESPONSE);
  }

  /** Answers with a trailers-only response carrying the error's status. */
  fail(err: GrpcCallError, extraHeaders?: ReadonlyArray<readonly [string, string]>): void {
    if (this.settle()) this.conn.respondError(this, err, extraHeaders);
  }

  /** Answers with a plain HTTP status: the caller is not speaking gRPC. */
  rejectHttp(status: number): void {
    if (this.settle()) this.conn.respondHttpStatus(this, status);
  }

  /** The stream is gone: whatever the handler replies later is dropped. */
  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.settle();
    this.core.inFlight--;
  }

  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    if (this.timer !== null) clearTimeout(this.timer);
    return true;
  }
}

function onDeadline(call: ServerCall): void {
  call.fail(new GrpcCallError(GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded'));
}

/** Header fields as node:http2 presents them to handlers; repeated fields are joined. */
function headerObject(fields: string[], count: number): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  for (let i = 0; i < count; i += 2) {
    const name = fields[i];
    if (name === '__proto__') continue;
    const previous = headers[name];
    headers[name] = previous === undefined ? fields[i + 1] : `${String(previous)}${name === 'cookie' ? '; ' : ', '}${fields[i + 1]}`;
  }
  return headers;
}

class ServerConnection extends H2Connection<ServerCall> {
  private highestStreamId = 0;
  private goawaySent = false;
  private peerGoaway = false;

  constructor(
    socket: net.Socket,
    private readonly core: ServerCore,
    private readonly onGone: (conn: ServerConnection) => void,
  ) {
    super(socket, true);
  }

  /** Tells the client to open no more streams and closes once the calls in flight are done. */
  shutdown(): void {
    if (this.dead || this.goawaySent) return;
    this.goawaySent = true;
    this.writeGoaway(this.highestStreamId, ErrorCode.NO_ERROR, 'server shutting down');
    if (this.streams.size === 0) this.terminate('server shutting down', true);
  }

  destroy(): void {
    if (this.dead) this.socket.destroy();
    else this.terminate('server closed', false);
  }

  respond(call: ServerCall, message: Uint8Array): void {
    if (this.dead) return;
    let pos = this.beginHeaders(RESPONSE_HEAD.length);
    this.out.buf.set(RESPONSE_HEAD, pos);
    pos += RESPONSE_HEAD.length;
    this.endHeaders(call.id, pos, false);
    if (this.sendMessage(call, message, false)) this.sendTrailers(call);
  }

  respondError(call: ServerCall, err: GrpcCallError, extraHeaders?: ReadonlyArray<readonly [string, string]>): void {
    if (this.dead) return;
    // An "error" carrying OK would read as a successful call without its message.
    const code = String(err.code === GrpcStatus.OK ? GrpcStatus.UNKNOWN : err.code);
    const message = err.details === '' ? '' : encodeGrpcMessage(err.details);
    let bound = RESPONSE_HEAD.length + literalFieldBound('grpc-status', code) + literalFieldBound('grpc-message', message);
    if (extraHeaders !== undefined) for (const [name, value] of extraHeaders) bound += literalFieldBound(name, value);
    let pos = this.beginHeaders(bound);
    const buf = this.out.buf;
    buf.set(RESPONSE_HEAD, pos);
    pos += RESPONSE_HEAD.length;
    pos = writeLiteralField(buf, pos, 'grpc-status', code);
    if (message !== '') pos = writeLiteralField(buf, pos, 'grpc-message', message);
    if (extraHeaders !== undefined) for (const [name, value] of extraHeaders) pos = writeLiteralField(buf, pos, name, value);
    this.endHeaders(call.id, pos, true);
    this.finishEarly(call);
  }

  respondHttpStatus(call: ServerCall, status: number): void {
    if (this.dead) return;
    const text = String(status);
    const start = this.beginHeaders(literalFieldBound(':status', text));
    this.endHeaders(call.id, writeLiteralField(this.out.buf, start, ':status', text), true);
    this.finishEarly(call);
  }

  protected onHeaderBlock(streamId: number, count: number, endStream: boolean): void {
    const existing = this.streams.get(streamId);
    if (existing !== undefined) {
      // Trailers from the client end its request.
      if (!endStream) return this.resetStream(existing, ErrorCode.PROTOCOL_ERROR);
      existing.remoteEnded = true;
      existing.onEnd();
      this.closeIfDone(existing);
      return;
    }
    if ((streamId & 1) === 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, `client opened even stream ${streamId}`);
    if (streamId <= this.highestStreamId) return; // a stream already closed, e.g. reset by this end
    this.highestStreamId = streamId;
    if (this.goawaySent || this.peerGoaway) {
      this.writeRstStream(streamId, ErrorCode.REFUSED_STREAM);
      return;
    }
    const headers = headerObject(this.fields, count);
    const call = new ServerCall(this, this.core, headers);
    this.addStream(call, streamId);
    call.remoteEnded = endStream;
    this.route(call, headers);
    if (endStream) call.onEnd();
    this.closeIfDone(call);
  }

  protected onStreamData(call: ServerCall, data: Buffer, endStream: boolean): void {
    call.onData(data);
    if (!endStream) return;
    call.onEnd();
    this.closeIfDone(call);
  }

  protected onStreamReset(call: ServerCall): void {
    call.onClose();
    this.closeIfIdle();
  }

  protected onMessageSent(call: ServerCall): void {
    this.sendTrailers(call);
  }

  protected onPeerSettings(): void {
    // Nothing waits for the client's settings: responses only follow its requests.
  }

  protected onGoaway(_lastStreamId: number, code: number, debug: string): void {
    if (code !== ErrorCode.NO_ERROR) log.debug(`client sent GOAWAY ${code}: ${debug}`);
    this.peerGoaway = true;
    this.closeIfIdle();
  }

  protected onClosed(): void {
    for (const call of this.streams.values()) call.onClose();
    this.onGone(this);
  }

  protected isIdle(streamId: number): boolean {
    return (streamId & 1) === 0 || streamId > this.highestStreamId;
  }

  protected lastPeerStreamId(): number {
    return this.highestStreamId;
  }

  private route(call: ServerCall, headers: IncomingHttpHeaders): void {
    const method = headers[':method'];
    const path = headers[':path'];
    if (method === undefined || path === undefined) return this.resetStream(call, ErrorCode.PROTOCOL_ERROR);
    if (method !== 'POST') return call.rejectHttp(405);
    const contentType = headers['content-type'];
    if (contentType === undefined || !GRPC_CONTENT_TYPE.test(contentType)) return call.rejectHttp(415);
    const encoding = headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      const err = new GrpcCallError(GrpcStatus.UNIMPLEMENTED, `grpc-encoding "${String(encoding)}" is not supported`);
      return call.fail(err, [['grpc-accept-encoding', 'identity']]);
    }
    const handler = this.core.handlers.get(path);
    if (handler === undefined) return call.fail(new GrpcCallError(GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`));
    const timeout = headers['grpc-timeout'];
    const timeoutMs = timeout === undefined ? -1 : parseGrpcTimeout(String(timeout));
    if (timeout !== undefined && timeoutMs < 0) {
      return call.fail(new GrpcCallError(GrpcStatus.INTERNAL, `malformed grpc-timeout "${String(timeout)}"`));
    }
    call.receive(handler, timeoutMs);
  }

  private sendTrailers(call: ServerCall): void {
    let pos = this.beginHeaders(OK_TRAILERS.length);
    this.out.buf.set(OK_TRAILERS, pos);
    pos += OK_TRAILERS.length;
    this.endHeaders(call.id, pos, true);
    call.localEnded = true;
    this.closeIfDone(call);
  }

  /** After a response that ended the stream before the request did: ask the client to stop sending. */
  private finishEarly(call: ServerCall): void {
    call.localEnded = true;
    if (call.remoteEnded || this.streams.get(call.id) !== call) {
      this.closeIfDone(call);
      return;
    }
    this.writeRstStream(call.id, ErrorCode.NO_ERROR);
    this.forgetStream(call);
    call.onClose();
    this.closeIfIdle();
  }

  private closeIfDone(call: ServerCall): void {
    if (!call.localEnded || !call.remoteEnded || this.streams.get(call.id) !== call) return;
    this.forgetStream(call);
    call.onClose();
    this.closeIfIdle();
  }

  private closeIfIdle(): void {
    if ((this.goawaySent || this.peerGoaway) && this.streams.size === 0) this.terminate('no calls left after GOAWAY', true);
  }
}

export class H2UnaryServer {
  private readonly server: net.Server;
  private readonly connections = new Set<ServerConnection>();
  private readonly core: ServerCore;
  private closing: Promise<void> | null = null;

  constructor(handlers: ReadonlyMap<string, UnaryHandler>, opts: UnaryServerOptions) {
    this.core = { handlers, maxMessageBytes: opts.maxMessageBytes, inFlight: 0 };
    const forgetConnection = (conn: ServerConnection): void => void this.connections.delete(conn);
    this.server = net.createServer({ noDelay: true }, (socket) => {
      if (this.closing !== null) {
        socket.destroy();
        return;
      }
      this.connections.add(new ServerConnection(socket, this.core, forgetConnection));
    });
  }

  /** Calls whose stream is still open (being received, handled or answered). */
  get inFlight(): number {
    return this.core.inFlight;
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
        for (const conn of this.connections) conn.destroy();
      }, graceMs);
      this.server.close(() => {
        clearTimeout(forceTimer);
        resolve();
      });
      for (const conn of this.connections) conn.shutdown();
    });
    return this.closing;
  }
}
