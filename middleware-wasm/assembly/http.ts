// Convenience layer: strings and arrays instead of pointers. Values are allocated in the per-request arena
// (see arena.ts), so they are only valid until the current handler call returns. Strings handed to the host are
// staged in static memory (see stage.ts), so passing one allocates nothing.
import * as abi from "./abi";
import { SCRATCH, SCRATCH_SIZE } from "./scratch";
import { stagedLen, stageName, stageText } from "./stage";
import { decode } from "./utf8";

/** Reads a host string through a `get_*(buf, buf_limit) -> len` function, retrying with room when too large. */
function readString(read: (buf: usize, limit: i32) => i32): string {
  const len = read(SCRATCH, SCRATCH_SIZE);
  if (len <= SCRATCH_SIZE) return decode(SCRATCH, len);
  const buf = changetype<usize>(new ArrayBuffer(len));
  read(buf, len);
  return decode(buf, len);
}

/** Where a NUL-terminated list read by `fetchList` lies, and how long it is. */
let listBuf: usize = 0;
let listLen: i32 = 0;

/**
 * Reads a NUL-terminated list (the header names of `kind`, or the values of the header staged at `name`) into
 * SCRATCH, or into an arena buffer when it is larger; sets listBuf/listLen and returns the count.
 */
function fetchList(kind: i32, name: usize, nameLen: i32): i32 {
  let countLen = fetchInto(kind, name, nameLen, SCRATCH, SCRATCH_SIZE);
  let buf = SCRATCH;
  let len = abi.lower32(countLen);
  if (len > SCRATCH_SIZE) {
    buf = changetype<usize>(new ArrayBuffer(len));
    countLen = fetchInto(kind, name, nameLen, buf, len);
    len = abi.lower32(countLen);
  }
  listBuf = buf;
  listLen = len;
  return abi.upper32(countLen);
}

function fetchInto(kind: i32, name: usize, nameLen: i32, buf: usize, limit: i32): i64 {
  if (name == 0) return abi.get_header_names(kind, buf, limit);
  return abi.get_header_values(kind, name, nameLen, buf, limit);
}

/** The items of the list `fetchList` read. */
function listItems(): string[] {
  const items = new Array<string>(0);
  const buf = listBuf;
  let start: i32 = 0;
  for (let i: i32 = 0; i < listLen; i++) {
    if (load<u8>(buf + <usize>i) == 0) {
      items.push(decode(buf + <usize>start, i - start));
      start = i + 1;
    }
  }
  return items;
}

/** The headers (or trailers) of the request or the response. Names match case-insensitively. */
export class Headers {
  constructor(private readonly kind: i32) {}

  /** All header names, lower-cased by the host. */
  names(): string[] {
    fetchList(this.kind, 0, 0);
    return listItems();
  }

  /** The first value of `name`, or null when absent. */
  get(name: string): string | null {
    const staged = stageName(name);
    if (fetchList(this.kind, staged, stagedLen) == 0) return null;
    // Only the first value is decoded: it ends at the first NUL.
    const buf = listBuf;
    let end: i32 = 0;
    while (end < listLen && load<u8>(buf + <usize>end) != 0) end++;
    return decode(buf, end);
  }

  /** Every value of `name`, in order; empty when absent. */
  values(name: string): string[] {
    const staged = stageName(name);
    fetchList(this.kind, staged, stagedLen);
    return listItems();
  }

  has(name: string): bool {
    const staged = stageName(name);
    // buf_limit 0 asks only whether the header exists.
    return abi.get_header_values(this.kind, staged, stagedLen, SCRATCH, 0) != 0;
  }

  /** Replaces all values of `name` with `value`. */
  set(name: string, value: string): void {
    const n = stageName(name);
    const nLen = stagedLen;
    const v = stageText(value);
    abi.set_header_value(this.kind, n, nLen, v, stagedLen);
  }

  /** Adds `value` to the values of `name`. */
  add(name: string, value: string): void {
    const n = stageName(name);
    const nLen = stagedLen;
    const v = stageText(value);
    abi.add_header_value(this.kind, n, nLen, v, stagedLen);
  }

  remove(name: string): void {
    const n = stageName(name);
    abi.remove_header(this.kind, n, stagedLen);
  }
}

/**
 * The request or response body. Reads and writes are streams: a read consumes what it returns, and the first
 * write in a handler call replaces the body. Reading the request body without consuming it for the next
 * handler needs `Feature.BufferRequest`; the response body in handle_response needs `Feature.BufferResponse`.
 */
