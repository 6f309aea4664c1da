import { create } from '@bufbuild/protobuf';
import { EmptySchema } from '@bufbuild/protobuf/wkt';
import { GetMetadataRequestSchema, GetMetadataResponseSchema, SetMetadataRequestSchema } from '../../gen/proto/dapr/proto/runtime/v1/metadata_pb.js';
import type { GrpcApiServer } from '../grpc/api-server.js';
import type { RuntimeState } from './http-routes.js';
import type { RuntimeMetadata } from './metadata.js';

/** GetMetadata, SetMetadata and Shutdown: the SDKs poll GetMetadata before any other call. */
export function registerRuntimeGrpc(api: GrpcApiServer, state: RuntimeState, metadata: RuntimeMetadata): void {
  api.unary('getMetadata', GetMetadataRequestSchema, GetMetadataResponseSchema, () => metadata.toProto());
  api.unary('setMetadata', SetMetadataRequestSchema, EmptySchema, (request) => {
    metadata.setExtended(request.key, request.value);
    return create(EmptySchema);
  });
  // ShutdownRequest has no fields, so it reads as Empty without loading the service's own file.
  api.unary('shutdown', EmptySchema, EmptySchema, () => {
    setImmediate(() => state.shutdown('shutdown requested through the gRPC API'));
    return create(EmptySchema);
  });
}
