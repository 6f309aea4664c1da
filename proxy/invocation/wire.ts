// Protobuf wire primitives for the invocation hop's two messages. Only what those messages use: varints,
// length-delimited fields, and skipping whatever a newer peer adds.

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return value < 2 ** 35 ? 5 : 10;
}

/** Size of a length-delimited field with a one-byte tag (field numbers below 16). */
export function lenFieldSize(payloadBytes: number): number {
  return 1 + varintSize(payloadBytes) + payloadBytes;
}

/** Writes into a buffer sized up front, so every message is one exact allocation. */
export class WireWriter {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(value: number): void {
    const buf = this.buf;
    while (value >= 0x80) {
      buf[this.pos++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    buf[this.pos++] = value;
  }

  tag(field: number, wireType: number): void {
    this.buf[this.pos++] = (field << 3) | wireType;
  }

  /** `bytes` is the string's UTF-8 length, computed by the caller while sizing. */
  string(field: number, value: string, bytes: number): void {
    this.tag(field, WIRE_LEN);
    this.varint(bytes);
    this.pos += this.buf.write(value, this.pos, bytes, 'utf8');
  }

  bytes(field: number, value: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(value.byteLength);
    this.buf.set(value, this.pos);
    this.pos += value.byteLength;
  }

  /** Opens a nested message whose encoded size is already known. */
  message(field: number, size: number): void {
    this.tag(field, WIRE_LEN);
    this.varint(size);
  }
}

export class WireError extends Error {}

export class WireReader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    const buf = this.buf;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint');
      const byte = buf[this.pos++]!;
      result += (byte & 0x7f) * scale;
      scale *= 128;
      if (byte < 0x80) return result;
    }
    throw new WireError('varint longer than 10 bytes');
  }

  /** An int32 field: negative values arrive as 10-byte varints whose low 32 bits are the two's complement. */
  int32(): number {
    const buf = this.buf;
    let result = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint');
      const byte = buf[this.pos++]!;
      if (i < 5) result |= (byte & 0x7f) << (7 * i);
      if (byte < 0x80) return result | 0;
    }
    throw new WireError('varint longer than 10 bytes');
  }

  /** The [start, end) span of a length-delimited field's payload. */
  span(): number {
    const length = this.varint();
    const start = this.pos;
    if (length > this.end - start) throw new WireError('length-delimited field runs past the end');
    this.pos = start + length;
    return start;
  }

  string(): string {
    const start = this.span();
    return this.buf.toString('utf8', start, this.pos);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_I64:
        this.advance(8);
        return;
      case WIRE_LEN:
        this.span();
        return;
      case WIRE_I32:
        this.advance(4);
        return;
      default:
        throw new WireError(`unsupported wire type ${wireType}`);
    }
  }

  private advance(bytes: number): void {
    if (this.pos + bytes > this.end) throw new WireError('truncated fixed-width field');
    this.pos += bytes;
  }
}
