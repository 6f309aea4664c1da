// gRPC unary transport for the sidecar-to-sidecar hop on a hand-written HTTP/2 stack over net.Socket; the same
// surface as ../unary-transport.ts (node:http2), so either can back the hop.

export { GrpcCallError } from '../call-status.js';
export type { GrpcMetadata, UnaryCallback, UnaryClientOptions } from '../unary-client.js';
export type { UnaryHandler, UnaryReply, UnaryServerOptions } from '../unary-server.js';
export { H2UnaryClient, type H2UnaryClientOptions } from './client.js';
export { H2UnaryServer } from './server.js';
