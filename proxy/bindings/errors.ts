// The errors of daprd's bindings API: one code for every output failure, with daprd's wording.

import { DaprError, GrpcStatus } from '../runtime/errors.js';

/** An output failure; carries the response metadata the binding reported with it, answered as headers over HTTP. */
export class OutputBindingError extends DaprError {
  constructor(
    bindingName: string,
    reason: string,
    readonly metadata: Readonly<Record<string, string>> = {},
  ) {
    super('ERR_INVOKE_OUTPUT_BINDING', `error when invoke output binding ${bindingName}: ${reason}`, 500, GrpcStatus.INTERNAL);
  }
}
