// The `http_handler` host functions. Each is created once per instance and reads the request the instance is
// currently serving from `host.current`, so the per-call path allocates nothing beyond what results require.

import type { Logger } from '../../proxy/runtime/logger.js';
import { BodyKind, EOF_FLAG, Feature, GuestLogLevel, HeaderKind, SUPPORTED_FEATURES } from './abi.js';
import type { HeaderFields } from './headers.js';
import { GuestAbiViolation, type GuestMemory } from './guest-memory.js';
import type { GuestRequest } from './request.js';

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

  const request = (fn: string): GuestRequest => {
    const current = host.current;
    if (current === null) throw new GuestAbiViolation(`${fn} called outside handle_request/handle_response`);
    return current;
  };
  const beforeNext = (fn: string): GuestRequest => {
    const current = request(fn);
    if (current.afterNext) throw new GuestAbiViolation(`${fn} is not allowed after the next handler ran`);
    return current;
  };
  const beforeNextOr = (feature: number, featureName: string, fn: string): GuestRequest => {
    const current = request(fn);
    if (current.afterNext && (current.features & feature) === 0) {
      throw new GuestAbiViolation(`${fn} after the next handler needs the ${featureName} feature`);
    }
    return current;
  };
  const mutableHeaders = (kind: number, fn: string): HeaderFields | null => {
    switch (kind) {
      case HeaderKind.request:
        return beforeNext(fn).exchange.requestHeaders;
      case HeaderKind.response:
        return beforeNextOr(Feature.bufferResponse, 'buffer_response', fn).exchange.responseHeaders;
      case HeaderKind.requestTrailers:
      case HeaderKind.responseTrailers:
        return null;
      default:
        throw new GuestAbiViolation(`${fn}: unknown header kind ${kind}`);
    }
  };
  const readableHeaders = (kind: number, fn: string): HeaderFields | null => {
    const current = request(fn);
    switch (kind) {
      case HeaderKind.request:
        return current.exchange.requestHeaders;
      case HeaderKind.response:
        return current.exchange.responseHeaders;
      case HeaderKind.requestTrailers:
      case HeaderKind.responseTrailers:
        return null; // Trailers are unsupported: reads see none.
      default:
        throw new GuestAbiViolation(`${fn}: unknown header kind ${kind}`);
    }
  };
  const headerName = (ptr: number, len: number, fn: string): string => {
    if (len === 0) throw new GuestAbiViolation(`${fn}: header name cannot be empty`);
    return host.memory.readHeaderName(ptr, len);
  };
  const setOrAdd = (kind: number, name: number, nameLen: number, value: number, valueLen: number, fn: string, add: boolean): void => {
    const headers = mutableHeaders(kind, fn);
    // The ABI requires a trap when a host without trailer support is asked to set one.
    if (headers === null) throw new GuestAbiViolation(`${fn}: trailers are not supported`);
    const lowerName = headerName(name, nameLen, fn);
    const text = host.memory.readString(value, valueLen, 'value');
    if (add) headers.add(lowerName, text);
    else headers.set(lowerName, text);
  };

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
      const logger = host.logger;
      switch (level) {
        case GuestLogLevel.debug:
          if (logger.enabled('debug')) logger.debug(host.memory.readString(message, messageLen, 'message'));
          return;
        case GuestLogLevel.info:
          if (logger.enabled('info')) logger.info(host.memory.readString(message, messageLen, 'message'));
          return;
        case GuestLogLevel.warn:
          if (logger.enabled('warn')) logger.warn(host.memory.readString(message, messageLen, 'message'));
          return;
        case GuestLogLevel.error:
          if (logger.enabled('error')) logger.error(host.memory.readString(message, messageLen, 'message'));
          return;
        default:
          return; // "none" and unknown levels: the ABI says a host that cannot log ignores the message.
      }
    },

    log_enabled(level: number): number {
      const logger = host.logger;
      switch (level) {
        case GuestLogLevel.debug:
          return logger.enabled('debug') ? 1 : 0;
        case GuestLogLevel.info:
          return logger.enabled('info') ? 1 : 0;
        case GuestLogLevel.warn:
          return logger.enabled('warn') ? 1 : 0;
        case GuestLogLevel.error:
          return logger.enabled('error') ? 1 : 0;
        default:
          return 0;
      }
    },

    get_method(buf: number, bufLimit: number): number {
      return host.memory.writeStringIfFits(buf, bufLimit, request('get_method').exchange.method);
    },

    set_method(method: number, methodLen: number): void {
      const current = beforeNext('set_method');
      if (methodLen === 0) throw new GuestAbiViolation('set_method: method cannot be empty');
      current.exchange.method = host.memory.readString(method, methodLen, 'method');
    },

    get_uri(buf: number, bufLimit: number): number {
      const uri = request('get_uri').exchange.uri;
      return host.memory.writeStringIfFits(buf, bufLimit, uri.length === 0 ? '/' : uri);
    },

    set_uri(uri: number, uriLen: number): void {
      const current = beforeNext('set_uri');
      const value = host.memory.readString(uri, uriLen, 'uri');
      current.exchange.uri = value.length === 0 ? '/' : value;
    },

    get_protocol_version(buf: number, bufLimit: number): number {
      return host.memory.writeStringIfFits(buf, bufLimit, request('get_protocol_version').exchange.protocolVersion);
    },

    get_source_addr(buf: number, bufLimit: number): number {
      return host.memory.writeStringIfFits(buf, bufLimit, request('get_source_addr').exchange.sourceAddr);
    },

    add_header_value(kind: number, name: number, nameLen: number, value: number, valueLen: number): void {
      setOrAdd(kind, name, nameLen, value, valueLen, 'add_header_value', true);
    },

    set_header_value(kind: number, name: number, nameLen: number, value: number, valueLen: number): void {
      setOrAdd(kind, name, nameLen, value, valueLen, 'set_header_value', false);
    },

    remove_header(kind: number, name: number, nameLen: number): void {
      const headers = mutableHeaders(kind, 'remove_header');
      const lowerName = headerName(name, nameLen, 'remove_header');
      // Removing a trailer from a host that has none leaves nothing to do.
      headers?.remove(lowerName);
    },

    get_header_names(kind: number, buf: number, bufLimit: number): bigint {
      const headers = readableHeaders(kind, 'get_header_names');
      if (headers === null) return 0n;
      const count = headers.collectNames(scratch);
      return host.memory.writeNulTerminated(buf, bufLimit, scratch, count);
    },

    get_header_values(kind: number, name: number, nameLen: number, buf: number, bufLimit: number): bigint {
      const headers = readableHeaders(kind, 'get_header_values');
      const lowerName = headerName(name, nameLen, 'get_header_values');
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
        current = beforeNextOr(Feature.bufferRequest, 'buffer_request', 'read_body');
        body = current.exchange.requestBody;
        offset = current.requestBodyOffset;
      } else if (kind === BodyKind.response) {
        current = beforeNextOr(Feature.bufferResponse, 'buffer_response', 'read_body');
        body = current.exchange.responseBody;
        offset = current.responseBodyOffset;
      } else {
        throw new GuestAbiViolation(`read_body: unknown body kind ${kind}`);
      }
      const n = Math.min(bufLimit >>> 0, body.byteLength - offset);
      if (n > 0) host.memory.checkRange(buf >>> 0, n, 'buf').set(body.subarray(offset, offset + n), buf >>> 0);
      offset += n;
      if (kind === BodyKind.request) current.requestBodyOffset = offset;
      else current.responseBodyOffset = offset;
      return offset === body.byteLength ? EOF_FLAG | BigInt(n) : BigInt(n);
    },

    write_body(kind: number, body: number, bodyLen: number): void {
      const chunk = host.memory.readBytes(body, bodyLen, 'body');
      if (kind === BodyKind.request) {
        const current = beforeNext('write_body');
        const exchange = current.exchange;
        exchange.requestBody = current.requestBodyWritten ? concat(exchange.requestBody, chunk) : chunk;
        current.requestBodyWritten = true;
      } else if (kind === BodyKind.response) {
        const current = beforeNextOr(Feature.bufferResponse, 'buffer_response', 'write_body');
        const exchange = current.exchange;
        exchange.responseBody = current.responseBodyWritten ? concat(exchange.responseBody, chunk) : chunk;
        current.responseBodyWritten = true;
      } else {
        throw new GuestAbiViolation(`write_body: unknown body kind ${kind}`);
      }
    },

    get_status_code(): number {
      return beforeNextOr(Feature.bufferResponse, 'buffer_response', 'get_status_code').exchange.statusCode;
    },

    set_status_code(statusCode: number): void {
      if (statusCode < 100 || statusCode > 999) throw new GuestAbiViolation(`set_status_code: invalid status ${statusCode}`);
      beforeNextOr(Feature.bufferResponse, 'buffer_response', 'set_status_code').exchange.statusCode = statusCode;
    },
  };
}

function concat(head: Uint8Array, tail: Uint8Array): Uint8Array {
  const joined = new Uint8Array(head.byteLength + tail.byteLength);
  joined.set(head, 0);
  joined.set(tail, head.byteLength);
  return joined;
}
