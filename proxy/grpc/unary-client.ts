// Unary gRPC client on node:http2: one lazily opened HTTP/2 session per peer, shared by every call.

import http2, {
  constants as h2,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type ClientSessionOptions,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type OutgoingHttpHeaders,
} from 'node:http2';
import net from 'node:net';
import { GrpcStatus } from '../runtime/errors.js';
import { createLogger } from '../runtime/logger.js';
import {
  GrpcCallError,
  MAX_TIMER_MS,
  decodeGrpcMessage,
  encodeGrpcTimeout,
  frameProblemError,
  grpcCodeForHttpStatus,
  grpcCodeForResetCode,
} from './call-status.js';
import { FrameProblem, UnaryMessageReader, endWithMessage } from './framing.js';
import { LOCAL_SETTINGS, sessionMemoryMb, widenConnectionWindow } from './session-settings.js';

/** Extra request headers: lower-case keys, printable ASCII values (binary ones base64-encoded under a `-bin` key). */
export type GrpcMetadata = Record<string, string>;

export interface UnaryClientOptions {
  /** Largest response message accepted; a bigger one fails the call with RESOURCE_EXHAUSTED. */
  maxMessageBytes: number;
  /**
   * How long a new connection may take until the peer's HTTP/2 SETTINGS arrive before its calls fail
   * with UNAVAILABLE (default 5000).
   */
  connectTimeoutMs?: number;
}

export type UnaryCallback = (err: GrpcCallError | null, response: Buffer | null) => void;

const log = createLogger('grpc.client');
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

const HEADER_TOKEN = /^[a-z0-9!#$%&'*+\-.^_`|~]+$/;
// gRPC allows only printable ASCII in metadata values (binary values travel base64-encoded under -bin keys).
const METADATA_VALUE = /^[\x20-\x7e]*$/;
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

const kCall = Symbol('unaryCall');
type CallStream = ClientHttp2Stream & { [kCall]: UnaryCall };

/** A session plus the number of calls riding on it, so it only keeps the process alive while busy. */
class PeerSession {
  private active = 0;

  constructor(readonly h2: ClientHttp2Session) {}

  get usable(): boolean {
    return !this.h2.closed && !this.h2.destroyed;
  }

  acquire(): void {
    if (this.active++ === 0) this.h2.ref();
  }

  release(): void {
    if (--this.active === 0) this.h2.unref();
  }
}

/** One call; the object returned by UnaryClient.call. */
class UnaryCall {
  transportError = '';
  private stream: ClientHttp2Stream | null = null;
  private peer: PeerSession | null = null;
  private timer: NodeJS.Timeout | null = null;
  private done = false;
  private httpStatus = 0;
  private grpcContent = false;
  private status = -1;
  private statusMessage = '';
  private readonly reader: UnaryMessageReader;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly onDone: UnaryCallback,
  ) {
    this.reader = new UnaryMessageReader(maxMessageBytes);
  }

  /** Abandons the call: the stream is reset and the callback receives CANCELLED (unless already called). */
  cancel(): void {
    this.abort(new GrpcCallError(GrpcStatus.CANCELLED, 'call cancelled by the caller'));
  }

  failSoon(err: GrpcCallError): void {
    this.done = true;
    process.nextTick(this.onDone, err, null);
  }

  attach(peer: PeerSession, stream: ClientHttp2Stream, deadlineMs: number): void {
    this.peer = peer;
    peer.acquire();
    this.stream = stream;
    (stream as CallStream)[kCall] = this;
    stream.on('response', onStreamResponse);
    stream.on('data', onStreamData);
    stream.on('trailers', onStreamTrailers);
    stream.on('error', onStreamError);
    stream.on('close', onStreamClose);
    if (deadlineMs > 0 && deadlineMs <= MAX_TIMER_MS) this.timer = setTimeout(onDeadline, deadlineMs, this);
  }

  onHeaders(headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
    this.httpStatus = headers[':status'] ?? 0;
    this.grpcContent = headers['content-type']?.startsWith('application/grpc') === true;
    if (headers['grpc-status'] !== undefined) this.readStatus(headers);
  }

  readStatus(headers: IncomingHttpHeaders): void {
    const code = Number(headers['grpc-status']);
    this.status = Number.isInteger(code) && code >= 0 ? code : GrpcStatus.UNKNOWN;
    this.statusMessage = decodeGrpcMessage(headers['grpc-message'] as string | undefined);
  }

  onData(chunk: Buffer): void {
    if (this.done || this.httpStatus !== 200 || !this.grpcContent) return;
    const problem = this.reader.push(chunk);
    if (problem !== FrameProblem.NONE) {
      this.abort(frameProblemError(problem, this.reader.announcedLength, this.maxMessageBytes));
    }
  }

  onClose(): void {
    if (this.done) return;
    const { httpStatus, status } = this;
    if (httpStatus === 0) {
      const cause = this.transportError || `stream reset with code ${this.stream?.rstCode ?? 'unknown'}`;
      this.settle(new GrpcCallError(GrpcStatus.UNAVAILABLE, `no response from peer: ${cause}`), null);
    } else if (status > GrpcStatus.OK || (status === GrpcStatus.OK && httpStatus === 200 && this.grpcContent)) {
      this.settleWithStatus(status);
    } else if (httpStatus !== 200) {
      this.settle(new GrpcCallError(grpcCodeForHttpStatus(httpStatus), `unexpected HTTP status ${httpStatus}`), null);
    } else if (!this.grpcContent) {
      this.settle(new GrpcCallError(GrpcStatus.UNKNOWN, 'response is not gRPC (content-type)'), null);
    } else {
      const rstCode = this.stream?.rstCode ?? h2.NGHTTP2_NO_ERROR;
      const err =
        rstCode === h2.NGHTTP2_NO_ERROR
          ? new GrpcCallError(GrpcStatus.UNKNOWN, 'response ended without grpc-status')
          : new GrpcCallError(grpcCodeForResetCode(rstCode), `stream reset with code ${rstCode}`);
      this.settle(err, null);
    }
  }

  abort(err: GrpcCallError): void {
    if (this.done) return;
    const stream = this.stream;
    if (stream !== null && !stream.closed) stream.close(h2.NGHTTP2_CANCEL);
    this.settle(err, null);
  }

  private settleWithStatus(status: number): void {
    if (status !== GrpcStatus.OK) {
      this.settle(new GrpcCallError(status, this.statusMessage), null);
      return;
    }
    const problem = this.reader.finish();
    if (problem !== FrameProblem.NONE) {
      this.settle(frameProblemError(problem, this.reader.announcedLength, this.maxMessageBytes), null);
      return;
    }
    this.settle(null, this.reader.message);
  }

  private settle(err: GrpcCallError | null, response: Buffer | null): void {
    this.done = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.peer?.release();
    this.onDone(err, response);
  }
}

