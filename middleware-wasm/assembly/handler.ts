// The guest exports of the ABI. A middleware registers its callbacks with onRequest/onResponse during
// initialisation and re-exports handle_request/handle_response from its entry file:
//
//   export { handle_request, handle_response } from "<path to>/middleware-wasm/assembly";
import { resetArena } from "./arena";
import { Request, Response } from "./http";

/** Decides what happens to a request: return `proceed(...)` or `finish()`. */
export type RequestHandler = (request: Request, response: Response) => i64;

/**
 * Inspects or changes the response of the next handler. `reqCtx` is what `proceed` passed along; `isError`
 * is true when the host failed to produce a response.
 */
export type ResponseHandler = (request: Request, response: Response, reqCtx: u32, isError: bool) => void;

/**
 * Continue with the next handler on the host, then call the response handler with `reqCtx`. The context is a
 * plain number: arena objects do not survive to handle_response.
 */
export function proceed(reqCtx: u32 = 0): i64 {
  return (<i64>reqCtx << 32) | 1;
}

/** Skip the next handler: this middleware wrote the response (or accepts the empty 200). */
export function finish(): i64 {
  return 0;
}

// Created during initialisation, before the arena's mark, so they outlive every request.
const request = new Request();
const response = new Response();

let requestHandler: RequestHandler = (request: Request, response: Response): i64 => proceed();
let responseHandler: ResponseHandler | null = null;

export function onRequest(handler: RequestHandler): void {
  requestHandler = handler;
}

/** Only called for requests whose handler returned `proceed`. */
export function onResponse(handler: ResponseHandler): void {
  responseHandler = handler;
}

// The arena is reset on entry rather than on exit, so even a call that trapped half-way leaks nothing.
export function handle_request(): i64 {
  resetArena();
  return requestHandler(request, response);
}

export function handle_response(reqCtx: i32, isError: i32): void {
  // Without a response handler there is nothing to run, and what the request handler allocated goes at the next
  // handle_request.
  const handler = responseHandler;
  if (handler == null) return;
  resetArena();
  handler(request, response, <u32>reqCtx, isError != 0);
}
