// `spec.httpPipeline`: the middleware chain in front of the sidecar's HTTP API. The chain sees the request before
// routing, so a stage may rewrite the path to another API, and sees every answer, errors included, before it is sent.

import type { ApiReply } from '../http/reply.js';
import { ApiRequest } from '../http/request.js';
import type { RouteHandler } from '../http/router.js';
import type { MiddlewareChain } from './chain.js';
import { asBuffer, EMPTY_BYTES, PipelineExchange } from './exchange.js';

/** An API request as the chain sees it; the request headers are the front's snapshot, copied only if changed. */
class ApiExchange extends PipelineExchange {
  private readonly originalUri: string;
  private address: string | null = null;

  constructor(
    private readonly request: ApiRequest,
    private readonly reply: ApiReply,
  ) {
    const uri = request.query === '' ? request.url : request.url + '?' + request.query;
    super(request.method, uri, request.headers, request.body);
    this.originalUri = uri;
  }

  /** Read from the connection only for a guest that asks: it costs a native call and two allocations. */
  get sourceAddr(): string {
    return (this.address ??= this.reply.clientAddress());
  }

  /** The request for the router: the original one unless a stage changed the method, URI or headers. */
  forwardedRequest(): ApiRequest {
    const original = this.request;
    const body = asBuffer(this.requestBody);
    if (this.method === original.method && this.uri === this.originalUri && !this.requestHeaders.modified) {
      original.body = body;
      return original;
    }
    const headers = this.forwardedHeaders(original.headers);
    const uri = this.uri.startsWith('/') ? this.uri : '/' + this.uri;
    const queryAt = uri.indexOf('?');
    const request =
      queryAt === -1
        ? new ApiRequest(this.method, uri, '', headers)
        : new ApiRequest(this.method, uri.slice(0, queryAt), uri.slice(queryAt + 1), headers);
    request.body = body;
    return request;
  }

  sendTo(reply: ApiReply, closeConnection: boolean): void {
    reply.send(this.statusCode, this.answerHeaders(), this.responseBody, closeConnection);
  }
}

/**
 * Runs one API request through `chain`, then through `route` (routing and the API handler) unless a stage answered.
 * Called as the request's body completes, so that the client's address can still be read from the connection.
 */
export function runApiPipeline(chain: MiddlewareChain, request: ApiRequest, reply: ApiReply, route: RouteHandler): void {
  const exchange = new ApiExchange(request, reply);
  const pass = chain.enter(exchange);
  if (!pass.reachedHandler) {
    pass.leave(false);
    exchange.sendTo(reply, false);
    return;
  }
  const forwarded = exchange.forwardedRequest();
  if (!exchange.answerGoesThrough(pass)) {
    pass.leave(false);
    route(forwarded, reply);
    return;
  }
  reply.intercept = (status, headers, body, closeConnection) => {
    exchange.takeAnswer(status, headers ?? [], body === null ? EMPTY_BYTES : typeof body === 'string' ? Buffer.from(body) : body);
    pass.leave(false);
    exchange.sendTo(reply, closeConnection);
  };
  route(forwarded, reply);
}
