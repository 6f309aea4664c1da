// `spec.appHttpPipeline`: the middleware chain on every request the sidecar sends its app (invocations, events,
// binding deliveries, subscription discovery), wrapped around the app channel.

import type { AppChannel, AppRequest, AppResponse, AppResponseCallback, PendingAppRequest } from '../appchannel/http-pool.js';
import { errors } from '../runtime/errors.js';
import { answerWithError, type ChainPass, type MiddlewareChain } from './chain.js';
import { asBuffer, EMPTY_BYTES, lowerCaseSnapshot, PipelineExchange } from './exchange.js';

class AppExchange extends PipelineExchange {
  // The request comes from the sidecar itself, so there is no client address to give.
  readonly sourceAddr = '';

  constructor(private readonly request: AppRequest) {
    super(request.method, request.path, lowerCaseSnapshot(request.headers), request.body ?? EMPTY_BYTES);
  }

  forwardedRequest(): AppRequest {
    const original = this.request;
    const body = this.requestBody.byteLength === 0 && original.body === null ? null : this.requestBody;
    return { method: this.method, path: this.uri, headers: this.forwardedHeaders(original.headers), body };
  }

  response(): AppResponse {
    return { status: this.statusCode, headers: this.answerHeaders() as string[], body: asBuffer(this.responseBody) };
  }
}

/** One request's handle: aborting it aborts the app call and still lets the stages that passed it on finish. */
class PipelinedRequest implements PendingAppRequest {
  upstream: PendingAppRequest | null = null;
  private settled = false;

  constructor(private readonly pass: ChainPass) {}

  abort(): void {
    if (this.settled) return;
    this.settled = true;
    this.upstream?.abort();
    this.pass.leave(true);
  }

  /** Delivers the outcome unless the request was aborted. */
  settle(deliver: () => void): void {
    if (this.settled) return;
    this.settled = true;
    deliver();
  }
}

export class PipelinedAppChannel implements AppChannel {
  constructor(
    private readonly chain: MiddlewareChain,
    private readonly channel: AppChannel,
  ) {}

  request(req: AppRequest, onDone: AppResponseCallback): PendingAppRequest {
    const exchange = new AppExchange(req);
    const pass = this.chain.enter(exchange);
    if (!pass.reachedHandler) {
      const answered = new PipelinedRequest(pass);
      // Callers expect the answer after request() returned, as from the app.
      queueMicrotask(() =>
        answered.settle(() => {
          pass.leave(false);
          onDone(null, exchange.response());
        }),
      );
      return answered;
    }
    const forwarded = exchange.forwardedRequest();
    if (!exchange.answerGoesThrough(pass)) {
      pass.leave(false);
      return this.channel.request(forwarded, onDone);
    }
    const pending = new PipelinedRequest(pass);
    pending.upstream = this.channel.request(forwarded, (err, res) =>
      pending.settle(() => {
        if (err !== null) {
          // The stages see the failure as a 500; the caller gets the channel's own error, as without a pipeline.
          answerWithError(exchange, errors.internal(err.message));
          pass.leave(true);
          onDone(err, null);
          return;
        }
        exchange.takeAnswer(res!.status, res!.headers, res!.body);
        pass.leave(false);
        onDone(null, exchange.response());
      }),
    );
    return pending;
  }
}
