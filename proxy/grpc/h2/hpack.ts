// HPACK (RFC 7541): a complete decoder, and the few encoder primitives this transport needs. The encoder never
// adds entries to the peer's dynamic table and never Huffman-codes: each call only copies precomputed bytes and
// writes plain literals, which costs less CPU than compressing does on a loopback or LAN hop.

import { decodeHuffman } from './huffman.js';

/** RFC 7541 Appendix A; entry i is index i + 1. */
export const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

const STATIC_ENTRIES = STATIC_TABLE.length;
const STATIC_NAME_INDEX = new Map<string, number>();
const STATIC_FIELD_INDEX = new Map<string, number>();
STATIC_TABLE.forEach(([name, value], i) => {
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i + 1);
  STATIC_FIELD_INDEX.set(`${name}\n${value}`, i + 1);
});

/** Size the table accounts for each entry on top of its name and value (RFC 7541 4.1). */
const ENTRY_OVERHEAD = 32;
/** SETTINGS_HEADER_TABLE_SIZE both ends start with. */
export const DEFAULT_HEADER_TABLE_SIZE = 4096;
// Integers beyond this are nonsense in a header block (and would lose precision).
const MAX_INTEGER = 2 ** 31 - 1;

/**
 * Decodes header blocks of one connection, in order: the dynamic table carries over from block to block.
 * Values are read as latin1, so every octet maps to one character and string length equals octet length.
 */
export class HpackDecoder {
  private readonly names: string[];
  private readonly values: string[];
  private readonly capacity: number;
  private oldest = 0;
  private count = 0;
  private size = 0;
  private maxSize: number;
  private pos = 0;

  /** `limit` is the SETTINGS_HEADER_TABLE_SIZE this end announced. */
  constructor(private readonly limit = DEFAULT_HEADER_TABLE_SIZE) {
    this.maxSize = limit;
    this.capacity = Math.max(1, Math.floor(limit / ENTRY_OVERHEAD));
    this.names = new Array<string>(this.capacity).fill('');
    this.values = new Array<string>(this.capacity).fill('');
  }

  /** Octets the dynamic table currently accounts for. */
  get tableSize(): number {
    return this.size;
  }

  /** Entries in the dynamic table. */
  get tableLength(): number {
    return this.count;
  }

  /**
   * Decodes the block in `block[start, end)` into `out` as name, value, name, value, ... and returns how many
   * strings it wrote, or -1 when the block is malformed (a connection error: the table is out of sync).
   */
  decode(block: Buffer, start: number, end: number, out: string[]): number {
    this.pos = start;
    let n = 0;
    while (this.pos < end) {
      const first = block[this.pos];
      let name: string | null;
      let value: string | null;
      if (first >= 0x80) {
        const index = this.readInteger(block, end, 0x7f);
        if (index <= 0) return -1;
        name = this.nameAt(index);
        value = this.valueAt(index);
        if (name === null || value === null) return -1;
      } else if (first >= 0x40) {
        name = this.readName(block, end, 0x3f);
        value = name === null ? null : this.readString(block, end);
        if (name === null || value === null) return -1;
        this.insert(name, value);
      } else if (first >= 0x20) {
        // A table size update belongs at the start of a block, before any field.
        const size = this.readInteger(block, end, 0x1f);
        if (n !== 0 || size < 0 || size > this.limit) return -1;
        this.maxSize = size;
        this.evictDownTo(size);
        continue;
      } else {
        // Without indexing (0000) or never indexed (0001): the table is untouched either way.
        name = this.readName(block, end, 0x0f);
        value = name === null ? null : this.readString(block, end);
        if (name === null || value === null) return -1;
      }
      out[n++] = name;
      out[n++] = value;
    }
    return n;
  }

  private readInteger(block: Buffer, end: number, prefixMask: number): number {
    let value = block[this.pos++] & prefixMask;
    if (value < prefixMask) return value;
    let factor = 1;
    for (;;) {
      if (this.pos >= end) return -1;
      const byte = block[this.pos++];
      value += (byte & 0x7f) * factor;
      if (value > MAX_INTEGER) return -1;
      if (byte < 0x80) return value;
      factor *= 128;
    }
  }

  private readName(block: Buffer, end: number, prefixMask: number): string | null {
    const index = this.readInteger(block, end, prefixMask);
    if (index < 0) return null;
    return index === 0 ? this.readString(block, end) : this.nameAt(index);
  }

