// gRPC length-prefixed message framing for unary calls: a 1-byte compressed flag, a 4-byte big-endian
// length, then the message bytes.

const MESSAGE_PREFIX_BYTES = 5;

const EMPTY_MESSAGE = Buffer.alloc(0);

/** Why a received body cannot be a single well-formed, uncompressed unary message. */
export const FrameProblem = {
  NONE: 0,
  COMPRESSED: 1,
  TOO_LARGE: 2,
  EXTRA_MESSAGE: 3,
  NO_MESSAGE: 4,
  TRUNCATED: 5,
} as const;
export type FrameProblemCode = (typeof FrameProblem)[keyof typeof FrameProblem];

/**
 * Collects exactly one message from DATA chunks split at arbitrary points. When a chunk holds the whole
 * message it is returned as a view of that chunk; otherwise one buffer of the announced size is filled.
 */
export class UnaryMessageReader {
  /** The complete message, once received. */
  message: Buffer | null = null;
  /** Announced length of the message being received; meaningful after the prefix. */
  announcedLength = 0;
  private prefixBytesSeen = 0;
  private body: Buffer | null = null;
  private bodyBytesSeen = 0;

  constructor(private readonly maxMessageBytes: number) {}

  push(chunk: Buffer): FrameProblemCode {
    const size = chunk.length;
    let offset = 0;
    while (offset < size) {
      if (this.message !== null) return FrameProblem.EXTRA_MESSAGE;
      if (this.prefixBytesSeen < MESSAGE_PREFIX_BYTES) {
        if (this.prefixBytesSeen === 0 && size - offset >= MESSAGE_PREFIX_BYTES) {
          if (chunk[offset] !== 0) return FrameProblem.COMPRESSED;
          this.announcedLength = chunk.readUInt32BE(offset + 1);
          this.prefixBytesSeen = MESSAGE_PREFIX_BYTES;
          offset += MESSAGE_PREFIX_BYTES;
        } else {
          const byte = chunk[offset++];
          if (this.prefixBytesSeen === 0) {
            if (byte !== 0) return FrameProblem.COMPRESSED;
          } else {
            this.announcedLength = this.announcedLength * 256 + byte;
          }
          if (++this.prefixBytesSeen < MESSAGE_PREFIX_BYTES) continue;
        }
        const length = this.announcedLength;
        if (length > this.maxMessageBytes) return FrameProblem.TOO_LARGE;
        if (length === 0) {
          this.message = EMPTY_MESSAGE;
        } else if (size - offset >= length) {
          this.message = chunk.subarray(offset, offset + length);
          offset += length;
        } else {
          this.body = Buffer.allocUnsafe(length);
        }
        continue;
      }
      const body = this.body as Buffer;
      const take = Math.min(size - offset, body.length - this.bodyBytesSeen);
      chunk.copy(body, this.bodyBytesSeen, offset, offset + take);
      this.bodyBytesSeen += take;
      offset += take;
      if (this.bodyBytesSeen === body.length) {
        this.message = body;
        this.body = null;
      }
    }
    return FrameProblem.NONE;
  }

  /** Checks the body once the peer has ended it. */
  finish(): FrameProblemCode {
    if (this.message !== null) return FrameProblem.NONE;
    return this.prefixBytesSeen === 0 ? FrameProblem.NO_MESSAGE : FrameProblem.TRUNCATED;
  }
}
