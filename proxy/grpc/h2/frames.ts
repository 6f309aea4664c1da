// HTTP/2 framing (RFC 9113 section 4 and 6): wire constants and a reader that cuts frames out of socket chunks.

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export const FRAME_HEADER_BYTES = 9;
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
export const MAX_ALLOWED_FRAME_SIZE = 16_777_215;
export const DEFAULT_WINDOW_SIZE = 65_535;
export const MAX_WINDOW_SIZE = 2 ** 31 - 1;
export const MAX_STREAM_ID = 2 ** 31 - 1;

export const CONNECTION_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

const EMPTY = Buffer.alloc(0);

/** Writes a frame header at `pos`; returns the position of the payload. */
export function writeFrameHeader(buf: Buffer, pos: number, length: number, type: number, flags: number, streamId: number): number {
  buf[pos] = length >>> 16;
  buf[pos + 1] = (length >>> 8) & 0xff;
  buf[pos + 2] = length & 0xff;
  buf[pos + 3] = type;
  buf[pos + 4] = flags;
  buf[pos + 5] = streamId >>> 24;
  buf[pos + 6] = (streamId >>> 16) & 0xff;
  buf[pos + 7] = (streamId >>> 8) & 0xff;
  buf[pos + 8] = streamId & 0xff;
  return pos + FRAME_HEADER_BYTES;
}

/** Receives what the reader cuts out of the byte stream. */
export interface FrameSink {
  /** A whole frame other than DATA; `payload` is only valid during the call unless the caller keeps it. */
  onFrame(type: number, flags: number, streamId: number, payload: Buffer): void;
  /**
   * Part of a DATA frame as it arrives: `data` is the application data in it, `flowBytes` how much of the
   * frame (padding included) it used up for flow control, `endStream` set with the frame's last part.
   */
  onData(streamId: number, data: Buffer, flowBytes: number, endStream: boolean): void;
  /** The byte stream is not valid HTTP/2: a connection error. */
  onReadError(code: number, message: string): void;
}

const READ_PREFACE = 0;
const READ_HEADER = 1;
const READ_PAYLOAD = 2;
const READ_DATA = 3;

/**
 * Frames are parsed in place: a payload that lies within one chunk is handed over as a view of it, and DATA is
 * passed on piece by piece as it arrives, so message bytes are never copied here. Only a non-DATA frame split
 * across chunks is gathered into a buffer of its own.
 */
export class FrameReader {
  /** Largest frame accepted: the SETTINGS_MAX_FRAME_SIZE this end announced. */
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private state: number;
  private prefaceSeen = 0;
  private readonly header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  private headerSeen = 0;
  private type = 0;
  private flags = 0;
  private streamId = 0;
  private length = 0;
  private gathered: Buffer | null = null;
  private gatheredBytes = 0;
  private dataLeft = 0;
  private padLeft = 0;
  private padLengthPending = false;
  /** Stream whose header block awaits CONTINUATION frames; 0 when none. */
  private continuationStream = 0;
  private stopped = false;

  constructor(
    private readonly sink: FrameSink,
    expectPreface: boolean,
  ) {
    this.state = expectPreface ? READ_PREFACE : READ_HEADER;
  }

  /** Ignores everything from now on (the connection is going away). */
  stop(): void {
    this.stopped = true;
  }