// Stream listeners are shared functions (the stream is `this`) so a call allocates no closures.
function onStreamResponse(this: CallStream, headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
  this[kCall].onHeaders(headers);
}
function onStreamData(this: CallStream, chunk: Buffer): void {
  this[kCall].onData(chunk);
}
function onStreamTrailers(this: CallStream, trailers: IncomingHttpHeaders): void {
  this[kCall].readStatus(trailers);
}
function onStreamError(this: CallStream, err: Error): void {
  this[kCall].transportError = err.message;
}
function onStreamClose(this: CallStream): void {
  this[kCall].onClose();
}
function onDeadline(call: UnaryCall): void {
  call.abort(new GrpcCallError(GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded'));
}
function onConnectTimeout(session: ClientHttp2Session, timeoutMs: number): void {
  session.destroy(new Error(`connection not established within ${timeoutMs} ms`));
}

/** Copies metadata into request headers; returns the first key whose name or value cannot be sent. */
function copyMetadata(headers: OutgoingHttpHeaders, metadata: GrpcMetadata): string | null {
  for (const key in metadata) {
    const value = metadata[key];
    if (!HEADER_TOKEN.test(key) || !METADATA_VALUE.test(value)) return key;
    if (!RESERVED_METADATA.has(key)) headers[key] = value;
  }
  return null;
}

export class UnaryClient {
  private peer: PeerSession | null = null;
  private isClosed = false;
  private readonly origin: string;
  private readonly maxMessageBytes: number;
  private readonly connectTimeoutMs: number;
  private readonly sessionOptions: ClientSessionOptions;

  constructor(
    readonly authority: string,
    opts: UnaryClientOptions,
  ) {
    const colon = authority.lastIndexOf(':');
    const host = authority.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const port = Number(authority.slice(colon + 1));
    if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new TypeError(`invalid peer address "${authority}", expected host:port`);
    }
    this.origin = `http://${authority}`;
    this.maxMessageBytes = opts.maxMessageBytes;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.sessionOptions = {
      settings: LOCAL_SETTINGS,
      maxSessionMemory: sessionMemoryMb(opts.maxMessageBytes),
      createConnection: () => net.connect({ host, port, noDelay: true }),
    };
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
    const call = new UnaryCall(this.maxMessageBytes, onDone);
    if (this.isClosed) {
      call.failSoon(new GrpcCallError(GrpcStatus.UNAVAILABLE, 'client is closed'));
      return call;
    }
    const headers: OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    };
    if (deadlineMs > 0) headers['grpc-timeout'] = encodeGrpcTimeout(deadlineMs);
    if (metadata !== null) {
      const badKey = copyMetadata(headers, metadata);
      if (badKey !== null) {
        call.failSoon(new GrpcCallError(GrpcStatus.INTERNAL, `invalid metadata "${badKey}"`));
        return call;
      }
    }
    const peer = this.currentPeer();
    let stream: ClientHttp2Stream;
    try {
      stream = peer.h2.request(headers);
    } catch (err) {
      call.failSoon(new GrpcCallError(GrpcStatus.INTERNAL, `cannot start call: ${(err as Error).message}`));
      return call;
    }
    call.attach(peer, stream, deadlineMs);
    endWithMessage(stream, message);
    return call;
  }

  /** Refuses new calls and closes the session once the calls in flight have finished. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const peer = this.peer;
    this.peer = null;
    peer?.h2.close();
  }

  private currentPeer(): PeerSession {
    const peer = this.peer;
    if (peer !== null && peer.usable) return peer;
    return (this.peer = this.openPeer());
  }

  private openPeer(): PeerSession {
    const session = http2.connect(this.origin, this.sessionOptions);
    const peer = new PeerSession(session);
    session.unref();
    const connectTimer = setTimeout(onConnectTimeout, this.connectTimeoutMs, session, this.connectTimeoutMs);
    connectTimer.unref();
    session.once('connect', () => widenConnectionWindow(session));
    // Established means the peer answered with its SETTINGS, not merely that TCP connected.
    session.once('remoteSettings', () => clearTimeout(connectTimer));
    session.on('error', (err: Error) => log.debug(`session to ${this.authority} failed: ${err.message}`));
    session.on('goaway', () => this.forget(peer));
    session.once('close', () => {
      clearTimeout(connectTimer);
      this.forget(peer);
    });
    return peer;
  }

  private forget(peer: PeerSession): void {
    if (this.peer === peer) this.peer = null;
  }
}
