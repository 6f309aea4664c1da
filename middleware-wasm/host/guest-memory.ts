// Raw pointer/length access to a guest's linear memory. The Buffer view is cached and rebuilt only when
// memory.grow detached the old one, so host functions neither allocate views nor copy through JS strings twice.
// Every call into Node's string codecs costs about 40 ns whatever the length, while a JS loop costs a few ns
// per character: very short strings (methods, most header values) are copied in JS, longer ones go through
// Node, which also handles non-ASCII text.

/** Up to this many bytes a JS loop beats a call into Node (measured on strings and on guest bytes). */
const JS_COPY_MAX = 8;
/** A UTF-16 code unit encodes to at most this many bytes of UTF-8 (a surrogate pair, two units, to four). */
const MAX_UTF8_PER_UNIT = 3;

// Guests use the same few strings on every request, so a memory remembers recent ones: comparing bytes (or
// strings) costs less than decoding (or encoding) them again. Each cache is small; the decodings are
// direct-mapped (see `RecentDecodings`), with room for several times the strings a middleware usually passes.
/** Header names read. Past 32 bytes comparing costs more than decoding (about 45 ns), so longer ones are not kept. */
const NAME_CACHE_SLOTS = 64;
const CACHED_NAME_MAX = 32;
/** Header values set: often constants ("true", "nosniff"); only short ones are remembered. */
const VALUE_CACHE_SLOTS = 32;
const CACHED_VALUE_MAX = 32;
/** Strings written (URI, source address, ...): each middleware of a chain reads the same URI. */
const WRITE_CACHE_SIZE = 4;
const CACHED_STRING_MAX = 2048;
/** Heads of rewritten strings (see `readReplacement`): "/tenants/acme" ahead of the URI it was read as. */
const HEAD_CACHE_SLOTS = 32;
const CACHED_HEAD_MAX = 64;

/**
 * The codec methods Buffer's `toString(encoding, ...)` and `write(..., encoding)` dispatch to (present on
 * Buffer.prototype since Node's first releases, though @types/node leaves them out). Calling them directly skips
 * the encoding lookup and argument checks, which made a URI rewrite about 25 ns faster in the benchmark.
 */
interface NodeBuffer extends Buffer {
  utf8Slice(start: number, end: number): string;
  utf8Write(value: string, offset: number, length: number): number;
  latin1Write(value: string, offset: number, length: number): number;
}

/** Thrown by host functions when a guest breaks the ABI; it surfaces like a trap and fails the request. */
export class GuestAbiViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuestAbiViolation';
  }
}

export class GuestMemory {
  private bytes: Buffer;
  /** The same memory read in 32-bit words, which is how the caches compare bytes; rebuilt with `bytes`. */
  private words: DataView;
  private readonly recentNames = new RecentDecodings(NAME_CACHE_SLOTS, CACHED_NAME_MAX);
  private readonly recentValues = new RecentDecodings(VALUE_CACHE_SLOTS, CACHED_VALUE_MAX);
  private readonly recentWrites = new RecentEncodings(WRITE_CACHE_SIZE);
  private readonly recentHeads = new RecentDecodings(HEAD_CACHE_SLOTS, CACHED_HEAD_MAX);
  /** UTF-8 lengths of the strings `writeNulTerminated` is writing; reused, never truncated. */
  private readonly lengths: number[] = [];

  constructor(private readonly memory: WebAssembly.Memory) {
    this.bytes = Buffer.from(memory.buffer);
    this.words = new DataView(memory.buffer);
  }

  get byteLength(): number {
    return this.view().length;
  }

  // The methods on every call's path stay small, their rare branches in methods of their own: V8 then inlines
  // them into the host functions, which measurably matters at tens of nanoseconds per call.

  /** The current view; never keep it across a call into the guest, which may grow memory. */
  view(): Buffer {
    // Growing non-shared memory detaches the old buffer, and views of a detached buffer have length 0. Testing
    // that is cheaper than reading `memory.buffer` on every host call.
    const bytes = this.bytes;
    return bytes.length !== 0 ? bytes : this.remap();
  }

  /** Checks that [ptr, ptr+len) lies inside memory; a guest pointing outside is a broken guest. */
  checkRange(ptr: number, len: number, what: string): Buffer {
    const view = this.view();
    return ptr < 0 || len < 0 || ptr + len > view.length ? outOfRange(what, ptr, len, view.length) : view;
  }

  private remap(): Buffer {
    this.words = new DataView(this.memory.buffer);
    return (this.bytes = Buffer.from(this.memory.buffer));
  }

