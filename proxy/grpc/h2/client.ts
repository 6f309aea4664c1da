// Unary gRPC client on a hand-written HTTP/2 connection (cleartext, prior knowledge) over net.Socket: one
// connection per peer shared by every call, replaced when it breaks, drains after GOAWAY or runs out of ids.

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { GrpcStatus } from '../../runtime/errors.js';
import { createLogger } from '../../runtime/logger.js';
import {
  GrpcCallError,
  MAX_TIMER_MS,
  decodeGrpcMessage,
  encodeGrpcTimeout,
  frameProblemError,
  grpcCodeForHttpStatus,
  grpcCodeForResetCode,
} from '../call-status.js';
import { FrameProblem, UnaryMessageReader } from '../framing.js';
import type { GrpcMetadata, UnaryCallback, UnaryClientOptions } from '../unary-types.js';
import { H2Connection, H2Stream } from './connection.js';
import { ErrorCode, MAX_STREAM_ID } from './frames.js';
import { encodeHeaderBlock, literalFieldBound, writeLiteralField } from './hpack.js';

export interface H2UnaryClientOptions extends UnaryClientOptions {
  /**
   * Streams opened on one connection before calls move to a fresh one (default: every odd stream id,
   * about a billion). The old connection finishes its calls, then closes.
   */
  streamsPerConnection?: number;
}

const log = createLogger('grpc.h2.client');
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const MAX_STREAMS_PER_CONNECTION = (MAX_STREAM_ID + 1) / 2;
// Request header blocks are cached per path; a sidecar calls very few distinct paths.
const MAX_CACHED_PATHS = 64;

// Set by the transport itself, or connection-specific and therefore illegal in HTTP/2.
const RESERVED_METADATA = new Set([
  'content-type',
  'te',
  'grpc-timeout',
  'grpc-encoding',
  'grpc-accept-encoding',
  'content-length',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
]);

// Header name characters: lower-case RFC 9110 token characters.
const NAME_CHARS = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~") NAME_CHARS[c.charCodeAt(0)] = 1;

function isMetadataName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || NAME_CHARS[c] === 0) return false;
  }
  return true;
}

// gRPC allows only printable ASCII in metadata values (binary values travel base64-encoded under -bin keys).
function isMetadataValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function invalidMetadataKey(metadata: GrpcMetadata): string | null {
  for (const key in metadata) {
    if (!isMetadataName(key) || !isMetadataValue(metadata[key])) return key;
  }
  return null;
}

const QUEUED = 0;
const OPEN = 1;
const DONE = 2;

/** One call, and the HTTP/2 stream carrying it once opened; the object returned by H2UnaryClient.call. */
class ClientCall extends H2Stream {
  state = QUEUED;
  conn: ClientConnection | null = null;
  /** performance.now() at which the deadline passes; 0 when there is none. */
  deadlineAt = 0;
  httpStatus = 0;
  grpcContent = false;
  status = -1;
  statusMessage = '';
  private timer: NodeJS.Timeout | null = null;
  private reader: UnaryMessageReader | null = null;

  constructor(
    readonly path: string,
    readonly message: Uint8Array,
    readonly metadata: GrpcMetadata | null,
    private readonly maxMessageBytes: number,
    private readonly onDone: UnaryCallback,
  ) {
    super();
  }

  /** Abandons the call: the stream is reset and the callback receives CANCELLED (unless already called). */
  cancel(): void {
    this.settle(new GrpcCallError(GrpcStatus.CANCELLED, 'call cancelled by the caller'), null);
  }

  startDeadline(deadlineMs: number): void {
    this.deadlineAt = performance.now() + deadlineMs;
    if (deadlineMs <= MAX_TIMER_MS) this.timer = setTimeout(onDeadline, deadlineMs, this);
  }

  failSoon(err: GrpcCallError): void {
    this.state = DONE;
    process.nextTick(this.onDone, err, null);
  }

  /** Takes in a response header block; false when it is malformed. */
  onHeaders(fields: string[], count: number, endStream: boolean): boolean {
    if (this.httpStatus !== 0) {
      // Trailers: they must end the stream.
      if (!endStream) return false;
      this.readStatus(fields, count);
      return true;
    }
    let status = 0;
    for (let i = 0; i < count; i += 2) {
      if (fields[i] === ':status') status = Number(fields[i + 1]);
    }
    if (!Number.isInteger(status) || status < 100 || status > 999) return false;
    if (status < 200) return !endStream; // informational: the real response follows
    this.httpStatus = status;
    for (let i = 0; i < count; i += 2) {
      if (fields[i] === 'content-type') this.grpcContent = fields[i + 1].startsWith('application/grpc');
    }
    this.readStatus(fields, count);
    return true;
  }

