// gRPC unary transport for the sidecar-to-sidecar hop on a hand-written HTTP/2 stack over net.Socket: node:http2's
// per-stream objects cost about five times as much CPU per call, most of the hop's budget.

export { GrpcCallError } from '../call-status.js';
export type { GrpcMetadata, UnaryCallback, UnaryClientOptions, UnaryHandler, UnaryReply, UnaryServerOptions } from '../unary-types.js';
export { H2UnaryClient, type H2UnaryClientOptions } from './client.js';
export { H2UnaryServer } from './server.js';
