import type { IncomingHttpHeaders } from 'node:http2';
import type { GrpcCallError } from './call-status.js';

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

/** Called exactly once per call, never synchronously. */
export type UnaryCallback = (err: GrpcCallError | null, response: Buffer | null) => void;

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