  /** With `lowerCase`, the text comes back lower-case (header names are matched that way). */
  readString(ptr: number, len: number, what: string, lowerCase = false): string {
    if (len === 0) return '';
    const start = ptr >>> 0;
    const end = start + (len >>> 0);
    const view = this.checkRange(start, len >>> 0, what);
    if (end - start <= JS_COPY_MAX) {
      let text = '';
      let i = start;
      for (; i < end; i++) {
        const byte = view[i]!;
        if (byte >= 0x80) break;
        text += String.fromCharCode(lowerCase && byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte);
      }
      if (i === end) return text;
    }
    // Node's UTF-8 decoder has its own ASCII fast path: scanning for ASCII first only adds a pass.
    const decoded = (view as NodeBuffer).utf8Slice(start, end);
    return lowerCase ? decoded.toLowerCase() : decoded;
  }

  /** A header name, lower-case. */
  readHeaderName(ptr: number, len: number): string {
    return this.readCached(this.recentNames, ptr, len, 'name', true);
  }

  readHeaderValue(ptr: number, len: number): string {
    return this.readCached(this.recentValues, ptr, len, 'value', false);
  }

  private readCached(cache: RecentDecodings, ptr: number, len: number, what: string, lowerCase: boolean): string {
    const start = ptr >>> 0;
    const length = len >>> 0;
    // checkRange also brings `words` up to date after the memory grew.
    this.checkRange(start, length, what);
    return cache.find(this.words, start, length) ?? this.decodeAndRemember(cache, start, length, what, lowerCase);
  }

  private decodeAndRemember(cache: RecentDecodings, start: number, length: number, what: string, lowerCase: boolean): string {
    const text = this.readString(start, length, what, lowerCase);
    cache.remember(this.words, start, length, text);
    return text;
  }

  /**
   * The text of bytes the guest wrote to replace `previous`. Rewrites mostly add or strip a prefix: when
   * `previous` is ASCII and was written to this memory lately (the guest read it before rewriting it), the tail
   * the bytes share with it is taken from `previous` and only the head is decoded, from a cache when it repeats.
   * Decoding is a call into Node that costs more than the comparison and the concatenation together.
   */
  readReplacement(ptr: number, len: number, previous: string, what: string): string {
    const start = ptr >>> 0;
    const length = len >>> 0;
    this.checkRange(start, length, what);
    const recentWrites = this.recentWrites;
    const slot = recentWrites.slotOf(previous);
    // A non-ASCII `previous` has string indices that are not byte offsets.
    if (slot < 0 || recentWrites.lengthAt(slot) !== previous.length) return this.readString(start, length, what);
    const previousEnd = recentWrites.offsetOf(slot) + previous.length;
    const shared = sharedTailLength(this.words, start + length, recentWrites.store, previousEnd, Math.min(length, previous.length));
    if (shared <= JS_COPY_MAX) return this.readString(start, length, what);
    const tail = shared === previous.length ? previous : previous.slice(previous.length - shared);
    if (shared === length) return tail;
    // The tail is ASCII, so the head ends on a character boundary.
    const headLength = length - shared;
    // readCached's lookup, written out: called rather than inlined here, it made a rewrite about 40 ns slower.
    const head = this.recentHeads.find(this.words, start, headLength) ?? this.decodeAndRemember(this.recentHeads, start, headLength, what, false);
    return head + tail;
  }

  /** A copy of the bytes: the guest may overwrite its memory as soon as the host function returns. */
  readBytes(ptr: number, len: number, what: string): Uint8Array {
    const start = ptr >>> 0;
    return copyBytes(this.checkRange(start, len >>> 0, what), start, len >>> 0);
  }

  /** Writes `value` (UTF-8) at `buf` if it fits in `limit`; returns its length either way, as the ABI asks. */
  writeStringIfFits(buf: number, limit: number, value: string): number {
    const slot = this.recentWrites.slotOf(value);
    return slot >= 0 ? this.writeRememberedIfFits(buf, limit, slot) : this.encodeIfFits(buf, limit, value);
  }

  private writeRememberedIfFits(buf: number, limit: number, slot: number): number {
    const len = this.recentWrites.lengthAt(slot);
    if (len > limit >>> 0) return len;
    const at = buf >>> 0;
    // checkRange also brings `words` up to date after the memory grew.
    this.checkRange(at, len, 'buf');
    copyWords(this.recentWrites.store, this.recentWrites.offsetOf(slot), this.words, at, len);
    return len;
  }

