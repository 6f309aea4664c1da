// gRPC unary transport for the sidecar-to-sidecar hop (dapr.proto.internals.v1.ServiceInvocation):
// wire-compatible gRPC over node:http2, carrying already-encoded protobuf messages.

export { GrpcCallError } from './call-status.js';
export { UnaryClient, type GrpcMetadata, type UnaryCallback, type UnaryClientOptions } from './unary-client.js';
export { UnaryServer, type UnaryHandler, type UnaryReply, type UnaryServerOptions } from './unary-server.js';
