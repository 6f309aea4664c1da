import type * as grpc from '@grpc/grpc-js';

/** The W3C trace context a caller sent as gRPC metadata. */
export function traceContextOf(metadata: grpc.Metadata): { traceparent?: string; tracestate?: string } {
  const [traceparent] = metadata.get('traceparent');
  const [tracestate] = metadata.get('tracestate');
  return {
    traceparent: typeof traceparent === 'string' ? traceparent : undefined,
    tracestate: typeof tracestate === 'string' ? tracestate : undefined,
  };
}
