// The request/response pair a middleware chain works on, shared by the API pipeline and the app pipeline: the
// request side over the sender's own header list, the response side filled in when the handler answers.

import { HeaderOverlay, lowerCaseNames } from '../../middleware-wasm/host/headers.js';
import type { HttpExchange } from '../../middleware-wasm/host/index.js';
import type { ChainPass } from './chain.js';
import { rewrittenHeaders } from './rewritten-headers.js';

const NO_HEADERS: readonly string[] = [];
export const EMPTY_BYTES = new Uint8Array(0);

export abstract class PipelineExchange implements HttpExchange {
  method: string;
  uri: string;
  readonly protocolVersion = 'HTTP/1.1';
  readonly requestHeaders: HeaderOverlay;
  requestBody: Uint8Array;
  statusCode = 200;
  responseBody: Uint8Array = EMPTY_BYTES;
  /** The handler's header list as it gave it, sent on unchanged when no stage touched the response headers. */
  private answeredHeaders: readonly string[] = NO_HEADERS;
  /**
   * The response headers as stages see them, made when a stage first asks: most chains never read the response's
   * headers, and the overlay's snapshot needs the handler's names lower-cased, a copy of the list when they are not.
   */
  private responseOverlay: HeaderOverlay | null = null;

  abstract readonly sourceAddr: string;

  constructor(
    method: string,
    uri: string,
    /** Flat `[name, value, ...]` with lower-case names. */
    requestHeaders: readonly string[],
    requestBody: Uint8Array,
  ) {
    this.method = method;
    this.uri = uri;
    this.requestHeaders = new HeaderOverlay(requestHeaders);
    this.requestBody = requestBody;
  }

  get responseHeaders(): HeaderOverlay {
    return (this.responseOverlay ??= new HeaderOverlay(lowerCaseSnapshot(this.answeredHeaders)));
  }

  /** The request headers to forward: `original` unless a stage changed them. */
  forwardedHeaders(original: string[]): string[] {
    return this.requestHeaders.modified ? rewrittenHeaders(this.requestHeaders) : original;
  }

  /**
   * Whether the handler's answer must come back through the chain (`takeAnswer`, then `pass.leave`): a stage runs
   * code on responses, or set response headers before passing the request on. Otherwise the pass may be left
   * before the handler runs, and the answer sent as the handler gives it, without being held and copied.
   */
  answerGoesThrough(pass: ChainPass): boolean {
    const early = this.responseOverlay;
    return pass.wantsAnswer || (early !== null && early.modified);
  }

  /**
   * Takes the handler's answer. Response headers a stage set before passing the request on stay unless the handler
   * sent the same name, as with a Go ResponseWriter's header map.
   */
  takeAnswer(status: number, headers: readonly string[], body: Uint8Array): void {
    const early = this.responseOverlay;
    this.responseOverlay = null;
    this.answeredHeaders = headers;
    this.statusCode = status;
    this.responseBody = body;
    if (early === null || !early.modified) return;
    const answered = this.responseHeaders;
    const names: string[] = [];
    const values: string[] = [];
    const count = early.collectNames(names);
    for (let i = 0; i < count; i++) {
      const name = names[i]!;
      if (answered.collectValues(name, values) > 0) continue;
      const n = early.collectValues(name, values);
      for (let v = 0; v < n; v++) answered.add(name, values[v]!);
    }
  }

  /** The response headers to send once the chain is done: the handler's own list unless a stage changed them. */
  answerHeaders(): readonly string[] {
    const overlay = this.responseOverlay;
    return overlay !== null && overlay.modified ? rewrittenHeaders(overlay) : this.answeredHeaders;
  }
}

/** `flat` itself when its names are already lower-case, as the front's are; a lower-cased copy otherwise. */
export function lowerCaseSnapshot(flat: readonly string[]): readonly string[] {
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    if (name !== name.toLowerCase()) return lowerCaseNames(flat);
  }
  return flat;
}

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

