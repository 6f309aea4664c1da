// Zero-allocation layer: host values are read into a scratch buffer in static memory and inspected in place,
// so a middleware on its hot path can work without touching the heap at all. A scratch read overwrites the
// previous one: copy out (or use the convenience layer) if a value must survive the next read.
import * as abi from "./abi";
import { stagedLen, stageNameWithin } from "./stage";
import { encodeInto } from "./utf8";

/** Capacity of the scratch buffer in bytes. */
export const SCRATCH_SIZE: i32 = 4096;
/** Start of the scratch buffer. */
export const SCRATCH: usize = memory.data(SCRATCH_SIZE, 16);

/** Result of a scratch reader when the value does not exist. */
export const ABSENT: i32 = -1;
/** Result of a scratch reader when the value is larger than the room left in the scratch buffer (nothing was written). */
export const TOO_LARGE: i32 = -2;

// The host writes nothing when a value exceeds buf_limit but still reports its length.
// @ts-ignore: decorator
@inline function fitted(len: i32, limit: i32): i32 {
  return len <= limit ? len : TOO_LARGE;
}

// Every reader takes `at`, the offset in SCRATCH to read to, so a value can be placed after what is already there
// (e.g. to assemble a new URI from pieces); the room left is SCRATCH_SIZE - at. An offset outside the buffer traps.
// @ts-ignore: decorator
@inline function room(at: i32): i32 {
  if (<u32>at > <u32>SCRATCH_SIZE) unreachable();
  return SCRATCH_SIZE - at;
}

/** Reads the request method into SCRATCH at `at`; returns its length or TOO_LARGE. */
export function methodToScratch(at: i32 = 0): i32 {
  const limit = room(at);
  return fitted(abi.get_method(SCRATCH + <usize>at, limit), limit);
}

/** Reads the request URI (path and query, still encoded) into SCRATCH at `at`; returns its length or TOO_LARGE. */
export function uriToScratch(at: i32 = 0): i32 {
  const limit = room(at);
  return fitted(abi.get_uri(SCRATCH + <usize>at, limit), limit);
}

/** Reads the middleware configuration into SCRATCH at `at`; returns its length or TOO_LARGE. */
export function configToScratch(at: i32 = 0): i32 {
  const limit = room(at);
  return fitted(abi.get_config(SCRATCH + <usize>at, limit), limit);
}

/**
 * Reads the first value of the header whose UTF-8 name is at namePtr/nameLen into SCRATCH at `at`.
 * Returns the value's length, ABSENT or TOO_LARGE (all values together must fit).
 */
export function headerValueToScratch(kind: i32, namePtr: usize, nameLen: i32, at: i32 = 0): i32 {
  const limit = room(at);
  const buf = SCRATCH + <usize>at;
  const countLen = abi.get_header_values(kind, namePtr, nameLen, buf, limit);
  if (countLen == 0) return ABSENT;
  const len = abi.lower32(countLen);
  if (len > limit) return TOO_LARGE;
  // Values are NUL-terminated: the first one ends at the first NUL.
  let end: i32 = 0;
  while (end < len && load<u8>(buf + <usize>end) != 0) end++;
  return end;
}

/** Like headerValueToScratch, with the name given as an ASCII string (e.g. a literal); no allocation. */
export function namedHeaderValueToScratch(kind: i32, name: string, at: i32 = 0): i32 {
  const staged = stageNameWithin(name);
  if (staged == 0) return TOO_LARGE;
  return headerValueToScratch(kind, staged, stagedLen, at);
}

/** Sets header `name` (an ASCII string) to the bytes at valuePtr/valueLen, e.g. a region of SCRATCH. */
export function setHeaderFrom(kind: i32, name: string, valuePtr: usize, valueLen: i32): void {
  abi.set_header_value(kind, stagedName(name), stagedLen, valuePtr, valueLen);
}

/** Sets the request URI to the bytes at ptr/len, e.g. one assembled in SCRATCH; they must be percent-encoded. */
export function setUriFrom(ptr: usize, len: i32): void {
  abi.set_uri(ptr, len);
}

/** Adds a value to header `name` (an ASCII string) from the bytes at valuePtr/valueLen. */
export function addHeaderFrom(kind: i32, name: string, valuePtr: usize, valueLen: i32): void {
  abi.add_header_value(kind, stagedName(name), stagedLen, valuePtr, valueLen);
}

/** Where `name` is staged (its length in stagedLen); a name past 256 bytes traps. */
function stagedName(name: string): usize {
  const staged = stageNameWithin(name);
  if (staged == 0) unreachable();
  return staged;
}

/**
 * Encodes `text` as UTF-8 into memory at `buf` without allocating; returns the byte count, or TOO_LARGE
 * (and writes nothing) when it needs more than `limit` bytes.
 */
export function writeUtf8(text: string, buf: usize, limit: i32): i32 {
  const len = encodeInto(text, buf, limit);
  return len >= 0 ? len : TOO_LARGE;
}

/** Whether two byte ranges hold the same bytes. */
export function bytesEqual(a: usize, aLen: i32, b: usize, bLen: i32): bool {
  return aLen == bLen && memory.compare(a, b, <usize>aLen) == 0;
}

/** Whether the bytes at ptr/len spell the ASCII string `text` exactly. */
export function equalsAscii(ptr: usize, len: i32, text: string): bool {
  return len == text.length && startsWithAscii(ptr, len, text);
}

/** Whether the bytes at ptr/len spell `text` ignoring ASCII case, as header names compare. */
export function equalsAsciiIgnoreCase(ptr: usize, len: i32, text: string): bool {
  if (len != text.length) return false;
  for (let i = 0; i < len; i++) {
    if (lowerAscii(<u32>load<u8>(ptr + <usize>i)) != lowerAscii(<u32>text.charCodeAt(i))) return false;
  }
  return true;
}

/** Whether the bytes at ptr/len begin with the ASCII string `prefix`. */
export function startsWithAscii(ptr: usize, len: i32, prefix: string): bool {
  const prefixLen = prefix.length;
  if (prefixLen > len) return false;
  for (let i = 0; i < prefixLen; i++) {
    if (<i32>load<u8>(ptr + <usize>i) != prefix.charCodeAt(i)) return false;
  }
  return true;
}

// @ts-ignore: decorator
@inline function lowerAscii(c: u32): u32 {
  return c - 65 < 26 ? c | 32 : c;
}
