// Host-side state of one request passing through one guest. The guest itself keeps nothing per request unless it
// chooses to (its `reqCtx`); everything the host functions need hangs off this object.

import { NO_EXCHANGE, type HttpExchange } from './exchange.js';
import type { GuestInstance } from './guest-instance.js';

/**
 * A finished request is reused for the instance's next one (see `GuestInstance.takeRequest`): a new object per
 * request cost a request through a no-op guest about a fifth of its time, in the allocation and in the write
 * barrier of storing a young object into the long-lived instance as its current request.
 */
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
  /** Set by the current call's first write to that body; later writes in the same call append to it. */
  requestBodyWrite: BodyWrite | null = null;
  responseBodyWrite: BodyWrite | null = null;

  constructor(
    public exchange: HttpExchange,
    /** The instance that saw `handle_request`; `handle_response` goes to the same one even after a reload. */
    readonly instance: GuestInstance,
  ) {
    this.features = instance.features;
  }

  /** Readies a finished request to serve `exchange`, as a new one would. */
  reuse(exchange: HttpExchange): void {
    this.exchange = exchange;
    this.next = false;
    this.reqCtx = 0;
    this.features = this.instance.features;
    this.afterNext = false;
    this.requestBodyOffset = 0;
    this.responseBodyOffset = 0;
    this.requestBodyWrite = null;
    this.responseBodyWrite = null;
  }

  /** Lets go of the exchange. What the caller read stays readable until the object serves a new request. */
  finish(): void {
    this.exchange = NO_EXCHANGE;
  }

  /** Finished and not yet serving another request: a stray second `handleResponse` must run nothing. */
  get finished(): boolean {
    return this.exchange === NO_EXCHANGE;
  }
}

/**
 * The body a guest is writing during one call. Reads in that call go on with the body as it came (`source`), as
 * on a stream the writes replace, so a guest can filter a body chunk by chunk. Appends go into a buffer with room
 * to grow, so streaming a body back in many chunks copies it a bounded number of times.
 */
export class BodyWrite {
  private buffer: Uint8Array;
  private length: number;

  constructor(
    readonly source: Uint8Array,
    /** The first chunk, owned by the host (a copy out of guest memory). */
    first: Uint8Array,
  ) {
    this.buffer = first;
    this.length = first.byteLength;
  }

  /** Appends `chunk` and returns the whole body written so far. */
  append(chunk: Uint8Array): Uint8Array {
    const length = this.length + chunk.byteLength;
    if (length > this.buffer.byteLength) {
      const grown = new Uint8Array(Math.max(length, this.buffer.byteLength * 2));
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
    }
    // Views handed out earlier end before `this.length`, so writing past it changes none of them.
    this.buffer.set(chunk, this.length);
    this.length = length;
    return this.buffer.subarray(0, length);
  }
}
