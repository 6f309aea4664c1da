// The HTTP middleware contract: one stage of a Configuration pipeline (`spec.httpPipeline` or
// `spec.appHttpPipeline`). Every stage is an http-wasm guest; the pipeline, not the stage, owns the chain order.

import type { GuestRequest, HttpExchange } from '../../middleware-wasm/host/index.js';

declare module '../registry.js' {
  interface ComponentKinds {
    middleware: HttpMiddleware;
  }
}

export interface HttpMiddleware {
  readonly name: string;
  /**
   * Runs the stage on the request side. When the result's `next` is true the pipeline runs the rest of the chain
   * and then `handleResponse`; otherwise the stage answered in `exchange`. Throws a DaprError when the stage fails.
   */
  handleRequest(exchange: HttpExchange): GuestRequest;
  /**
   * Post-processes the response in `exchange`; `isError` when what came back from further down was a failure.
   * This ends the request: the stage may reuse `request` for a later one.
   */
  handleResponse(request: GuestRequest, isError: boolean): void;
  close?(): void;
}
