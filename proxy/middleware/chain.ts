// An ordered chain of HTTP middleware around one handler, as a Configuration pipeline declares it: requests pass
// down the chain in order, responses come back up in reverse, and any stage may answer in place of the rest.

import type { HttpMiddleware } from '../../components/middleware/middleware.js';
import { NO_EXCHANGE, type GuestRequest, type HttpExchange } from '../../middleware-wasm/host/index.js';
import { asDaprError, errors } from '../runtime/errors.js';

const JSON_TYPE = 'application/json';
const NO_REQUESTS: GuestRequest[] = new Array<GuestRequest>(0);

export class MiddlewareChain {
  /** The pass of the last request that left the chain, to carry the next one. */
  private sparePass: ChainPass | null = null;

  constructor(readonly stages: readonly HttpMiddleware[]) {}

  /** Starts one request down the chain; see `ChainPass`. */
  enter(exchange: HttpExchange): ChainPass {
    const spare = this.sparePass;
    if (spare === null) return ChainPass.start(this, exchange);
    this.sparePass = null;
    spare.restart(exchange);
    return spare;
  }

  /** Called by a pass that left: nothing refers to it any more. */
  keep(pass: ChainPass): void {
    this.sparePass = pass;
  }
}

/**
 * One request's trip through a chain. After construction, `reachedHandler` says whether every stage passed the
 * request on: the caller then runs its handler, puts the answer in the exchange, and calls `leave`. Otherwise a
 * stage answered (or failed, answered as a Dapr error) and the caller calls `leave` straight away.
 *
 * A pass that left carries the chain's next request. Reusing it, and the guests' request state, took a request
 * through a no-op guest from 226 bytes allocated to 42, so the young generation fills, and is scavenged, a fifth as
 * often; a scavenge here costs about 0.2 ms however little survives it.
 */
export class ChainPass {
  private handlerReached = false;
  /**
   * The requests of the stages that passed the request on, in stage order; each gets `handle_response`. The first
   * is kept in a field, so a chain of one middleware allocates no array for it.
   */
  private firstPassed: GuestRequest | null = null;
  /** From the second stage on, in the first `passedCount - 1` slots. */
  private readonly laterPassed: GuestRequest[];
  private passedCount = 0;
  /** A stage that passed the request on runs code on the response. */
  private answerWanted = false;
  private failed = false;

  private readonly stages: readonly HttpMiddleware[];

  /** Runs `handle_request` down the chain's stages until one answers or fails, or the request reaches the handler. */
  static start(chain: MiddlewareChain, exchange: HttpExchange): ChainPass {
    // Constructed empty and then run: V8 inlines a small constructor's allocation, not one that calls into guests.
    const pass = new ChainPass(chain, exchange);
    pass.descend();
    return pass;
  }

  private constructor(
    private readonly chain: MiddlewareChain,
    private exchange: HttpExchange,
  ) {
    const stages = chain.stages;
    this.stages = stages;
    // Always an array, never null: V8 then compiles one shape of pass for chains of every length.
    this.laterPassed = stages.length > 1 ? new Array<GuestRequest>(stages.length - 1) : NO_REQUESTS;
  }

  /** `start` for a pass that left: the same trip for a new request. */
  restart(exchange: HttpExchange): void {
    this.exchange = exchange;
    this.handlerReached = false;
    this.firstPassed = null;
    this.passedCount = 0;
    this.answerWanted = false;
    this.failed = false;
    this.descend();
  }

  get reachedHandler(): boolean {
    return this.handlerReached;
  }

  /**
   * Whether a stage that passed the request on runs code on the response. When none does, `leave` has nothing to
   * wait for: the caller may leave before running the handler and send its answer as it comes, unless a stage
   * set response headers to merge into it (see `PipelineExchange.answerGoesThrough`).
   */
  get wantsAnswer(): boolean {
    return this.answerWanted;
  }

  /**
   * Runs `handle_response` back up the chain; `isError` when the handler failed rather than answered. This ends
   * the pass: it carries a later request, so the caller must not use it again.
   */
  leave(isError: boolean): void {
    let error = isError || this.failed;
    for (let i = this.passedCount - 1; i >= 0; i--) {
      try {
        this.stages[i]!.handleResponse(i === 0 ? this.firstPassed! : this.laterPassed[i - 1]!, error);
      } catch (err) {
        answerWithError(this.exchange, err);
        error = true;
      }
    }
    const status = this.exchange.statusCode;
    // A 1xx cannot end a response and codes past 599 are not HTTP: the client could not read the answer.
    if (status < 200 || status > 599) {
      answerWithError(this.exchange, errors.internal(`middleware set status ${status}, which cannot end an HTTP response`));
    }
    this.exchange = NO_EXCHANGE;
    this.firstPassed = null;
    this.chain.keep(this);
  }

  private descend(): void {
    const stages = this.stages;
    for (let i = 0; i < stages.length; i++) {
      let request: GuestRequest;
      try {
        request = stages[i]!.handleRequest(this.exchange);
      } catch (err) {
        answerWithError(this.exchange, err);
        this.failed = true;
        return;
      }
      if (!request.next) return;
      if (request.instance.handlesResponses) this.answerWanted = true;
      if (i === 0) this.firstPassed = request;
      else this.laterPassed[i - 1] = request;
      this.passedCount++;
    }
    this.handlerReached = true;
  }
}

/** Replaces whatever response the exchange holds with `err` in Dapr's error shape. */
export function answerWithError(exchange: HttpExchange, err: unknown): void {
  const error = asDaprError(err);
  const headers = exchange.responseHeaders;
  const names: string[] = [];
  const count = headers.collectNames(names);
  for (let i = 0; i < count; i++) headers.remove(names[i]!);
  headers.set('content-type', JSON_TYPE);
  exchange.statusCode = error.httpStatus;
  exchange.responseBody = Buffer.from(JSON.stringify(error));
}