  onData(data: Buffer): void {
    if (this.state === DONE || this.httpStatus !== 200 || !this.grpcContent || data.length === 0) return;
    const reader = (this.reader ??= new UnaryMessageReader(this.maxMessageBytes));
    const problem = reader.push(data);
    if (problem !== FrameProblem.NONE) this.settle(frameProblemError(problem, reader.announcedLength, this.maxMessageBytes), null);
  }

  /** The peer ended the stream: the call's outcome is known. */
  complete(): void {
    if (this.state === DONE) return;
    const { httpStatus, status } = this;
    if (status > GrpcStatus.OK || (status === GrpcStatus.OK && httpStatus === 200 && this.grpcContent)) {
      this.settleWithStatus(status);
    } else if (httpStatus !== 200) {
      this.settle(new GrpcCallError(grpcCodeForHttpStatus(httpStatus), `unexpected HTTP status ${httpStatus}`), null);
    } else if (!this.grpcContent) {
      this.settle(new GrpcCallError(GrpcStatus.UNKNOWN, 'response is not gRPC (content-type)'), null);
    } else {
      this.settle(new GrpcCallError(GrpcStatus.UNKNOWN, 'response ended without grpc-status'), null);
    }
  }

  onReset(code: number): void {
    if (this.httpStatus === 0) {
      this.settle(new GrpcCallError(GrpcStatus.UNAVAILABLE, `no response from peer: stream reset with code ${code}`), null);
    } else if (code === ErrorCode.NO_ERROR) {
      this.settle(new GrpcCallError(GrpcStatus.UNKNOWN, 'response ended without grpc-status'), null);
    } else {
      this.settle(new GrpcCallError(grpcCodeForResetCode(code), `stream reset with code ${code}`), null);
    }
  }

  settle(err: GrpcCallError | null, response: Buffer | null): void {
    if (this.state === DONE) return;
    const wasOpen = this.state === OPEN;
    this.state = DONE;
    if (this.timer !== null) clearTimeout(this.timer);
    this.conn?.release(this, wasOpen);
    this.onDone(err, response);
  }

  private readStatus(fields: string[], count: number): void {
    for (let i = 0; i < count; i += 2) {
      const name = fields[i];
      if (name === 'grpc-status') {
        const code = Number(fields[i + 1]);
        this.status = Number.isInteger(code) && code >= 0 ? code : GrpcStatus.UNKNOWN;
      } else if (name === 'grpc-message') {
        this.statusMessage = decodeGrpcMessage(fields[i + 1]);
      }
    }
  }

  private settleWithStatus(status: number): void {
    if (status !== GrpcStatus.OK) {
      this.settle(new GrpcCallError(status, this.statusMessage), null);
      return;
    }
    const reader = this.reader ?? new UnaryMessageReader(this.maxMessageBytes);
    const problem = reader.finish();
    if (problem !== FrameProblem.NONE) {
      this.settle(frameProblemError(problem, reader.announcedLength, this.maxMessageBytes), null);
      return;
    }
    this.settle(null, reader.message);
  }
}

