import { GrpcCallError, type UnaryHandler } from '../grpc/h2/transport.js';
import { DaprError, GrpcStatus } from '../runtime/errors.js';
import { appChannelCause, type DirectMessaging } from './direct-messaging.js';
import { CALL_LOCAL_PATH, decodeInternalRequest, encodeInternalResponse, type InvocationRequest } from './messages.js';

/**
 * The callee half of the sidecar-to-sidecar hop: `ServiceInvocation/CallLocal` hands the request to this
 * sidecar's app. The RPC succeeds whatever the app answered; only a failure to reach the app is a gRPC error.
 * `CallLocalStream` is not served, so daprd callers fall back to `CallLocal` as they do on Unimplemented.
 */
export function internalInvocationHandlers(messaging: DirectMessaging): Map<string, UnaryHandler> {
  const callLocal: UnaryHandler = (bytes, _headers, reply) => {
    let request: InvocationRequest;
    try {
      request = decodeInternalRequest(bytes);
    } catch (err) {
      reply(new GrpcCallError(GrpcStatus.INVALID_ARGUMENT, `malformed InternalInvokeRequest: ${(err as Error).message}`));
      return;
    }
    messaging.callApp(request, (err, res) => {
      if (err !== null) {
        const details = err instanceof DaprError ? err.message : appChannelCause(err);
        reply(new GrpcCallError(GrpcStatus.INTERNAL, details));
        return;
      }
      reply(null, encodeInternalResponse(res!));
    });
  };
  return new Map([[CALL_LOCAL_PATH, callLocal]]);
}
