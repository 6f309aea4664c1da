// Host-side state of one request passing through one guest. The guest itself keeps nothing per request unless it
// chooses to (its `reqCtx`); everything the host functions need hangs off this object.

import type { HttpExchange } from './exchange.js';
import type { GuestInstance } from './guest-instance.js';

export class GuestRequest {
  /** The guest asked for the next handler; the caller must run it and then `handleResponse`. */
  next = false;
  /** The guest's correlation value, handed back to `handle_response`. */
  reqCtx = 0;
  /** Features in force for this request: those enabled at start-up plus any the guest enabled while handling it. */
  features: number;
  /** Set once `handle_request` returned: the request now belongs to the next handler. */
  afterNext = false;
  requestBodyOffset = 0;
  responseBodyOffset = 0;
  /** Whether the current call already replaced the body; later writes in the same call append to it. */
  requestBodyWritten = false;
  responseBodyWritten = false;

  constructor(
    readonly exchange: HttpExchange,
    /** The instance that saw `handle_request`; `handle_response` goes to the same one even after a reload. */
    readonly instance: GuestInstance,
  ) {
    this.features = instance.features;
  }
}