  private encodeIfFits(buf: number, limit: number, value: string): number {
    const units = value.length;
    if (units <= JS_COPY_MAX && this.surelyFits(buf, limit, units)) return encodeUnchecked(this.bytes, buf >>> 0, value);
    const len = utf8Length(value);
    if (len === 0 || len > limit >>> 0) return len;
    const at = buf >>> 0;
    const view = this.checkRange(at, len, 'buf');
    writeString(view, at, value, len);
    if (len > JS_COPY_MAX && len <= CACHED_STRING_MAX) this.recentWrites.remember(value, this.words, at, len);
    return len;
  }

  writeBytesIfFits(buf: number, limit: number, value: Uint8Array): number {
    const len = value.byteLength;
    if (len === 0 || len > limit >>> 0) return len;
    this.checkRange(buf >>> 0, len, 'buf').set(value, buf >>> 0);
    return len;
  }

  /**
   * Writes `values` as NUL-terminated UTF-8 strings when the whole sequence fits in `limit`. Returns the ABI's
   * `count_len`: count in the upper 32 bits, encoded length (terminators included) in the lower.
   */
  writeNulTerminated(buf: number, limit: number, values: readonly string[], count: number): bigint {
    if (count === 0) return 0n;
    let units = 0;
    for (let i = 0; i < count; i++) units += values[i]!.length + 1;
    if (!this.surelyFits(buf, limit, units)) return this.measureThenWrite(buf, limit, values, count);
    const start = buf >>> 0;
    const view = this.bytes;
    let at = start;
    for (let i = 0; i < count; i++) {
      at += encodeUnchecked(view, at, values[i]!);
      view[at++] = 0;
    }
    return countLen(count, at - start);
  }

  /** writeNulTerminated for values that may not fit: nothing is written unless all of them do. */
  private measureThenWrite(buf: number, limit: number, values: readonly string[], count: number): bigint {
    const lengths = this.lengths;
    let len = 0;
    for (let i = 0; i < count; i++) {
      const length = utf8Length(values[i]!);
      lengths[i] = length;
      len += length + 1;
    }
    if (len <= limit >>> 0) {
      let at = buf >>> 0;
      const view = this.checkRange(at, len, 'buf');
      for (let i = 0; i < count; i++) {
        at += writeString(view, at, values[i]!, lengths[i]!);
        view[at++] = 0;
      }
    }
    return countLen(count, len);
  }

  /**
   * Whether text of `units` UTF-16 code units fits at `buf` in `limit` bytes whatever its characters, each taking
   * at most 3 bytes of UTF-8. Such text can be written in one pass that learns its length as it goes, where text
   * that may not fit must be measured before anything is written. Also brings the view up to date.
   */
  private surelyFits(buf: number, limit: number, units: number): boolean {
    const most = units * MAX_UTF8_PER_UNIT;
    return most <= limit >>> 0 && (buf >>> 0) + most <= this.view().length;
  }

  u32(ptr: number): number {
    return this.checkRange(ptr >>> 0, 4, 'pointer').readUInt32LE(ptr >>> 0);
  }

  setU32(ptr: number, value: number): void {
    this.checkRange(ptr >>> 0, 4, 'pointer').writeUInt32LE(value >>> 0, ptr >>> 0);
  }

  /**
   * Writes `seconds * 1e9 + nanos` as a u64 in number arithmetic: a BigInt costs an allocation and its writing
   * several more. Exact for `seconds` below 2^32 and `nanos` below 1e9.
   */
  setNanoseconds(ptr: number, seconds: number, nanos: number): void {
    const at = ptr >>> 0;
    const view = this.checkRange(at, 8, 'pointer');
    // With seconds split at 2^16 every product stays below 2^53, where doubles hold integers exactly.
    const upper = Math.floor(seconds / 0x1_0000) * 1e9;
    const lower = (upper % 0x1_0000) * 0x1_0000 + (seconds % 0x1_0000) * 1e9 + nanos;
    view.writeUInt32LE(lower % 0x1_0000_0000, at);
    view.writeUInt32LE(Math.floor(upper / 0x1_0000) + Math.floor(lower / 0x1_0000_0000), at + 4);
  }
}

/** Slots of the `countLen` cache; a power of two. */
const COUNT_LEN_SLOTS = 1024;
const countLenKeys = new Float64Array(COUNT_LEN_SLOTS).fill(-1);
const countLenValues: bigint[] = new Array<bigint>(COUNT_LEN_SLOTS).fill(0n);

