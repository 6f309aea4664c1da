// The `http_handler` host functions. Each is created once per instance and reads the request the instance is
// currently serving from `host.current`, so the per-call path allocates nothing beyond what results require.

import { LOG_LEVELS, type Logger, type LogLevel } from '../../proxy/runtime/logger.js';
import { BodyKind, Feature, GuestLogLevel, HeaderKind, SUPPORTED_FEATURES } from './abi.js';
import type { HeaderFields } from './headers.js';
import { countLen, GuestAbiViolation, type GuestMemory } from './guest-memory.js';
import type { HttpExchange } from './exchange.js';
import { BodyWrite, type GuestRequest } from './request.js';

/** What the host functions need from the instance they are bound to. */
export interface HandlerHost {
  readonly memory: GuestMemory;
  readonly current: GuestRequest | null;
  /** Features enabled outside any request (at start-up); they apply to every later request. */
  features: number;
  readonly guestConfig: Uint8Array;
  readonly logger: Logger;
}

export const HANDLER_FUNCTIONS = [
  'enable_features', 'get_config', 'log', 'log_enabled', 'get_method', 'set_method', 'get_uri', 'set_uri',
  'get_protocol_version', 'add_header_value', 'set_header_value', 'remove_header', 'get_header_names',
  'get_header_values', 'read_body', 'write_body', 'get_status_code', 'set_status_code', 'get_source_addr',
] as const;

type HandlerImports = Record<(typeof HANDLER_FUNCTIONS)[number], (...args: never[]) => number | bigint | void>;