  push(chunk: Buffer): void {
    const size = chunk.length;
    let pos = 0;
    while (pos < size && !this.stopped) {
      switch (this.state) {
        case READ_PREFACE: {
          while (pos < size && this.prefaceSeen < CONNECTION_PREFACE.length) {
            if (chunk[pos++] !== CONNECTION_PREFACE[this.prefaceSeen++]) {
              this.fail(ErrorCode.PROTOCOL_ERROR, 'invalid connection preface');
              return;
            }
          }
          if (this.prefaceSeen === CONNECTION_PREFACE.length) this.state = READ_HEADER;
          break;
        }
        case READ_HEADER: {
          if (this.headerSeen === 0 && size - pos >= FRAME_HEADER_BYTES) {
            this.parseHeader(chunk, pos);
            pos += FRAME_HEADER_BYTES;
          } else {
            const take = Math.min(FRAME_HEADER_BYTES - this.headerSeen, size - pos);
            chunk.copy(this.header, this.headerSeen, pos, pos + take);
            pos += take;
            this.headerSeen += take;
            if (this.headerSeen < FRAME_HEADER_BYTES) break;
            this.headerSeen = 0;
            this.parseHeader(this.header, 0);
          }
          this.beginFrame();
          break;
        }
        case READ_PAYLOAD: {
          const length = this.length;
          if (this.gathered === null && size - pos >= length) {
            pos += length;
            this.state = READ_HEADER;
            this.sink.onFrame(this.type, this.flags, this.streamId, chunk.subarray(pos - length, pos));
            break;
          }
          const gathered = (this.gathered ??= Buffer.allocUnsafe(length));
          const take = Math.min(length - this.gatheredBytes, size - pos);
          chunk.copy(gathered, this.gatheredBytes, pos, pos + take);
          pos += take;
          this.gatheredBytes += take;
          if (this.gatheredBytes < length) break;
          this.gathered = null;
          this.gatheredBytes = 0;
          this.state = READ_HEADER;
          this.sink.onFrame(this.type, this.flags, this.streamId, gathered);
          break;
        }
        default:
          pos = this.readData(chunk, pos);
      }
    }
  }

  private parseHeader(buf: Buffer, pos: number): void {
    this.length = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2];
    this.type = buf[pos + 3];
    this.flags = buf[pos + 4];
    this.streamId = buf.readUInt32BE(pos + 5) & 0x7fffffff;
  }

  private beginFrame(): void {
    const { type, length, streamId } = this;
    if (length > this.maxFrameSize) {
      this.fail(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes exceeds the maximum frame size ${this.maxFrameSize}`);
      return;
    }
    if (this.continuationStream !== 0) {
      if (type !== FrameType.CONTINUATION || streamId !== this.continuationStream) {
        this.fail(ErrorCode.PROTOCOL_ERROR, 'header block interrupted before END_HEADERS');
        return;
      }
    } else if (type === FrameType.CONTINUATION) {
      this.fail(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without a header block to continue');
      return;
    }
    if (type === FrameType.HEADERS || type === FrameType.PUSH_PROMISE || type === FrameType.CONTINUATION) {
      this.continuationStream = (this.flags & Flag.END_HEADERS) === 0 ? streamId : 0;
    }
    if (type === FrameType.DATA) {
      if (streamId === 0) {
        this.fail(ErrorCode.PROTOCOL_ERROR, 'DATA frame on stream 0');
        return;
      }
      this.padLengthPending = (this.flags & Flag.PADDED) !== 0;
      if (this.padLengthPending && length === 0) {
        this.fail(ErrorCode.FRAME_SIZE_ERROR, 'padded DATA frame without a pad length');
        return;
      }
      this.dataLeft = length;
      this.padLeft = 0;
      if (length === 0) {
        this.sink.onData(streamId, EMPTY, 0, (this.flags & Flag.END_STREAM) !== 0);
        return;
      }
      this.state = READ_DATA;
      return;
    }
    if (length === 0) {
      this.sink.onFrame(type, this.flags, streamId, EMPTY);
      return;
    }
    this.state = READ_PAYLOAD;
  }

  private readData(chunk: Buffer, pos: number): number {
    let flowBytes = 0;
    if (this.padLengthPending) {
      this.padLengthPending = false;
      const padding = chunk[pos++];
      this.dataLeft--;
      flowBytes = 1;
      if (padding > this.dataLeft) {
        this.fail(ErrorCode.PROTOCOL_ERROR, 'DATA padding exceeds the frame');
        return pos;
      }
      this.padLeft = padding;
      this.dataLeft -= padding;
    }
    const take = Math.min(this.dataLeft, chunk.length - pos);
    const data = chunk.subarray(pos, pos + take);
    pos += take;
    this.dataLeft -= take;
    flowBytes += take;
    if (this.dataLeft === 0 && this.padLeft > 0) {
      const skip = Math.min(this.padLeft, chunk.length - pos);
      pos += skip;
      this.padLeft -= skip;
      flowBytes += skip;
    }
    const frameDone = this.dataLeft === 0 && this.padLeft === 0;
    if (frameDone) this.state = READ_HEADER;
    this.sink.onData(this.streamId, data, flowBytes, frameDone && (this.flags & Flag.END_STREAM) !== 0);
    return pos;
  }

  private fail(code: number, message: string): void {
    this.stopped = true;
    this.sink.onReadError(code, message);
  }
}
