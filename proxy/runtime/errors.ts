// Dapr's error model: an `errorCode`, a message and the HTTP status and gRPC code daprd uses for it.

export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

export class DaprError extends Error {
  constructor(
    readonly errorCode: string,
    message: string,
    readonly httpStatus: number,
    readonly grpcStatus: GrpcStatusCode,
  ) {
    super(message);
    this.name = 'DaprError';
  }

  toJSON(): { errorCode: string; message: string } {
    return { errorCode: this.errorCode, message: this.message };
  }
}

export const errors = {
  badRequest: (message: string) => new DaprError('ERR_BAD_REQUEST', message, 400, GrpcStatus.INVALID_ARGUMENT),
  bodyTooLarge: (limit: number) =>
    new DaprError(
      'ERR_BODY_TOO_LARGE',
      `request body exceeds the limit of ${limit} bytes`,
      413,
      GrpcStatus.RESOURCE_EXHAUSTED,
    ),
  malformedRequest: (message: string) => new DaprError('ERR_MALFORMED_REQUEST', message, 400, GrpcStatus.INVALID_ARGUMENT),
  internal: (message: string) => new DaprError('ERR_INTERNAL', message, 500, GrpcStatus.INTERNAL),
  healthNotReady: () => new DaprError('ERR_HEALTH_NOT_READY', 'dapr is not ready', 500, GrpcStatus.INTERNAL),
  outboundHealthNotReady: () =>
    new DaprError('ERR_OUTBOUND_HEALTH_NOT_READY', 'dapr outbound is not ready', 500, GrpcStatus.INTERNAL),
  healthAppIdMismatch: () =>
    new DaprError('ERR_HEALTH_APPID_NOT_MATCH', 'dapr app-id does not match', 500, GrpcStatus.INTERNAL),
  directInvoke: (appId: string, cause: string, httpStatus = 500, grpcStatus: GrpcStatusCode = GrpcStatus.INTERNAL) =>
    new DaprError('ERR_DIRECT_INVOKE', `failed to invoke, id: ${appId}, err: ${cause}`, httpStatus, grpcStatus),
};

/** `err` as Dapr answers an unexpected failure: itself when it is a DaprError, else ERR_INTERNAL with its message. */
export function asDaprError(err: unknown): DaprError {
  return err instanceof DaprError ? err : errors.internal(String((err as Error)?.message ?? err));
}