export function httpHandlerImports(host: HandlerHost): HandlerImports {
  // Reused by every header read: filled from index 0 with the names or values, then written to the guest.
  const scratch: string[] = [];

  return {
    enable_features(features: number): number {
      const wanted = features & SUPPORTED_FEATURES;
      const current = host.current;
      if (current === null) {
        host.features |= wanted;
        return host.features;
      }
      current.features |= wanted;
      return current.features;
    },

    get_config(buf: number, bufLimit: number): number {
      return host.memory.writeBytesIfFits(buf, bufLimit, host.guestConfig);
    },

    log(level: number, message: number, messageLen: number): void {
      const name = loggerLevel(level);
      if (name !== undefined && host.logger.enabled(name)) host.logger[name](host.memory.readString(message, messageLen, 'message'));
    },

    log_enabled(level: number): number {
      const name = loggerLevel(level);
      return name !== undefined && host.logger.enabled(name) ? 1 : 0;
    },

    get_method(buf: number, bufLimit: number): number {
      return host.memory.writeStringIfFits(buf, bufLimit, request(host, 'get_method').exchange.method);
    },

    set_method(method: number, methodLen: number): void {
      const current = beforeNext(host, 'set_method');
      if (methodLen === 0) throw new GuestAbiViolation('set_method: method cannot be empty');
      current.exchange.method = host.memory.readString(method, methodLen, 'method');
    },

    get_uri(buf: number, bufLimit: number): number {
      return host.memory.writeStringIfFits(buf, bufLimit, uriAsRead(request(host, 'get_uri').exchange));
    },

    set_uri(uri: number, uriLen: number): void {
      const current = beforeNext(host, 'set_uri');
      const exchange = current.exchange;
      // Compared with what get_uri gave the guest: a rewrite usually keeps part of it.
      const value = host.memory.readReplacement(uri, uriLen, uriAsRead(exchange), 'uri');
      exchange.uri = value.length === 0 ? '/' : value;
    },

    get_protocol_version(buf: number, bufLimit: number): number {
      return host.memory.writeStringIfFits(buf, bufLimit, request(host, 'get_protocol_version').exchange.protocolVersion);
    },

    get_source_addr(buf: number, bufLimit: number): number {
      return host.memory.writeStringIfFits(buf, bufLimit, request(host, 'get_source_addr').exchange.sourceAddr);
    },

    add_header_value(kind: number, name: number, nameLen: number, value: number, valueLen: number): void {
      setOrAdd(host, kind, name, nameLen, value, valueLen, 'add_header_value', true);
    },

    set_header_value(kind: number, name: number, nameLen: number, value: number, valueLen: number): void {
      setOrAdd(host, kind, name, nameLen, value, valueLen, 'set_header_value', false);
    },

    remove_header(kind: number, name: number, nameLen: number): void {
      const headers = mutableHeaders(host, kind, 'remove_header');
      const lowerName = headerName(host, name, nameLen, 'remove_header');
      // Removing a trailer from a host that has none leaves nothing to do.
      headers?.remove(lowerName);
    },

    get_header_names(kind: number, buf: number, bufLimit: number): bigint {
      const headers = readableHeaders(host, kind, 'get_header_names');
      if (headers === null) return 0n;
      const count = headers.collectNames(scratch);
      return host.memory.writeNulTerminated(buf, bufLimit, scratch, count);
    },

    get_header_values(kind: number, name: number, nameLen: number, buf: number, bufLimit: number): bigint {
      const headers = readableHeaders(host, kind, 'get_header_values');
      const lowerName = headerName(host, name, nameLen, 'get_header_values');
      if (headers === null) return 0n;
      const count = headers.collectValues(lowerName, scratch);
      return host.memory.writeNulTerminated(buf, bufLimit, scratch, count);
    },

    read_body(kind: number, buf: number, bufLimit: number): bigint {
      if (bufLimit === 0) throw new GuestAbiViolation('read_body: buf_limit cannot be zero');
      let body: Uint8Array;
      let offset: number;
      let current: GuestRequest;
      if (kind === BodyKind.request) {
        current = beforeNextOr(host, Feature.bufferRequest, 'buffer_request', 'read_body');
        body = current.requestBodyWrite?.source ?? current.exchange.requestBody;
        offset = current.requestBodyOffset;
      } else if (kind === BodyKind.response) {
        current = beforeNextOr(host, Feature.bufferResponse, 'buffer_response', 'read_body');
        body = current.responseBodyWrite?.source ?? current.exchange.responseBody;
        offset = current.responseBodyOffset;
      } else {
        unknownKind('read_body', 'body', kind);
      }
      const n = Math.min(bufLimit >>> 0, body.byteLength - offset);
      if (n > 0) host.memory.checkRange(buf >>> 0, n, 'buf').set(body.subarray(offset, offset + n), buf >>> 0);
      offset += n;
      if (kind === BodyKind.request) current.requestBodyOffset = offset;
      else current.responseBodyOffset = offset;
      return countLen(offset === body.byteLength ? 1 : 0, n);
    },

    write_body(kind: number, body: number, bodyLen: number): void {
      const chunk = host.memory.readBytes(body, bodyLen, 'body');
      if (kind === BodyKind.request) {
        const current = beforeNext(host, 'write_body');
        const exchange = current.exchange;
        if (current.requestBodyWrite === null) {
          current.requestBodyWrite = new BodyWrite(exchange.requestBody, chunk);
          exchange.requestBody = chunk;
        } else {
          exchange.requestBody = current.requestBodyWrite.append(chunk);
        }
      } else if (kind === BodyKind.response) {
        const current = beforeNextOr(host, Feature.bufferResponse, 'buffer_response', 'write_body');
        const exchange = current.exchange;
        if (current.responseBodyWrite === null) {
          current.responseBodyWrite = new BodyWrite(exchange.responseBody, chunk);
          exchange.responseBody = chunk;
        } else {
          exchange.responseBody = current.responseBodyWrite.append(chunk);
        }
      } else {
        unknownKind('write_body', 'body', kind);
      }
    },

    get_status_code(): number {
      return beforeNextOr(host, Feature.bufferResponse, 'buffer_response', 'get_status_code').exchange.statusCode;
    },

    set_status_code(statusCode: number): void {
      if (statusCode < 100 || statusCode > 999) throw new GuestAbiViolation(`set_status_code: invalid status ${statusCode}`);
      beforeNextOr(host, Feature.bufferResponse, 'buffer_response', 'set_status_code').exchange.statusCode = statusCode;
    },
  };
}

