// Raw pointer/length access to a guest's linear memory. The Buffer view is cached and rebuilt only when
// memory.grow detached the old one, so host functions neither allocate views nor copy through JS strings twice.
// Very short ASCII strings (methods, most header names) are copied in JS: for them any call into Node costs more
// than the copy. Longer ASCII strings (URIs, header values) go through Node's latin1 copy, which is a flat memcpy,
// and only text with other characters pays for the UTF-8 codec.

/** Up to this many bytes a JS loop beats a call into Node (measured: it loses from about 16 on). */
const JS_COPY_MAX = 16;
/** Longer header names are not worth remembering. */
const CACHED_NAME_MAX = 128;

/** Thrown by host functions when a guest breaks the ABI; it surfaces like a trap and fails the request. */
export class GuestAbiViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuestAbiViolation';
  }
}

/** How many recently read header names a memory remembers; guests tend to ask for the same few every request. */
const NAME_CACHE_SIZE = 16;
const ASCII = /^[\x00-\x7f]*$/;

export class GuestMemory {
  private bytes: Buffer;
  private readonly recentNames: string[] = [];
  private nextNameSlot = 0;

  constructor(private readonly memory: WebAssembly.Memory) {
    this.bytes = Buffer.from(memory.buffer);
  }

  get byteLength(): number {
    return this.view().length;
  }

  /** The current view; never keep it across a call into the guest, which may grow memory. */
  view(): Buffer {
    // Growing non-shared memory detaches the old buffer, and views of a detached buffer have length 0. Testing
    // that is cheaper than reading `memory.buffer` on every host call.
    if (this.bytes.length === 0) this.bytes = Buffer.from(this.memory.buffer);
    return this.bytes;
  }

  /** Checks that [ptr, ptr+len) lies inside memory; a guest pointing outside is a broken guest. */
  checkRange(ptr: number, len: number, what: string): Buffer {
    const view = this.view();
    if (ptr < 0 || len < 0 || ptr + len > view.length) {
      throw new GuestAbiViolation(`${what} [${ptr}, ${ptr + len}) is outside guest memory of ${view.length} bytes`);
    }
    return view;
  }

  /** With `lowerCase`, ASCII letters come back lower-case (header names are matched that way). */
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
    const decoded = view.toString(isAscii(view, start, end) ? 'latin1' : 'utf8', start, end);
    return lowerCase ? decoded.toLowerCase() : decoded;
  }

  /**
   * A header name, lower-case. A name read recently is returned from the cache after comparing bytes, which
   * beats decoding and allocating a new string on every call.
   */
  readHeaderName(ptr: number, len: number): string {
    const start = ptr >>> 0;
    const length = len >>> 0;
    const view = this.checkRange(start, length, 'name');
    const recent = this.recentNames;
    for (let slot = 0; slot < recent.length; slot++) {
      const name = recent[slot]!;
      if (name.length === length && sameLowerCase(view, start, name)) return name;
    }
    const name = this.readString(start, length, 'name', true);
    // Only ASCII names are cached: the comparison above works byte for character.
    if (length <= CACHED_NAME_MAX && ASCII.test(name)) {
      recent[this.nextNameSlot] = name;
      this.nextNameSlot = (this.nextNameSlot + 1) % NAME_CACHE_SIZE;
    }
    return name;
  }

  /** A copy of the bytes: the guest may overwrite its memory as soon as the host function returns. */
  readBytes(ptr: number, len: number, what: string): Uint8Array {
    const start = ptr >>> 0;
    const view = this.checkRange(start, len >>> 0, what);
    const copy = new Uint8Array(len >>> 0);
    view.copy(copy, 0, start, start + (len >>> 0));
    return copy;
  }

  /** Writes `value` (UTF-8) at `buf` if it fits in `limit`; returns its length either way, as the ABI asks. */
  writeStringIfFits(buf: number, limit: number, value: string): number {
    const len = utf8Length(value);
    if (len === 0 || len > limit >>> 0) return len;
    writeString(this.checkRange(buf >>> 0, len, 'buf'), buf >>> 0, value, len);
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
    let len = 0;
    for (let i = 0; i < count; i++) len += utf8Length(values[i]!) + 1;
    if (len <= limit >>> 0) {
      let at = buf >>> 0;
      const view = this.checkRange(at, len, 'buf');
      for (let i = 0; i < count; i++) {
        const value = values[i]!;
        at += writeString(view, at, value, utf8Length(value));
        view[at++] = 0;
      }
    }
    // One BigInt instead of three: count < 2^21 keeps the product exact in a double.
    return BigInt(count * 0x1_0000_0000 + len);
  }

  u32(ptr: number): number {
    return this.checkRange(ptr >>> 0, 4, 'pointer').readUInt32LE(ptr >>> 0);
  }

  setU32(ptr: number, value: number): void {
    this.checkRange(ptr >>> 0, 4, 'pointer').writeUInt32LE(value >>> 0, ptr >>> 0);
  }

  setU64(ptr: number, value: bigint): void {
    this.checkRange(ptr >>> 0, 8, 'pointer').writeBigUInt64LE(value, ptr >>> 0);
  }
}

/** Byte length of `value` in UTF-8, without calling into the codec for ASCII. */
function utf8Length(value: string): number {
  const length = value.length;
  if (length > CACHED_NAME_MAX) return Buffer.byteLength(value, 'utf8');
  for (let i = 0; i < length; i++) if (value.charCodeAt(i) >= 0x80) return Buffer.byteLength(value, 'utf8');
  return length;
}

function isAscii(view: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (view[i]! >= 0x80) return false;
  return true;
}

/** Writes `value` at `at` and returns `len`, its UTF-8 length; equal to its string length exactly when it is ASCII. */
function writeString(view: Buffer, at: number, value: string, len: number): number {
  const length = value.length;
  if (len !== length) return view.write(value, at, len, 'utf8');
  if (length > JS_COPY_MAX) return view.write(value, at, length, 'latin1');
  for (let i = 0; i < length; i++) view[at + i] = value.charCodeAt(i);
  return length;
}

/** Whether the bytes at `start` spell `lowerName` (ASCII, any case). */
function sameLowerCase(view: Buffer, start: number, lowerName: string): boolean {
  for (let i = 0; i < lowerName.length; i++) {
    let byte = view[start + i]!;
    if (byte >= 0x41 && byte <= 0x5a) byte += 0x20;
    if (byte !== lowerName.charCodeAt(i)) return false;
  }
  return true;
}