/**
 * `count << 32 | len` as the BigInt an i64 result needs. Making a BigInt costs about 20 ns, so recent results are
 * kept in a direct-mapped cache keyed by the exact value; guests ask for the same few headers every request.
 */
export function countLen(count: number, len: number): bigint {
  // The packed number keys the cache; it is exact in a double while count < 2^21.
  const key = count * 0x1_0000_0000 + len;
  const slot = (count * 0x9e5 + len) & (COUNT_LEN_SLOTS - 1);
  return countLenKeys[slot] === key && count < 0x20_0000 ? countLenValues[slot]! : newCountLen(count, len, key, slot);
}

function newCountLen(count: number, len: number, key: number, slot: number): bigint {
  if (count >= 0x20_0000) return (BigInt(count) << 32n) | BigInt(len);
  const value = BigInt(key);
  countLenKeys[slot] = key;
  countLenValues[slot] = value;
  return value;
}

/** Byte length of `value` in UTF-8. `Buffer.byteLength` is a fast API call, cheaper than a loop past a few characters. */
function utf8Length(value: string): number {
  const length = value.length;
  if (length > JS_COPY_MAX) return Buffer.byteLength(value, 'utf8');
  for (let i = 0; i < length; i++) if (value.charCodeAt(i) >= 0x80) return Buffer.byteLength(value, 'utf8');
  return length;
}

/**
 * Writes `value` at `at`, where there is room for its longest encoding, and returns its UTF-8 length. Short text
 * is copied by a JS loop, which stops at the first non-ASCII character and leaves the whole text to Node.
 */
function encodeUnchecked(view: Buffer, at: number, value: string): number {
  const length = value.length;
  if (length <= JS_COPY_MAX) {
    let i = 0;
    for (; i < length; i++) {
      const unit = value.charCodeAt(i);
      if (unit >= 0x80) break;
      view[at + i] = unit;
    }
    if (i === length) return length;
  }
  return (view as NodeBuffer).utf8Write(value, at, length * MAX_UTF8_PER_UNIT);
}

/** Writes `value` at `at` and returns `len`, its UTF-8 length; equal to its string length exactly when it is ASCII. */
function writeString(view: Buffer, at: number, value: string, len: number): number {
  const length = value.length;
  if (len !== length) return (view as NodeBuffer).utf8Write(value, at, len);
  if (length > JS_COPY_MAX) return (view as NodeBuffer).latin1Write(value, at, length);
  for (let i = 0; i < length; i++) view[at + i] = value.charCodeAt(i);
  return length;
}

/**
 * Strings read from guest memory, found again by their exact bytes. The cache is direct-mapped: the length and
 * first word of the bytes pick the one slot that may hold them, so a lookup is a few comparisons and a small
 * function, which V8 inlines into the host functions (a scan over every slot, larger, it often did not). The bytes
 * are kept as the 32-bit words a lookup compares: at offsets 0, 4, 8, ... and a last one ending exactly at the end
 * (overlapping the one before unless the length is a multiple of 4), so 15 bytes take 4 comparisons rather than
 * 15; shorter than 4 bytes, one word holds them all.
 */
class RecentDecodings {
  /** Per slot; 0 for an empty one, which then holds the empty string, as it should. */
  private readonly lengths: Int32Array;
  private readonly words: Uint32Array;
  private readonly texts: string[];
  private readonly wordsPerSlot: number;
  /** Turns a 32-bit hash into a slot number. */
  private readonly slotShift: number;

  /** `slots` is a power of two; strings longer than `maxLength` bytes are not kept. */
  constructor(slots: number, private readonly maxLength: number) {
    this.lengths = new Int32Array(slots);
    this.wordsPerSlot = (maxLength + 3) >>> 2;
    this.words = new Uint32Array(slots * this.wordsPerSlot);
    this.texts = new Array<string>(slots).fill('');
    this.slotShift = 32 - Math.log2(slots);
  }

  find(memory: DataView, start: number, length: number): string | undefined {
    const first = firstWord(memory, start, length);
    const slot = this.slotOf(first, length);
    if (this.lengths[slot] !== length) return undefined;
    const words = this.words;
    let at = slot * this.wordsPerSlot;
    if (words[at] !== first) return undefined;
    for (let offset = 4; offset < length; offset += 4) {
      if (memory.getUint32(start + Math.min(offset, length - 4), true) !== words[++at]) return undefined;
    }
    return this.texts[slot];
  }