export class Body {
  constructor(private readonly kind: i32) {}

  /** Reads the rest of the body. */
  read(): Uint8Array {
    let capacity: i32 = SCRATCH_SIZE;
    let data = heap.alloc(<usize>capacity);
    let size: i32 = 0;
    while (true) {
      if (size == capacity) {
        capacity <<= 1;
        data = heap.realloc(data, <usize>capacity);
      }
      const eofLen = abi.read_body(this.kind, data + <usize>size, capacity - size);
      const chunk = abi.lower32(eofLen);
      size += chunk;
      // A host that reports no progress is treated as exhausted rather than polled forever.
      if (abi.upper32(eofLen) != 0 || chunk == 0) break;
    }
    const body = new Uint8Array(size);
    memory.copy(body.dataStart, data, <usize>size);
    return body;
  }

  /** Reads the rest of the body as UTF-8 text. */
  readText(): string {
    const bytes = this.read();
    return decode(bytes.dataStart, bytes.length);
  }

  write(bytes: Uint8Array): void {
    abi.write_body(this.kind, bytes.dataStart, bytes.length);
  }

  writeText(text: string): void {
    const staged = stageText(text);
    abi.write_body(this.kind, staged, stagedLen);
  }
}

export class Request {
  readonly headers: Headers = new Headers(abi.HeaderKind.Request);
  /** Needs `Feature.Trailers`. */
  readonly trailers: Headers = new Headers(abi.HeaderKind.RequestTrailers);
  readonly body: Body = new Body(abi.BodyKind.Request);

  get method(): string {
    return readString((buf: usize, limit: i32): i32 => abi.get_method(buf, limit));
  }

  set method(method: string) {
    const staged = stageText(method);
    abi.set_method(staged, stagedLen);
  }

  /** Path and query, percent-encoded as on the wire, e.g. "/v1.0/hi?name=kung+fu". */
  get uri(): string {
    return readString((buf: usize, limit: i32): i32 => abi.get_uri(buf, limit));
  }

  /** Must be percent-encoded; replaces the query too. */
  set uri(uri: string) {
    const staged = stageText(uri);
    abi.set_uri(staged, stagedLen);
  }

  /** e.g. "HTTP/1.1". */
  get protocolVersion(): string {
    return readString((buf: usize, limit: i32): i32 => abi.get_protocol_version(buf, limit));
  }

  /** The client address, e.g. "1.2.3.4:12345". Newer ABI function: older hosts lack it. */
  get sourceAddr(): string {
    return readString((buf: usize, limit: i32): i32 => abi.get_source_addr(buf, limit));
  }
}

export class Response {
  readonly headers: Headers = new Headers(abi.HeaderKind.Response);
  /** Needs `Feature.Trailers`. */
  readonly trailers: Headers = new Headers(abi.HeaderKind.ResponseTrailers);
  readonly body: Body = new Body(abi.BodyKind.Response);

  /** The status produced by the next handler; only meaningful in handle_response. */
  get statusCode(): i32 {
    return abi.get_status_code();
  }

  set statusCode(status: i32) {
    abi.set_status_code(status);
  }
}

/** The middleware configuration the host was given (Dapr: the component's `guestConfig`), as UTF-8 text. */
export function getConfig(): string {
  return readString((buf: usize, limit: i32): i32 => abi.get_config(buf, limit));
}

/** Writes `message` to the host log at `level` (see LogLevel). */
export function log(level: i32, message: string): void {
  const staged = stageText(message);
  abi.log(level, staged, stagedLen);
}

/**
 * Stops the middleware from starting: logs `reason` as an error and traps. Call it at the top level (during
 * `_start`) when the configuration is unusable; the host then refuses to load the module, as daprd refuses a
 * component whose initialisation failed, instead of running a middleware that cannot do its job.
 */
export function refuseToStart(reason: string): void {
  log(abi.LogLevel.Error, reason);
  unreachable();
}

/** Whether the host logs `level`: check before building an expensive message. */
export function logEnabled(level: i32): bool {
  return abi.log_enabled(level) != 0;
}

/**
 * Asks the host for the given Feature flags; returns every feature the host supports (check the bits you
 * need). Called during initialisation it applies to all requests, in a handler only to the current one.
 */
export function enableFeatures(features: i32): i32 {
  return abi.enable_features(features);
}
