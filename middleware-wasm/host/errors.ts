// How a guest failure reaches the HTTP front: as a Dapr error it can answer with (500, Dapr's JSON error shape).

import { DaprError, GrpcStatus } from '../../proxy/runtime/errors.js';

/** A guest trapped, aborted or broke the ABI while serving one request; only that request fails. */
export class WasmGuestError extends DaprError {
  constructor(
    readonly middleware: string,
    readonly phase: 'handle_request' | 'handle_response' | 'instantiate',
    cause: unknown,
  ) {
    super(
      'ERR_INTERNAL',
      `wasm middleware "${middleware}" failed in ${phase}: ${cause instanceof Error ? cause.message : String(cause)}`,
      500,
      GrpcStatus.INTERNAL,
    );
    this.name = 'WasmGuestError';
    this.cause = cause;
  }
}