  remember(memory: DataView, start: number, length: number, text: string): void {
    if (length > this.maxLength) return;
    const first = firstWord(memory, start, length);
    const slot = this.slotOf(first, length);
    const words = this.words;
    let at = slot * this.wordsPerSlot;
    words[at] = first;
    for (let offset = 4; offset < length; offset += 4) words[++at] = memory.getUint32(start + Math.min(offset, length - 4), true);
    this.lengths[slot] = length;
    this.texts[slot] = text;
  }

  private slotOf(first: number, length: number): number {
    return Math.imul(first ^ length, 0x9e3779b1) >>> this.slotShift;
  }
}

/** The first comparison word of bytes [start, start+length) (see `RecentDecodings`). */
function firstWord(memory: DataView, start: number, length: number): number {
  return length >= 4 ? memory.getUint32(start, true) : shortWord(memory, start, length);
}

/** The one comparison word of fewer than 4 bytes: rare, so kept out of `firstWord`, which V8 then inlines. */
function shortWord(memory: DataView, start: number, length: number): number {
  let word = 0;
  for (let i = 0; i < length; i++) word |= memory.getUint8(start + i) << (8 * i);
  return word;
}

/**
 * Strings written to guest memory and their UTF-8 bytes, found again by string equality. The bytes live in one
 * store allocated up front, a slot of CACHED_STRING_MAX bytes per string, read and written through DataViews:
 * remembering allocates nothing, and TurboFan compiles DataView access inline, while a typed array's `set` and
 * `byteLength`, compiled on its background thread, become generic property lookups.
 */
class RecentEncodings {
  private readonly keys: string[] = [];
  private readonly lengths: number[] = [];
  readonly store: DataView;
  private nextSlot = 0;

  constructor(private readonly size: number) {
    this.store = new DataView(new ArrayBuffer(size * CACHED_STRING_MAX));
  }

  /** The slot remembering `value`, or -1. */
  slotOf(value: string): number {
    const keys = this.keys;
    for (let slot = 0; slot < keys.length; slot++) if (keys[slot] === value) return slot;
    return -1;
  }

  lengthAt(slot: number): number {
    return this.lengths[slot]!;
  }

  /** Where the bytes of `slot` begin in `store`. */
  offsetOf(slot: number): number {
    return slot * CACHED_STRING_MAX;
  }

  /** Remembers `value` as the `len` bytes (at most CACHED_STRING_MAX) at `at` in `memory`. */
  remember(value: string, memory: DataView, at: number, len: number): void {
    const slot = this.nextSlot;
    this.keys[slot] = value;
    this.lengths[slot] = len;
    copyWords(memory, at, this.store, this.offsetOf(slot), len);
    this.nextSlot = (slot + 1) % this.size;
  }
}

/** Copies `len` bytes from `fromAt` in `from` to `toAt` in `to`, four at a time. */
function copyWords(from: DataView, fromAt: number, to: DataView, toAt: number, len: number): void {
  let i = 0;
  for (; i + 4 <= len; i += 4) to.setUint32(toAt + i, from.getUint32(fromAt + i, true), true);
  for (; i < len; i++) to.setUint8(toAt + i, from.getUint8(fromAt + i));
}

/**
 * How many bytes, up to `max`, end both at `aEnd` in `a` and at `bEnd` in `b`: eight at a time, then four, then one
 * by one. Eight bytes compare as a double: two equal doubles have the same bits unless they are zeros (+0 equals
 * -0), and a NaN equals nothing, so a word that reads as zero or NaN is left to the narrower comparisons.
 */
function sharedTailLength(a: DataView, aEnd: number, b: DataView, bEnd: number, max: number): number {
  let shared = 0;
  while (shared + 8 <= max) {
    const word = b.getFloat64(bEnd - shared - 8, true);
    if (word === 0 || word !== a.getFloat64(aEnd - shared - 8, true)) break;
    shared += 8;
  }
  while (shared + 4 <= max && a.getUint32(aEnd - shared - 4, true) === b.getUint32(bEnd - shared - 4, true)) shared += 4;
  while (shared < max && a.getUint8(aEnd - shared - 1) === b.getUint8(bEnd - shared - 1)) shared++;
  return shared;
}

function outOfRange(what: string, ptr: number, len: number, size: number): never {
  throw new GuestAbiViolation(`${what} [${ptr}, ${ptr + len}) is outside guest memory of ${size} bytes`);
}

/** A copy that shares nothing with guest memory (Buffer's `slice` would). */
function copyBytes(view: Buffer, start: number, length: number): Uint8Array {
  const copy = new Uint8Array(length);
  view.copy(copy, 0, start, start + length);
  return copy;
}
