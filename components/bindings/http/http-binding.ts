// `bindings.http`: an output binding that makes one HTTP request per invoke, after daprd's http binding. The
// operation is the method (`create` is POST); request metadata `path` is appended to the base URL and every other
// request metadata item is sent as a header. The answer's body is the response data; its metadata is `statusCode`,
// `status` and the response headers, named as Go's net/http names them.

import { Agent as HttpAgent, request as httpRequest, validateHeaderName, validateHeaderValue, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { registerComponent } from '../../registry.js';
import { BindingInvokeError, bindingCapabilities, type Binding, type BindingMetadata, type InvokeRequest, type InvokeResponse, type OutputBinding } from '../bindings.js';
import { unquotedData } from '../request-data.js';
import { parseHttpSettings, type HttpBindingSettings } from './settings.js';

const METHODS: Readonly<Record<string, string>> = {
  create: 'POST',
  get: 'GET',
  head: 'HEAD',
  post: 'POST',
  put: 'PUT',
  patch: 'PATCH',
  delete: 'DELETE',
  options: 'OPTIONS',
  trace: 'TRACE',
};

/** As in daprd, only these methods carry the request data. */
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);
const DEFAULT_CONTENT_TYPE = 'application/json; charset=utf-8';
/** The binding frames the body itself: a length from the caller could only contradict it. */
const FRAMING_HEADERS = new Set(['content-length', 'transfer-encoding']);
const HEADER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export class HttpBinding implements Binding, OutputBinding {
  readonly output: OutputBinding = this;
  private readonly httpAgent = new HttpAgent({ keepAlive: true });
  private readonly httpsAgent: HttpsAgent;

  constructor(private readonly settings: HttpBindingSettings) {
    this.httpsAgent = new HttpsAgent({ keepAlive: true, ...settings.tls });
  }

  operations(): readonly string[] {
    return Object.keys(METHODS);
  }

  async invoke(req: InvokeRequest): Promise<InvokeResponse> {
    const method = METHODS[req.operation];
    if (method === undefined) throw new Error(`unsupported operation "${req.operation}"`);
    const url = this.targetUrl(req.metadata);
    const body = METHODS_WITH_BODY.has(method) ? unquotedData(req.data) : undefined;
    const headers = this.requestHeaders(req.metadata, body);
    const what = `${method} ${displayUrl(url)}`;
    const response = await this.exchange(url, method, headers, body, what);
    const status = response.res.statusCode!;
    const metadata = responseMetadata(response.res);
    if (this.settings.errorIfNot2XX && (status < 200 || status > 299)) {
      throw new BindingInvokeError(`received status code ${status}`, metadata);
    }
    return { data: response.body, metadata };
  }

  async close(): Promise<void> {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** The base URL with the request's `path` appended, one slash between them. */
  private targetUrl(metadata: BindingMetadata): URL {
    const path = metadata.path ?? '';
    const base = this.settings.url;
    if (path === '') return new URL(base);
    // The base URL is the binding's boundary: a path must not climb out of it on the server.
    const pathPart = path.split(/[?#]/, 1)[0]!;
    if (pathPart.split('/').some((segment) => /^(?:\.|%2e){2}$/i.test(segment))) {
      throw new Error(`request metadata "path" must not contain ".." segments, got "${path}"`);
    }
    try {
      return new URL(`${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`);
    } catch {
      throw new Error(`request metadata "path" does not make a valid URL: "${path}"`);
    }
  }

  private requestHeaders(metadata: BindingMetadata, body: Uint8Array | undefined): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = {};
    for (const [key, value] of Object.entries(metadata)) {
      if (key === 'path' || FRAMING_HEADERS.has(key.toLowerCase())) continue;
      try {
        validateHeaderName(key);
        validateHeaderValue(key, value);
      } catch (err) {
        throw new Error(`request metadata "${key}" cannot be sent as a header: ${(err as Error).message}`);
      }
      setHeader(headers, key, value);
    }
    if (body !== undefined) {
      if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) headers['Content-Type'] = DEFAULT_CONTENT_TYPE;
      headers['Content-Length'] = String(body.byteLength);
    }
    // Set last: the operator's credential is not the caller's to replace.
    const token = this.settings.securityToken;
    if (token !== undefined) setHeader(headers, token.header, token.value);
    return headers;
  }

  private exchange(
    url: URL,
    method: string,
    headers: OutgoingHttpHeaders,
    body: Uint8Array | undefined,
    what: string,
  ): Promise<{ res: IncomingMessage; body: Buffer }> {
    const { responseTimeoutMs, maxResponseBodySize } = this.settings;
    const secure = url.protocol === 'https:';
    const send = secure ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const fail = (err: Error): void => {
        clearTimeout(timer);
        request.destroy();
        reject(err);
      };
      const request = send(url, { method, headers, agent: secure ? this.httpsAgent : this.httpAgent }, (res) => {
        const declared = Number(res.headers['content-length']);
        if (declared > maxResponseBodySize) {
          fail(tooLarge(what, maxResponseBodySize));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxResponseBodySize) fail(tooLarge(what, maxResponseBodySize));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ res, body: Buffer.concat(chunks) });
        });
        res.on('error', (err) => fail(new Error(`${what}: ${err.message}`)));
      });
      request.on('error', (err) => fail(new Error(`${what}: ${err.message}`)));
      if (responseTimeoutMs > 0) {
        timer = setTimeout(() => fail(new Error(`${what}: no complete response within ${responseTimeoutMs / 1000}s (responseTimeout)`)), responseTimeoutMs);
      }
      request.end(body);
    });
  }
}

/** A header set once whatever the case of its name, the last value given winning. */
function setHeader(headers: OutgoingHttpHeaders, name: string, value: string): void {
  for (const existing of Object.keys(headers)) if (existing.toLowerCase() === name.toLowerCase()) delete headers[existing];
  headers[name] = value;
}

function tooLarge(what: string, limit: number): Error {
  return new Error(`${what}: the response body is larger than maxResponseBodySize (${limit} bytes)`);
}

/** The URL without credentials or query, for messages. */
function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** `statusCode`, `status` ("200 OK") and every response header, repeated ones joined with ", " as Go joins them. */
function responseMetadata(res: IncomingMessage): Record<string, string> {
  const headers = new Map<string, string[]>();
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
    const name = canonicalHeaderName(res.rawHeaders[i]!);
    // Go's client takes the framing out of the headers it reports.
    if (name === 'Transfer-Encoding') continue;
    const values = headers.get(name) ?? [];
    values.push(res.rawHeaders[i + 1]!);
    headers.set(name, values);
  }
  const status = res.statusCode!;
  return {
    ...Object.fromEntries([...headers].map(([name, values]) => [name, values.join(', ')])),
    statusCode: String(status),
    status: res.statusMessage === undefined || res.statusMessage === '' ? String(status) : `${status} ${res.statusMessage}`,
  };
}

/** Go's textproto.CanonicalMIMEHeaderKey: `content-type` is `Content-Type`; a name that is no token stays as it is. */
export function canonicalHeaderName(name: string): string {
  if (!HEADER_TOKEN.test(name)) return name;
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_match, separator: string, letter: string) => separator + letter.toUpperCase());
}

registerComponent({
  type: 'bindings.http',
  versions: ['v1'],
  kind: 'bindings',
  create: (meta) => new HttpBinding(parseHttpSettings(meta)),
  capabilities: bindingCapabilities,
});