// Helpers of the host functions. They are module functions rather than closures over `host`: V8 does not inline
// closures that many instances created, and at tens of nanoseconds per call the calls would show. Failures are
// thrown by functions of their own, which keeps these small enough to inline.

function request(host: HandlerHost, fn: string): GuestRequest {
  return host.current ?? outsideRequest(fn);
}

function beforeNext(host: HandlerHost, fn: string): GuestRequest {
  const current = request(host, fn);
  return current.afterNext ? afterNext(fn) : current;
}

function beforeNextOr(host: HandlerHost, feature: number, featureName: string, fn: string): GuestRequest {
  const current = request(host, fn);
  return current.afterNext && (current.features & feature) === 0 ? featureNeeded(fn, featureName) : current;
}

// Trailers and unknown kinds are rare: handled apart, they keep these two small enough for V8 to inline.
function mutableHeaders(host: HandlerHost, kind: number, fn: string): HeaderFields | null {
  if (kind === HeaderKind.request) return beforeNext(host, fn).exchange.requestHeaders;
  if (kind === HeaderKind.response) return beforeNextOr(host, Feature.bufferResponse, 'buffer_response', fn).exchange.responseHeaders;
  return trailers(fn, kind);
}

function readableHeaders(host: HandlerHost, kind: number, fn: string): HeaderFields | null {
  const exchange = request(host, fn).exchange;
  if (kind === HeaderKind.request) return exchange.requestHeaders;
  if (kind === HeaderKind.response) return exchange.responseHeaders;
  return trailers(fn, kind);
}

/** Trailers are unsupported: there are none to read or change. Throws for a kind the ABI does not define. */
function trailers(fn: string, kind: number): null {
  if (kind === HeaderKind.requestTrailers || kind === HeaderKind.responseTrailers) return null;
  return unknownKind(fn, 'header', kind);
}

function headerName(host: HandlerHost, ptr: number, len: number, fn: string): string {
  return len === 0 ? emptyName(fn) : host.memory.readHeaderName(ptr, len);
}

function setOrAdd(host: HandlerHost, kind: number, name: number, nameLen: number, value: number, valueLen: number, fn: string, add: boolean): void {
  const headers = mutableHeaders(host, kind, fn);
  // The ABI requires a trap when a host without trailer support is asked to set one.
  if (headers === null) trailersUnsupported(fn);
  const lowerName = headerName(host, name, nameLen, fn);
  const text = host.memory.readHeaderValue(value, valueLen);
  if (add) headers.add(lowerName, text);
  else headers.set(lowerName, text);
}

/** The URI as get_uri hands it to a guest: an empty one reads as "/". */
function uriAsRead(exchange: HttpExchange): string {
  return exchange.uri.length === 0 ? '/' : exchange.uri;
}

function outsideRequest(fn: string): never {
  throw new GuestAbiViolation(`${fn} called outside handle_request/handle_response`);
}

function afterNext(fn: string): never {
  throw new GuestAbiViolation(`${fn} is not allowed after the next handler ran`);
}

function featureNeeded(fn: string, featureName: string): never {
  throw new GuestAbiViolation(`${fn} after the next handler needs the ${featureName} feature`);
}

function emptyName(fn: string): never {
  throw new GuestAbiViolation(`${fn}: header name cannot be empty`);
}

function trailersUnsupported(fn: string): never {
  throw new GuestAbiViolation(`${fn}: trailers are not supported`);
}

/** The runtime's level for an ABI log level (debug..error map in order); "none" and unknown levels are ignored, as the ABI allows. */
function loggerLevel(level: number): LogLevel | undefined {
  return level >= GuestLogLevel.debug && level <= GuestLogLevel.error ? LOG_LEVELS[level - GuestLogLevel.debug] : undefined;
}

function unknownKind(fn: string, what: 'header' | 'body', kind: number): never {
  throw new GuestAbiViolation(`${fn}: unknown ${what} kind ${kind}`);
}

