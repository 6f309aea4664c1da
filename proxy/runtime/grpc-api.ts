import { create } from '@bufbuild/protobuf';
import { EmptySchema } from '@bufbuild/protobuf/wkt';
import type { GrpcApiServer } from '../grpc/api-server.js';
import type { RuntimeState } from './http-routes.js';
import type { RuntimeMetadata } from './metadata.js';

/** GetMetadata, SetMetadata and Shutdown: the SDKs poll GetMetadata before any other call. */
export function registerRuntimeGrpc(api: GrpcApiServer, state: RuntimeState, metadata: RuntimeMetadata): void {
  api.unary('getMetadata', () => metadata.toProto());
  api.unary('setMetadata', (request) => {
    metadata.setExtended(request.key, request.value);
    return create(EmptySchema);
  });
  api.unary('shutdown', () => {
    setImmediate(() => state.shutdown('shutdown requested through the gRPC API'));
    return create(EmptySchema);
  });
}
