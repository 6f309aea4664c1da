import * as grpc from '@grpc/grpc-js';
import { fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
// Type-only: loading the whole service descriptor at run time would pull in every Dapr proto (about 10 MB).
import type { Dapr } from '../../gen/proto/dapr/proto/runtime/v1/dapr_pb.js';
import { DaprError, GrpcStatus } from '../runtime/errors.js';
import { createLogger } from '../runtime/logger.js';

const log = createLogger('grpc.api');

type DaprMethods = typeof Dapr.method;
type UnaryMethodName = {
  [K in keyof DaprMethods]: DaprMethods[K]['methodKind'] extends 'unary' ? K : never;
}[keyof DaprMethods];

export type UnaryImplementation<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  call: grpc.ServerUnaryCall<MessageShape<I>, MessageShape<O>>,
) => Promise<MessageShape<O>> | MessageShape<O>;

const SERVICE = 'dapr.proto.runtime.v1.Dapr';

export interface GrpcApiOptions {
  maxMessageBytes: number;
  /** DAPR_API_TOKEN; '' disables the check. */
  apiToken: string;
}

/**
 * The public `dapr.proto.runtime.v1.Dapr` service on @grpc/grpc-js. Building blocks register the methods they
 * serve, with their message schemas, before `listen`; every other method answers UNIMPLEMENTED.
 */
export class GrpcApiServer {
  private readonly definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  private readonly implementations: Record<string, grpc.handleUnaryCall<unknown, unknown>> = {};
  private server: grpc.Server | null = null;

  constructor(private readonly options: GrpcApiOptions) {}

  unary<I extends DescMessage, O extends DescMessage>(name: UnaryMethodName, input: I, output: O, implementation: UnaryImplementation<I, O>): this {
    const handler: grpc.handleUnaryCall<MessageShape<I>, MessageShape<O>> = (call, callback) => {
      if (!this.authorized(call.metadata)) {
        callback({ code: grpc.status.UNAUTHENTICATED, details: 'authentication error: api token mismatch' });
        return;
      }
      Promise.resolve()
        .then(() => implementation(call.request, call))
        .then(
          (response) => callback(null, response),
          (err: unknown) => callback(toServiceError(err)),
        );
    };
    this.definition[name] = {
      path: `/${SERVICE}/${name.charAt(0).toUpperCase()}${name.slice(1)}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (value) => Buffer.from(toBinary(input, value as MessageShape<I>)),
      requestDeserialize: (bytes) => fromBinary(input, bytes),
      responseSerialize: (value) => Buffer.from(toBinary(output, value as MessageShape<O>)),
      responseDeserialize: (bytes) => fromBinary(output, bytes),
    };
    this.implementations[name] = handler as grpc.handleUnaryCall<unknown, unknown>;
    return this;
  }

  listen(host: string, port: number): Promise<number> {
    const server = new grpc.Server({
      'grpc.max_receive_message_length': this.options.maxMessageBytes,
      'grpc.max_send_message_length': this.options.maxMessageBytes,
    });
    server.addService(this.definition, this.implementations);
    this.server = server;
    return new Promise((resolve, reject) => {
      server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, boundPort) => {
        if (err !== null) reject(new Error(`cannot listen on ${host}:${port} for the gRPC API: ${err.message}`));
        else resolve(boundPort);
      });
    });
  }

  /** Lets in-flight calls finish for up to `graceMs`, then cuts the rest. */
  close(graceMs: number): Promise<void> {
    const server = this.server;
    if (server === null) return Promise.resolve();
    this.server = null;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private authorized(metadata: grpc.Metadata): boolean {
    if (this.options.apiToken === '') return true;
    return metadata.get('dapr-api-token')[0] === this.options.apiToken;
  }
}

function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  if (err instanceof DaprError) return { code: err.grpcStatus, details: err.message };
  if (isServiceError(err)) return err;
  log.error(`unhandled error in a gRPC API call: ${(err as Error).stack ?? String(err)}`);
  return { code: GrpcStatus.INTERNAL, details: (err as Error).message ?? String(err) };
}

function isServiceError(err: unknown): err is Partial<grpc.ServiceError> {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'number' && 'details' in err;
}