function onDeadline(call: ClientCall): void {
  call.settle(new GrpcCallError(GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded'), null);
}

function onConnectTimeout(conn: ClientConnection, timeoutMs: number): void {
  conn.abandon(`connection not established within ${timeoutMs} ms`);
}

class ClientConnection extends H2Connection<ClientCall> {
  /** Calls attached to this connection and not settled yet, queued or open: while any, the socket is ref'd. */
  private busy = 0;
  private nextStreamId = 1;
  private readonly lastStreamId: number;
  /** Calls waiting for the peer's SETTINGS or for a stream slot under its MAX_CONCURRENT_STREAMS. */
  private queue: ClientCall[] = [];
  private queueHead = 0;
  /** No new streams here (GOAWAY received or stream ids used up): queued calls moved elsewhere; closes once idle. */
  private draining = false;
  /** The client is closing: no new calls, but queued ones still go out here; closes once idle. */
  private closing = false;
  private readonly connectTimer: NodeJS.Timeout;

  constructor(
    private readonly client: H2UnaryClient,
    socket: net.Socket,
    connectTimeoutMs: number,
    streamsPerConnection: number,
  ) {
    super(socket, false);
    this.lastStreamId = 2 * streamsPerConnection - 1;
    socket.unref();
    this.connectTimer = setTimeout(onConnectTimeout, connectTimeoutMs, this, connectTimeoutMs);
    this.connectTimer.unref();
  }

  get usable(): boolean {
    return !this.dead && !this.draining && !this.closing;
  }

  enqueue(call: ClientCall): void {
    call.conn = this;
    if (this.busy++ === 0) this.socket.ref();
    if (this.peerSettingsReceived && this.queueHead === this.queue.length && this.streams.size < this.peerMaxConcurrentStreams) {
      this.open(call);
    } else {
      this.queue.push(call);
    }
  }

  /** A call attached here settled: free its stream (resetting it if still open) and its slot. */
  release(call: ClientCall, wasOpen: boolean): void {
    if (wasOpen && !this.dead && this.streams.get(call.id) === call) {
      if (!call.localEnded || !call.remoteEnded) this.writeRstStream(call.id, ErrorCode.CANCEL);
      this.forgetStream(call);
    }
    if (--this.busy === 0) this.socket.unref();
    if (this.dead) return;
    this.openQueued();
    if ((this.draining || this.closing) && this.busy === 0) this.closeGracefully('idle after draining');
  }

  /** Opens no more streams: queued calls move to another connection; closes once the open ones have settled. */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    this.client.forget(this);
    const waiting = this.takeQueued();
    if (waiting.length > 0) this.client.redispatch(waiting);
    if (this.busy === 0) this.closeGracefully('idle after draining');
  }

  /** The client is closing: queued calls still go out here, and the connection closes once all have settled. */
  closeWhenIdle(): void {
    this.closing = true;
    if (this.busy === 0) this.closeGracefully('client closed');
  }

  abandon(reason: string): void {
    this.terminate(reason, false);
  }

  protected onPeerSettings(first: boolean): void {
    if (first) clearTimeout(this.connectTimer);
    this.openQueued();
  }

  protected onHeaderBlock(streamId: number, count: number, endStream: boolean): void {
    const call = this.streams.get(streamId);
    if (call === undefined) {
      if (this.isIdle(streamId)) this.connectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on idle stream ${streamId}`);
      return;
    }
    if (endStream) call.remoteEnded = true;
    if (!call.onHeaders(this.fields, count, endStream)) {
      this.writeRstStream(streamId, ErrorCode.PROTOCOL_ERROR);
      this.forgetStream(call);
      call.settle(new GrpcCallError(GrpcStatus.INTERNAL, 'malformed response headers'), null);
      return;
    }
    if (endStream) call.complete();
  }

  protected onStreamData(call: ClientCall, data: Buffer, endStream: boolean): void {
    call.onData(data);
    if (endStream) call.complete();
  }

  protected onStreamReset(call: ClientCall, code: number): void {
    call.onReset(code);
  }

  protected onMessageSent(): void {
    // The request is complete on the wire; nothing else to send for a unary call.
  }

  protected onGoaway(lastStreamId: number, code: number, debug: string): void {
    if (code !== ErrorCode.NO_ERROR) log.debug(`peer ${this.client.authority} sent GOAWAY ${code}: ${debug}`);
    this.drain();
    // Streams above lastStreamId were not processed by the peer; they fail as UNAVAILABLE and can be retried.
    for (const call of this.streams.values()) {
      if (call.id > lastStreamId) {
        this.forgetStream(call);
        call.settle(new GrpcCallError(GrpcStatus.UNAVAILABLE, `no response from peer: connection draining (GOAWAY ${code})`), null);
      }
    }
  }

  protected onClosed(reason: string): void {
    clearTimeout(this.connectTimer);
    this.client.forget(this);
    for (const call of [...this.streams.values(), ...this.takeQueued()]) {
      const details = call.httpStatus === 0 ? `no response from peer: ${reason}` : `connection lost: ${reason}`;
      call.settle(new GrpcCallError(GrpcStatus.UNAVAILABLE, details), null);
    }
  }

  protected isIdle(streamId: number): boolean {
    return (streamId & 1) === 0 || streamId >= this.nextStreamId;
  }

  protected lastPeerStreamId(): number {
    return 0; // push is disabled: the peer opens no streams
  }

  private open(call: ClientCall): void {
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    call.state = OPEN;
    this.addStream(call, id);
    const head = this.client.requestHead(call.path);
    const metadata = call.metadata;
    let timeout = '';
    let bound = head.length;
    if (call.deadlineAt !== 0) {
      timeout = encodeGrpcTimeout(Math.max(1, call.deadlineAt - performance.now()));
      bound += literalFieldBound('grpc-timeout', timeout);
    }
    if (metadata !== null) {
      for (const key in metadata) bound += literalFieldBound(key, metadata[key]);
    }
    let pos = this.beginHeaders(bound);
    const buf = this.out.buf;
    buf.set(head, pos);
    pos += head.length;
    if (timeout !== '') pos = writeLiteralField(buf, pos, 'grpc-timeout', timeout);
    if (metadata !== null) {
      for (const key in metadata) {
        if (!RESERVED_METADATA.has(key)) pos = writeLiteralField(buf, pos, key, metadata[key]);
      }
    }
    this.endHeaders(id, pos, false);
    this.sendMessage(call, call.message, true);
    if (this.nextStreamId > this.lastStreamId) this.drain();
  }

  private openQueued(): void {
    const queue = this.queue;
    while (this.queueHead < queue.length && this.streams.size < this.peerMaxConcurrentStreams && !this.draining) {
      const call = queue[this.queueHead++];
      if (call.state === QUEUED) this.open(call);
    }
    if (this.queueHead === queue.length) {
      queue.length = 0;
      this.queueHead = 0;
    }
  }

  private takeQueued(): ClientCall[] {
    const waiting = this.queue.slice(this.queueHead).filter((call) => call.state === QUEUED);
    for (const call of waiting) call.conn = null;
    this.queue = [];
    this.queueHead = 0;
    this.busy -= waiting.length;
    if (waiting.length > 0 && this.busy === 0) this.socket.unref();
    return waiting;
  }

  private closeGracefully(reason: string): void {
    this.writeGoaway(0, ErrorCode.NO_ERROR, '');
    this.terminate(reason, true);
  }
}

export class H2UnaryClient {
  private conn: ClientConnection | null = null;
  private isClosed = false;
  private readonly host: string;
  private readonly port: number;
  private readonly maxMessageBytes: number;
  private readonly connectTimeoutMs: number;
  private readonly streamsPerConnection: number;
  private readonly requestHeads = new Map<string, Buffer>();

  constructor(
    readonly authority: string,
    opts: H2UnaryClientOptions,
  ) {
    const colon = authority.lastIndexOf(':');
    const port = Number(authority.slice(colon + 1));
    if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new TypeError(`invalid peer address "${authority}", expected host:port`);
    }
    this.host = authority.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    this.port = port;
    this.maxMessageBytes = opts.maxMessageBytes;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.streamsPerConnection = Math.min(opts.streamsPerConnection ?? MAX_STREAMS_PER_CONNECTION, MAX_STREAMS_PER_CONNECTION);
    if (!(this.streamsPerConnection >= 1)) throw new TypeError('streamsPerConnection must be at least 1');
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Starts a unary call. `onDone` runs exactly once, never synchronously: with the response message, or
   * with a GrpcCallError (CANCELLED after cancel(), DEADLINE_EXCEEDED, UNAVAILABLE when the peer is
   * unreachable or the connection drops before a response, or the status the server sent).
   */
  call(
    path: string,
    message: Uint8Array,
    metadata: GrpcMetadata | null,
    deadlineMs: number,
    onDone: UnaryCallback,
  ): { cancel(): void } {
    const call = new ClientCall(path, message, metadata, this.maxMessageBytes, onDone);
    if (this.isClosed) {
      call.failSoon(new GrpcCallError(GrpcStatus.UNAVAILABLE, 'client is closed'));
      return call;
    }
    if (metadata !== null) {
      const badKey = invalidMetadataKey(metadata);
      if (badKey !== null) {
        call.failSoon(new GrpcCallError(GrpcStatus.INTERNAL, `invalid metadata "${badKey}"`));
        return call;
      }
    }
    if (deadlineMs > 0) call.startDeadline(deadlineMs);
    this.connection().enqueue(call);
    return call;
  }

  /** Refuses new calls and closes the connection once the calls in flight have finished. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const conn = this.conn;
    this.conn = null;
    conn?.closeWhenIdle();
  }

  /** The encoded request headers every call to `path` starts with. */
  requestHead(path: string): Buffer {
    let head = this.requestHeads.get(path);
    if (head !== undefined) return head;
    head = encodeHeaderBlock([
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', path],
      [':authority', this.authority],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
    ]);
    if (this.requestHeads.size < MAX_CACHED_PATHS) this.requestHeads.set(path, head);
    return head;
  }

  forget(conn: ClientConnection): void {
    if (this.conn === conn) this.conn = null;
  }

  /** Calls that never got a stream on a connection that stopped taking them move to a fresh connection. */
  redispatch(calls: ClientCall[]): void {
    for (const call of calls) {
      if (this.isClosed) call.settle(new GrpcCallError(GrpcStatus.UNAVAILABLE, 'client is closed'), null);
      else this.connection().enqueue(call);
    }
  }

  private connection(): ClientConnection {
    const conn = this.conn;
    if (conn !== null && conn.usable) return conn;
    const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
    return (this.conn = new ClientConnection(this, socket, this.connectTimeoutMs, this.streamsPerConnection));
  }
}
