import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { createLogger } from '../runtime/logger.js';
import { errors } from '../runtime/errors.js';
import type { MiddlewareChain } from '../middleware/chain.js';
import { runApiPipeline } from '../middleware/api-pipeline.js';
import { ApiReply } from './reply.js';
import { ApiRequest, EMPTY_BODY } from './request.js';
import type { RouteHandler, Router } from './router.js';
import { loadNativeUws } from './uws.js';

const log = createLogger('http');
const uws = loadNativeUws();

export interface HttpFrontOptions {
  maxBodyBytes: number;
  /** DAPR_API_TOKEN; '' disables the check. */
  apiToken: string;
  /** Answers requests no route matched (the `dapr-app-id` invocation form lives there). */
  fallback: RouteHandler;
  /** Configuration `spec.httpPipeline`; none when it names no middleware. */
  pipeline?: MiddlewareChain | null;
}

// Paths an app may call without the API token, as in daprd.
const TOKEN_EXEMPT = new Set(['/v1.0/healthz', '/v1.0/healthz/outbound']);

/**
 * The sidecar's HTTP API on uWebSockets.js: copies each request out of the native stack frame, reads the body
 * within the size limit, and hands it to the route's handler with an ApiReply that survives aborts.
 */
export class HttpFront {
  private readonly app: TemplatedApp;
  private listenSocket: us_listen_socket | null = null;
  private inFlight = 0;
  private drained: (() => void) | null = null;
  /** Runs a request through `spec.httpPipeline`, then routes it; null when the pipeline names no middleware. */
  private readonly runPipeline: RouteHandler | null;

  constructor(
    private readonly router: Router,
    private readonly options: HttpFrontOptions,
  ) {
    const pipeline = options.pipeline ?? null;
    this.runPipeline = pipeline === null ? null : (request, reply) => runApiPipeline(pipeline, request, reply, this.routeAndRun);
    this.app = uws.App().any('/*', (res, req) => this.dispatch(res, req));
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (socket) => {
        if (socket === false) {
          reject(new Error(`cannot listen on ${host}:${port} for the HTTP API`));
          return;
        }
        this.listenSocket = socket;
        resolve(uws.us_socket_local_port(socket));
      });
    });
  }

  /** Stops accepting connections; resolves when in-flight requests have finished or after `graceMs`. */
  close(graceMs: number): Promise<void> {
    if (this.listenSocket !== null) {
      uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, graceMs);
      this.drained = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  private dispatch(res: HttpResponse, req: HttpRequest): void {
    const method = req.getMethod().toUpperCase();
    const url = req.getUrl();
    const headers: string[] = [];
    req.forEach((name, value) => {
      headers.push(name, value);
    });
    const request = new ApiRequest(method, url, req.getQuery() ?? '', headers);
    const reply = new ApiReply(res);
    reply.headOnly = method === 'HEAD';
    res.onAborted(() => reply.abort());
    this.inFlight++;
    reply.onFinish = this.onReplyFinished;

    if (this.options.apiToken !== '' && !TOKEN_EXEMPT.has(url) && request.header('dapr-api-token') !== this.options.apiToken) {
      reply.send(401, ['content-type', 'text/plain'], 'invalid api token');
      return;
    }

    const contentLength = req.getHeader('content-length');
    const expected = contentLength === '' ? -1 : Number(contentLength);
    if (expected > this.options.maxBodyBytes) {
      reply.error(errors.bodyTooLarge(this.options.maxBodyBytes), true);
      return;
    }
    this.readBody(res, request, reply, expected, this.runPipeline ?? this.route(request));
  }

  /** The handler for a request, with its route parameters stored on it. */
  private route(request: ApiRequest): RouteHandler {
    const match = this.router.match(request.method, request.url);
    if (match === null) return this.options.fallback;
    request.params = match.params;
    return match.handler;
  }

  /** Routing after the middleware chain, which may have rewritten the method or path. */
  private readonly routeAndRun = (request: ApiRequest, reply: ApiReply): void => {
    this.runHandler(this.route(request), request, reply);
  };

  private readonly onReplyFinished = (): void => {
    this.inFlight--;
    if (this.inFlight === 0 && this.drained !== null) {
      const drained = this.drained;
      this.drained = null;
      drained();
    }
  };

  private readBody(res: HttpResponse, request: ApiRequest, reply: ApiReply, expected: number, handler: RouteHandler): void {
    const limit = this.options.maxBodyBytes;
    // With a Content-Length the body lands in one buffer of the right size: one copy, no concatenation.
    let buffer: Buffer | null = expected > 0 ? Buffer.allocUnsafe(expected) : null;
    let chunks: Buffer[] | null = null;
    let received = 0;
    res.onData((chunk, isLast) => {
      if (reply.done) return;
      const size = chunk.byteLength;
      if (size > 0) {
        if (received + size > limit || (buffer !== null && received + size > buffer.length)) {
          reply.error(errors.bodyTooLarge(limit), true);
          return;
        }
        const view = new Uint8Array(chunk);
        if (buffer !== null) buffer.set(view, received);
        else (chunks ??= []).push(Buffer.from(view));
        received += size;
      }
      if (!isLast) return;
      if (buffer !== null) request.body = received === buffer.length ? buffer : buffer.subarray(0, received);
      else if (chunks !== null) request.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
      else request.body = EMPTY_BODY;
      buffer = null;
      chunks = null;
      this.runHandler(handler, request, reply);
    });
  }

  private runHandler(handler: RouteHandler, request: ApiRequest, reply: ApiReply): void {
    try {
      handler(request, reply);
    } catch (err) {
      log.error(`unhandled error in ${request.method} ${request.url}: ${(err as Error).stack ?? String(err)}`);
      reply.error(errors.internal(String((err as Error).message ?? err)));
    }
  }
}