  private readString(block: Buffer, end: number): string | null {
    if (this.pos >= end) return null;
    const huffman = block[this.pos] >= 0x80;
    const length = this.readInteger(block, end, 0x7f);
    if (length < 0 || length > end - this.pos) return null;
    const from = this.pos;
    this.pos += length;
    return huffman ? decodeHuffman(block, from, from + length) : block.toString('latin1', from, from + length);
  }

  private nameAt(index: number): string | null {
    if (index <= STATIC_ENTRIES) return STATIC_TABLE[index - 1][0];
    const slot = this.slotOf(index);
    return slot < 0 ? null : this.names[slot];
  }

  private valueAt(index: number): string | null {
    if (index <= STATIC_ENTRIES) return STATIC_TABLE[index - 1][1];
    const slot = this.slotOf(index);
    return slot < 0 ? null : this.values[slot];
  }

  private slotOf(index: number): number {
    const age = index - STATIC_ENTRIES - 1; // 0 = newest
    if (age >= this.count) return -1;
    return (this.oldest + this.count - 1 - age) % this.capacity;
  }

  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    this.evictDownTo(this.maxSize - entrySize);
    // An entry larger than the whole table empties it and is not added (RFC 7541 4.4).
    if (entrySize > this.maxSize) return;
    const slot = (this.oldest + this.count) % this.capacity;
    this.names[slot] = name;
    this.values[slot] = value;
    this.count++;
    this.size += entrySize;
  }

  private evictDownTo(size: number): void {
    while (this.count > 0 && this.size > size) {
      const slot = this.oldest;
      this.size -= this.names[slot].length + this.values[slot].length + ENTRY_OVERHEAD;
      this.names[slot] = '';
      this.values[slot] = '';
      this.oldest = (slot + 1) % this.capacity;
      this.count--;
    }
  }
}

/** Writes an HPACK integer with an N-bit prefix into `buf` at `pos`; returns the position after it. */
export function writeInteger(buf: Buffer, pos: number, value: number, prefixBits: number, pattern: number): number {
  const prefixMax = (1 << prefixBits) - 1;
  if (value < prefixMax) {
    buf[pos] = pattern | value;
    return pos + 1;
  }
  buf[pos++] = pattern | prefixMax;
  let rest = value - prefixMax;
  while (rest >= 0x80) {
    buf[pos++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  buf[pos] = rest;
  return pos + 1;
}

function writeString(buf: Buffer, pos: number, text: string): number {
  pos = writeInteger(buf, pos, text.length, 7, 0x00);
  return pos + buf.write(text, pos, 'latin1');
}

/** Most bytes `writeLiteralField` can take for these strings (two 5-byte lengths and the name prefix). */
export function literalFieldBound(name: string, value: string): number {
  return name.length + value.length + 11;
}

/**
 * Literal header field without indexing (RFC 7541 6.2.2), naming the static table entry when there is one;
 * `name` must be lower-case and both strings latin1. Returns the position after it.
 */
export function writeLiteralField(buf: Buffer, pos: number, name: string, value: string): number {
  const nameIndex = STATIC_NAME_INDEX.get(name);
  if (nameIndex === undefined) {
    buf[pos++] = 0x00;
    pos = writeString(buf, pos, name);
  } else {
    pos = writeInteger(buf, pos, nameIndex, 4, 0x00);
  }
  return writeString(buf, pos, value);
}

/** A dynamic table size update (RFC 7541 6.3), which must open a header block. */
export function writeTableSizeUpdate(buf: Buffer, pos: number, size: number): number {
  return writeInteger(buf, pos, size, 5, 0x20);
}

/** Encodes fields once, e.g. the constant part of every request or response: static entries where they match. */
export function encodeHeaderBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  let bound = 0;
  for (const [name, value] of fields) bound += literalFieldBound(name, value);
  const buf = Buffer.allocUnsafe(bound);
  let pos = 0;
  for (const [name, value] of fields) {
    const index = STATIC_FIELD_INDEX.get(`${name}\n${value}`);
    pos = index === undefined ? writeLiteralField(buf, pos, name, value) : writeInteger(buf, pos, index, 7, 0x80);
  }
  return Buffer.from(buf.subarray(0, pos));
}
