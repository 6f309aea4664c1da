// The request/response pair a middleware works on, as the HTTP front hands it to the wasm host.

import { HeaderOverlay, lowerCaseNames, type HeaderFields } from './headers.js';

export interface HttpExchange {
  /** Upper-case verb; middleware may rewrite it before the next handler runs. */
  method: string;
  /** Path and query, still percent-encoded, e.g. "/v1.0/hi?name=panda"; "/" when the request had none. */
  uri: string;
  /** e.g. "HTTP/1.1" or "HTTP/2.0". */
  readonly protocolVersion: string;
  /** The client's address as "1.2.3.4:5678" or "[::1]:5678". */
  readonly sourceAddr: string;
  readonly requestHeaders: HeaderFields;
  /** The request body as received. Replaced, never written into, when a guest writes the request body. */
  requestBody: Uint8Array;
  /** 200 until the next handler or a guest sets another. */
  statusCode: number;
  readonly responseHeaders: HeaderFields;
  /** The buffered response body; replaced, never written into, when a guest writes it. */
  responseBody: Uint8Array;
}

const EMPTY = new Uint8Array(0);

export interface MemoryExchangeInit {
  method?: string;
  uri?: string;
  protocolVersion?: string;
  sourceAddr?: string;
  /** Flat `[name, value, ...]`, names in any case. */
  requestHeaders?: readonly string[];
  requestBody?: Uint8Array;
  statusCode?: number;
  responseHeaders?: readonly string[];
  responseBody?: Uint8Array;
}

/** An exchange held entirely in memory: what tests use, and a model for the front's own implementation. */
export class MemoryExchange implements HttpExchange {
  method: string;
  uri: string;
  readonly protocolVersion: string;
  readonly sourceAddr: string;
  readonly requestHeaders: HeaderOverlay;
  requestBody: Uint8Array;
  statusCode: number;
  readonly responseHeaders: HeaderOverlay;
  responseBody: Uint8Array;

  constructor(init: MemoryExchangeInit = {}) {
    this.method = init.method ?? 'GET';
    this.uri = init.uri ?? '/';
    this.protocolVersion = init.protocolVersion ?? 'HTTP/1.1';
    this.sourceAddr = init.sourceAddr ?? '127.0.0.1:40000';
    this.requestHeaders = new HeaderOverlay(lowerCaseNames(init.requestHeaders ?? []));
    this.requestBody = init.requestBody ?? EMPTY;
    this.statusCode = init.statusCode ?? 200;
    this.responseHeaders = new HeaderOverlay(lowerCaseNames(init.responseHeaders ?? []));
    this.responseBody = init.responseBody ?? EMPTY;
  }
}

/**
 * What a finished request's state points at while it waits to be reused, so that it holds on to no exchange and
 * its bodies.
 */
export const NO_EXCHANGE: HttpExchange = new MemoryExchange();
