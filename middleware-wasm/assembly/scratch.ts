// Zero-allocation layer: host values are read into a scratch buffer in static memory and inspected in place,
// so a middleware on its hot path can work without touching the heap at all. A scratch read overwrites the
// previous one: copy out (or use the convenience layer) if a value must survive the next read.
import * as abi from "./abi";

/** Capacity of the scratch buffer in bytes. */
export const SCRATCH_SIZE: i32 = 4096;
/** Start of the scratch buffer. */
export const SCRATCH: usize = memory.data(SCRATCH_SIZE, 16);

/** Result of a scratch reader when the value does not exist. */
export const ABSENT: i32 = -1;
/** Result of a scratch reader when the value is larger than the scratch buffer (nothing was written). */
export const TOO_LARGE: i32 = -2;

// Header names handed to the host live apart from SCRATCH so a lookup can write its result there.
const NAME_SIZE: i32 = 256;
const NAME: usize = memory.data(NAME_SIZE, 16);

// The host writes nothing when a value exceeds buf_limit but still reports its length.
// @ts-ignore: decorator
@inline function fitted(len: i32): i32 {
  return len <= SCRATCH_SIZE ? len : TOO_LARGE;
}

/** Reads the request method into SCRATCH; returns its length or TOO_LARGE. */
export function methodToScratch(): i32 {
  return fitted(abi.get_method(SCRATCH, SCRATCH_SIZE));
}

/** Reads the request URI (path and query, still encoded) into SCRATCH; returns its length or TOO_LARGE. */
export function uriToScratch(): i32 {
  return fitted(abi.get_uri(SCRATCH, SCRATCH_SIZE));
}

/** Reads the middleware configuration into SCRATCH; returns its length or TOO_LARGE. */
export function configToScratch(): i32 {
  return fitted(abi.get_config(SCRATCH, SCRATCH_SIZE));
}

/**
 * Reads the first value of the header whose UTF-8 name is at namePtr/nameLen into SCRATCH.
 * Returns the value's length, ABSENT or TOO_LARGE (all values together must fit).
 */
export function headerValueToScratch(kind: i32, namePtr: usize, nameLen: i32): i32 {
  const countLen = abi.get_header_values(kind, namePtr, nameLen, SCRATCH, SCRATCH_SIZE);
  if (countLen == 0) return ABSENT;
  const len = abi.lower32(countLen);
  if (len > SCRATCH_SIZE) return TOO_LARGE;
  // Values are NUL-terminated: the first one ends at the first NUL.
  let end: i32 = 0;
  while (end < len && load<u8>(SCRATCH + <usize>end) != 0) end++;
  return end;
}

/** Like headerValueToScratch, with the name given as an ASCII string (e.g. a literal); no allocation. */
export function namedHeaderValueToScratch(kind: i32, name: string): i32 {
  const nameLen = stageName(name);
  if (nameLen < 0) return TOO_LARGE;
  return headerValueToScratch(kind, NAME, nameLen);
}

/** Sets header `name` (an ASCII string) to the bytes at valuePtr/valueLen, e.g. a region of SCRATCH. */
export function setHeaderFrom(kind: i32, name: string, valuePtr: usize, valueLen: i32): void {
  const nameLen = stageName(name);
  if (nameLen < 0) unreachable();
  abi.set_header_value(kind, NAME, nameLen, valuePtr, valueLen);
}

/** Adds a value to header `name` (an ASCII string) from the bytes at valuePtr/valueLen. */
export function addHeaderFrom(kind: i32, name: string, valuePtr: usize, valueLen: i32): void {
  const nameLen = stageName(name);
  if (nameLen < 0) unreachable();
  abi.add_header_value(kind, NAME, nameLen, valuePtr, valueLen);
}

function stageName(name: string): i32 {
  return writeUtf8(name, NAME, NAME_SIZE);
}

/**
 * Encodes `text` as UTF-8 into memory at `buf` without allocating; returns the byte count, or TOO_LARGE
 * (and writes nothing) when it needs more than `limit` bytes.
 */
export function writeUtf8(text: string, buf: usize, limit: i32): i32 {
  const len = String.UTF8.byteLength(text);
  if (len > limit) return TOO_LARGE;
  String.UTF8.encodeUnsafe(changetype<usize>(text), text.length, buf);
  return len;
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
