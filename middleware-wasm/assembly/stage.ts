// Strings handed to the host are encoded into static memory, so passing one allocates nothing; only text too
// large for its buffer is encoded into the per-request arena. Neither place is SCRATCH, so what a scratch read
// left there survives a convenience-layer call that only passes strings to the host.
import { isPermanent } from "./arena";
import { encodeInto } from "./utf8";

/** Where header names are staged: apart from the other buffers, so a lookup can write its result elsewhere. */
const NAME_SIZE: i32 = 256;
const NAME: usize = memory.data(NAME_SIZE, 16);

/** Where values, URIs, methods, log messages and body text are staged. */
const TEXT_SIZE: i32 = 4096;
const TEXT: usize = memory.data(TEXT_SIZE, 16);

/** Byte length of the text the last staging call placed. */
export let stagedLen: i32 = 0;

// A middleware passes the same few names and values on every request, mostly literals or strings it made while
// it initialised. Such a string never changes and no other string ever takes its address, so its encoding is
// kept in a direct-mapped cache keyed by that address, and staging it again is one comparison. Names and other
// text have a cache each: one host call passes at most one of each, so staging the value cannot evict the name.
const KEPT_SLOTS: usize = 32;
/** Longer encodings are not kept: past this, encoding costs little next to what the host does with the text. */
const KEPT_MAX: i32 = 64;
/** A cache: KEPT_SLOTS keys (string addresses, 0 = empty), then as many lengths, then the encoded bytes. */
const CACHE_SIZE: i32 = <i32>KEPT_SLOTS * (8 + KEPT_MAX);
const NAME_CACHE: usize = memory.data(CACHE_SIZE, 16);
const TEXT_CACHE: usize = memory.data(CACHE_SIZE, 16);

/** Where the kept encoding of `text` lies (its length in stagedLen), or 0 when `text` is not permanent or too long. */
function kept(text: string, cache: usize): usize {
  const key = changetype<usize>(text);
  if (!isPermanent(key)) return 0;
  // Objects are 16-byte aligned: the bits above the alignment tell neighbouring strings apart.
  const slot = (key >> 4) & (KEPT_SLOTS - 1);
  const keyAt = cache + (slot << 2);
  const lengthAt = keyAt + (KEPT_SLOTS << 2);
  const bytes = cache + (KEPT_SLOTS << 3) + slot * <usize>KEPT_MAX;
  if (load<usize>(keyAt) != key) {
    const len = encodeInto(text, bytes, KEPT_MAX);
    if (len < 0) return 0;
    store<usize>(keyAt, key);
    store<i32>(lengthAt, len);
  }
  stagedLen = load<i32>(lengthAt);
  return bytes;
}

/** Stages `text` (its kept encoding, or encoded at `buf` of `size` bytes); returns where, or 0 when it does not fit. */
function stageWithin(text: string, cache: usize, buf: usize, size: i32): usize {
  const at = kept(text, cache);
  if (at != 0) return at;
  const len = encodeInto(text, buf, size);
  if (len < 0) return 0;
  stagedLen = len;
  return buf;
}

function encodeToArena(text: string): usize {
  const encoded = String.UTF8.encode(text);
  stagedLen = encoded.byteLength;
  return changetype<usize>(encoded);
}

/** Stages header name `name` without allocating; returns where, or 0 when it needs more than NAME_SIZE bytes. */
export function stageNameWithin(name: string): usize {
  return stageWithin(name, NAME_CACHE, NAME, NAME_SIZE);
}

/** Stages header name `name`, in a new arena buffer when it is too large for NAME; returns where. */
export function stageName(name: string): usize {
  const at = stageNameWithin(name);
  return at != 0 ? at : encodeToArena(name);
}

/** Stages any other text (values, URIs, methods, log messages, bodies); returns where. */
export function stageText(text: string): usize {
  const at = stageWithin(text, TEXT_CACHE, TEXT, TEXT_SIZE);
  return at != 0 ? at : encodeToArena(text);
}
