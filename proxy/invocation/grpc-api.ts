import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { InvokeResponseSchema, type InvokeResponse } from '../../gen/proto/dapr/proto/common/v1/common_pb.js';
import { InvokeServiceRequestSchema } from '../../gen/proto/dapr/proto/runtime/v1/invoke_pb.js';
import type { GrpcApiServer } from '../grpc/api-server.js';
import { DaprError, errors, GrpcStatus } from '../runtime/errors.js';
import type { DirectMessaging } from './direct-messaging.js';
import { verbName } from './messages.js';
import { parseTarget } from './target.js';

// gRPC transport headers that are not the caller's metadata.
const TRANSPORT_KEYS = new Set(['content-type', 'te', 'user-agent', 'host', 'accept-encoding', 'dapr-api-token']);

const grpcByHttp = new Map<number, number>([
  [400, GrpcStatus.INTERNAL],
  [401, GrpcStatus.UNAUTHENTICATED],
  [403, GrpcStatus.PERMISSION_DENIED],
  [404, GrpcStatus.NOT_FOUND],
  [408, GrpcStatus.CANCELLED],
  [409, GrpcStatus.ALREADY_EXISTS],
  [429, GrpcStatus.RESOURCE_EXHAUSTED],
  [501, GrpcStatus.UNIMPLEMENTED],
  [503, GrpcStatus.UNAVAILABLE],
  [504, GrpcStatus.DEADLINE_EXCEEDED],
]);

/** `Dapr/InvokeService`: the SDKs' gRPC form of service invocation, towards HTTP apps. */
export function registerInvocationGrpc(api: GrpcApiServer, messaging: DirectMessaging, selfAppId: string): void {
  api.unary('invokeService', InvokeServiceRequestSchema, InvokeResponseSchema, (request, call) => {
    const target = parseTarget(request.id);
    if (target instanceof DaprError) throw target;
    const message = request.message;
    if (message === undefined) throw errors.badRequest('InvokeServiceRequest.message is required');
    const headers = metadataHeaders(call.metadata);
    if (message.contentType !== '') headers.push('content-type', message.contentType);
    headers.push('dapr-caller-app-id', selfAppId, 'dapr-callee-app-id', target.appId);
    return new Promise<InvokeResponse>((resolve, reject) => {
      const invocation = messaging.invoke(
        target,
        {
          verb: verbName(message.httpExtension?.verb ?? 0),
          method: message.method.startsWith('/') ? message.method.slice(1) : message.method,
          query: message.httpExtension?.querystring ?? '',
          headers,
          body: message.data?.value ?? new Uint8Array(0),
        },
        (err, res) => {
          if (err !== null) {
            reject(err);
            return;
          }
          const statusMetadata = new grpc.Metadata();
          statusMetadata.set('dapr-http-status', String(res!.status));
          if (res!.status >= 200 && res!.status < 300) {
            call.sendMetadata(statusMetadata);
            resolve(create(InvokeResponseSchema, { data: create(AnySchema, { value: res!.body }), contentType: contentTypeOf(res!.headers) }));
            return;
          }
          reject({
            code: grpcByHttp.get(res!.status) ?? GrpcStatus.UNKNOWN,
            details: Buffer.from(res!.body).toString('utf8'),
            metadata: statusMetadata,
          });
        },
      );
      call.on('cancelled', () => invocation.cancel());
    });
  });
}

function metadataHeaders(metadata: grpc.Metadata): string[] {
  const headers: string[] = [];
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (TRANSPORT_KEYS.has(key) || key.startsWith('grpc-') || key.startsWith(':') || typeof value !== 'string') continue;
    headers.push(key, value);
  }
  return headers;
}

function contentTypeOf(headers: readonly string[]): string {
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === 'content-type') return headers[i + 1]!;
  return '';
}
