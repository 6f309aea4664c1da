import { create } from '@bufbuild/protobuf';
import { InvokeBindingRequestSchema, InvokeBindingResponseSchema } from '../../gen/proto/dapr/proto/runtime/v1/binding_pb.js';
import type { GrpcApiServer } from '../grpc/api-server.js';
import { traceContextOf } from '../grpc/trace-context.js';
import type { OutputBindings } from './output-bindings.js';

/** `InvokeBinding` of `dapr.proto.runtime.v1.Dapr`; the data bytes go to the binding as sent. */
export function registerBindingsGrpc(grpc: GrpcApiServer, bindings: OutputBindings): void {
  grpc.unary('invokeBinding', InvokeBindingRequestSchema, InvokeBindingResponseSchema, async (req, call) => {
    const metadata = { ...req.metadata };
    const { traceparent, tracestate } = traceContextOf(call.metadata);
    if (traceparent !== undefined) metadata['traceparent'] = traceparent;
    if (tracestate !== undefined) metadata['tracestate'] = tracestate;
    const response = await bindings.invoke(req.name, { operation: req.operation, data: req.data, metadata });
    if (response === null) return create(InvokeBindingResponseSchema);
    return create(InvokeBindingResponseSchema, { data: response.data, metadata: response.metadata });
  });
}
