// One HTTP/2 connection in cleartext with prior knowledge (RFC 9113): settings, flow control in both
// directions, PING, GOAWAY, RST_STREAM and header blocks. The client and server subclasses decide what
// the streams carry.

import type { Socket } from 'node:net';
import {
  CONNECTION_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW_SIZE,
  ErrorCode,
  FRAME_HEADER_BYTES,
  Flag,
  FrameReader,
  FrameType,
  MAX_ALLOWED_FRAME_SIZE,
  MAX_WINDOW_SIZE,
  Setting,
  writeFrameHeader,
  type FrameSink,
} from './frames.js';
import { DEFAULT_HEADER_TABLE_SIZE, HpackDecoder, writeTableSizeUpdate } from './hpack.js';
import { Outbox } from './outbox.js';

// Large receive windows, so a multi-MiB message does not wait for a WINDOW_UPDATE round trip every 64 KiB.
const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
const CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;
// Consumed window is handed back in steps of a quarter window: rarely, yet long before the sender stalls.
const STREAM_UPDATE_THRESHOLD = STREAM_WINDOW_BYTES / 4;
const CONNECTION_UPDATE_THRESHOLD = CONNECTION_WINDOW_BYTES / 4;
// Larger DATA frames cut per-frame work on big messages.
const LOCAL_MAX_FRAME_SIZE = 256 * 1024;
// A header block is decoded whole; these bound the memory a peer can make it take.
const MAX_HEADER_BLOCK_BYTES = 256 * 1024;
const MAX_HEADER_STRINGS = 2048;
// Message bytes up to this size are copied next to their frame header; larger ones go out by reference.
const COPY_LIMIT = 4096;
const GRPC_PREFIX_BYTES = 5;
// After sending GOAWAY and FIN, how long the peer has to close its side before the socket is destroyed.
const CLOSE_LINGER_MS = 2000;

const SETTINGS_ENTRY_BYTES = 6;

/** Per-stream state the connection needs; the client's calls and the server's calls extend it. */
export class H2Stream {
  id = 0;
  /** What the peer lets this end send on the stream; may go negative when the peer shrinks its window. */
  sendWindow = 0;
  recvWindow = STREAM_WINDOW_BYTES;
  recvUnacked = 0;
  localEnded = false;
  remoteEnded = false;
  /** The gRPC message being sent as DATA (after its 5-byte prefix); null once all of it is out. */
  outMessage: Uint8Array | null = null;
  /** Bytes of prefix + message already sent. */
  outSent = 0;
  outEndsStream = false;
}

export abstract class H2Connection<S extends H2Stream> implements FrameSink {
  protected readonly streams = new Map<number, S>();
  /** Set once the connection is closed or closing for good: nothing is read or sent any more. */
  protected dead = false;
  protected peerSettingsReceived = false;
  protected peerMaxConcurrentStreams = Infinity;
  protected readonly out: Outbox;
  /** Decoded fields of the header block being handed to `onHeaderBlock`: name, value, name, value, ... */
  protected readonly fields: string[] = [];
  private readonly reader: FrameReader;
  private readonly decoder = new HpackDecoder();
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private peerInitialWindow = DEFAULT_WINDOW_SIZE;
  private sendWindow = DEFAULT_WINDOW_SIZE;
  private recvWindow = CONNECTION_WINDOW_BYTES;
  private recvUnacked = 0;
  /** Table size this end's encoder last announced; the peer may lower it, which must then be signalled. */
  private encoderTableSize = DEFAULT_HEADER_TABLE_SIZE;
  private tableSizeUpdatePending = false;
  private blocked: S[] = [];
  private headersStart = 0;
  private blockStream = 0;
  private blockEndStream = false;
  private blockParts: Buffer[] = [];
  private blockBytes = 0;
  private socketError = '';

  constructor(
    readonly socket: Socket,
    isServer: boolean,
  ) {
    this.out = new Outbox(socket);
    this.reader = new FrameReader(this, isServer);
    this.reader.maxFrameSize = LOCAL_MAX_FRAME_SIZE;
    socket.on('data', (chunk: Buffer) => this.reader.push(chunk));
    socket.on('error', (err: Error) => {
      this.socketError = err.message;
    });
    socket.on('close', () => this.terminate(this.socketError || 'connection closed by the peer', false));
    this.writeLocalSettings(isServer);
  }

  // ---- receiving

  onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (!this.peerSettingsReceived && type !== FrameType.SETTINGS) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR, 'the first frame from the peer must be SETTINGS');
      return;
    }
    switch (type) {
      case FrameType.HEADERS:
        this.receiveHeaders(flags, streamId, payload);
        break;
      case FrameType.CONTINUATION:
        this.receiveContinuation(flags, payload);
        break;
      case FrameType.SETTINGS:
        this.receiveSettings(flags, streamId, payload);
        break;
      case FrameType.WINDOW_UPDATE:
        this.receiveWindowUpdate(streamId, payload);
        break;
      case FrameType.RST_STREAM:
        this.receiveReset(streamId, payload);
        break;
      case FrameType.PING:
        if (streamId !== 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
        if (payload.length !== 8) return this.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'PING payload is not 8 bytes');
        if ((flags & Flag.ACK) === 0) this.writeControlFrame(FrameType.PING, Flag.ACK, 0, payload);
        break;
      case FrameType.GOAWAY:
        if (streamId !== 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (payload.length < 8) return this.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY shorter than 8 bytes');
        this.onGoaway(payload.readUInt32BE(0) & 0x7fffffff, payload.readUInt32BE(4), payload.toString('utf8', 8));
        break;
      case FrameType.PRIORITY:
        if (streamId === 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        break;
      case FrameType.PUSH_PROMISE:
        // Clients here disable push, and clients never push.
        this.connectionError(ErrorCode.PROTOCOL_ERROR, 'unexpected PUSH_PROMISE');
        break;
      default:
      // Unknown frame types are ignored (RFC 9113 section 4.1).
    }
  }

  onData(streamId: number, data: Buffer, flowBytes: number, endStream: boolean): void {
    if (!this.peerSettingsReceived) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR, 'the first frame from the peer must be SETTINGS');
      return;
    }
    if (flowBytes > 0) {
      if (flowBytes > this.recvWindow) {
        this.connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'peer overran the connection window');
        return;
      }
      this.recvWindow -= flowBytes;
      this.recvUnacked += flowBytes;
      if (this.recvUnacked >= CONNECTION_UPDATE_THRESHOLD) {
        this.writeWindowUpdate(0, this.recvUnacked);
        this.recvWindow += this.recvUnacked;
        this.recvUnacked = 0;
      }
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      // DATA for a stream closed or reset earlier only counts against the connection window.
      if (this.isIdle(streamId)) this.connectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
      return;
    }
    if (stream.remoteEnded) {
      this.resetStream(stream, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (flowBytes > 0) {
      if (flowBytes > stream.recvWindow) {
        this.resetStream(stream, ErrorCode.FLOW_CONTROL_ERROR);
        return;
      }
      stream.recvWindow -= flowBytes;
      stream.recvUnacked += flowBytes;
      if (!endStream && stream.recvUnacked >= STREAM_UPDATE_THRESHOLD) {
        this.writeWindowUpdate(streamId, stream.recvUnacked);
        stream.recvWindow += stream.recvUnacked;
        stream.recvUnacked = 0;
      }
    }
    if (endStream) stream.remoteEnded = true;
    this.onStreamData(stream, data, endStream);
  }

  onReadError(code: number, message: string): void {
    this.connectionError(code, message);
  }

  private receiveHeaders(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let start = 0;
    let end = payload.length;
    if ((flags & Flag.PADDED) !== 0) {
      start = 1;
      end -= end === 0 ? 0 : payload[0];
    }
    if ((flags & Flag.PRIORITY) !== 0) start += 5;
    if (start > end) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS padding or priority exceeds the frame');
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if ((flags & Flag.END_HEADERS) !== 0) {
      this.decodeHeaderBlock(streamId, endStream, payload, start, end);
      return;
    }
    this.blockStream = streamId;
    this.blockEndStream = endStream;
    this.blockParts.push(payload.subarray(start, end));
    this.blockBytes = end - start;
  }

  private receiveContinuation(flags: number, payload: Buffer): void {
    // The reader only lets through a CONTINUATION that belongs to the open header block.
    this.blockParts.push(payload);
    this.blockBytes += payload.length;
    if (this.blockBytes > MAX_HEADER_BLOCK_BYTES) {
      return this.connectionError(ErrorCode.ENHANCE_YOUR_CALM, `header block larger than ${MAX_HEADER_BLOCK_BYTES} bytes`);
    }
    if ((flags & Flag.END_HEADERS) === 0) return;
    const block = Buffer.concat(this.blockParts, this.blockBytes);
    this.blockParts = [];
    this.decodeHeaderBlock(this.blockStream, this.blockEndStream, block, 0, block.length);
  }

  private decodeHeaderBlock(streamId: number, endStream: boolean, block: Buffer, start: number, end: number): void {
    const count = this.decoder.decode(block, start, end, this.fields);
    if (count < 0) return this.connectionError(ErrorCode.COMPRESSION_ERROR, 'malformed header block');
    if (count > MAX_HEADER_STRINGS) return this.connectionError(ErrorCode.ENHANCE_YOUR_CALM, 'too many header fields');
    this.onHeaderBlock(streamId, count, endStream);
  }

  private receiveSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if ((flags & Flag.ACK) !== 0) {
      if (payload.length !== 0) this.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if (payload.length % SETTINGS_ENTRY_BYTES !== 0) {
      return this.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS payload is not a multiple of 6 bytes');
    }
    for (let pos = 0; pos < payload.length; pos += SETTINGS_ENTRY_BYTES) {
      const value = payload.readUInt32BE(pos + 2);
      switch (payload.readUInt16BE(pos)) {
        case Setting.HEADER_TABLE_SIZE:
          if (value < this.encoderTableSize) {
            this.encoderTableSize = value;
            this.tableSizeUpdatePending = true;
          }
          break;
        case Setting.ENABLE_PUSH:
          if (value > 1) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'ENABLE_PUSH is neither 0 nor 1');
          break;
        case Setting.MAX_CONCURRENT_STREAMS:
          this.peerMaxConcurrentStreams = value;
          break;
        case Setting.INITIAL_WINDOW_SIZE:
          if (value > MAX_WINDOW_SIZE) return this.connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'INITIAL_WINDOW_SIZE too large');
          if (!this.changeInitialWindow(value)) return;
          break;
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_ALLOWED_FRAME_SIZE) {
            return this.connectionError(ErrorCode.PROTOCOL_ERROR, `invalid MAX_FRAME_SIZE ${value}`);
          }
          this.peerMaxFrameSize = value;
          break;
        default:
        // MAX_HEADER_LIST_SIZE is advisory; unknown settings are ignored.
      }
    }
    this.writeControlFrame(FrameType.SETTINGS, Flag.ACK, 0, null);
    const first = !this.peerSettingsReceived;
    this.peerSettingsReceived = true;
    this.onPeerSettings(first);
    this.resumeBlocked();
  }

  private changeInitialWindow(value: number): boolean {
    const delta = value - this.peerInitialWindow;
    this.peerInitialWindow = value;
    for (const stream of this.streams.values()) {
      stream.sendWindow += delta;
      if (stream.sendWindow > MAX_WINDOW_SIZE) {
        this.connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'INITIAL_WINDOW_SIZE change overflows a stream window');
        return false;
      }
    }
    return true;
  }

  private receiveWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) return this.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE payload is not 4 bytes');
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (streamId === 0) {
      if (increment === 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW_SIZE) return this.connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window overflow');
    } else {
      const stream = this.streams.get(streamId);
      if (stream === undefined) {
        if (this.isIdle(streamId)) this.connectionError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${streamId}`);
        return;
      }
      if (increment === 0) return this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
      stream.sendWindow += increment;
      if (stream.sendWindow > MAX_WINDOW_SIZE) return this.resetStream(stream, ErrorCode.FLOW_CONTROL_ERROR);
    }
    this.resumeBlocked();
  }

  private receiveReset(streamId: number, payload: Buffer): void {
    if (streamId === 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (payload.length !== 4) return this.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM payload is not 4 bytes');
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (this.isIdle(streamId)) this.connectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
      return;
    }
    this.forgetStream(stream);
    this.onStreamReset(stream, payload.readUInt32BE(0));
  }

  // ---- sending

  /**
   * Starts a HEADERS frame whose block takes at most `blockBound` bytes; write the block into `out.buf` from
   * the returned position on, then call `endHeaders`.
   */
  protected beginHeaders(blockBound: number): number {
    const out = this.out;
    out.reserve(FRAME_HEADER_BYTES + 5 + blockBound);
    this.headersStart = out.pos;
    const pos = out.pos + FRAME_HEADER_BYTES;
    if (!this.tableSizeUpdatePending) return pos;
    this.tableSizeUpdatePending = false;
    return writeTableSizeUpdate(out.buf, pos, this.encoderTableSize);
  }

  /** Completes the HEADERS frame whose block ends at `blockEnd`, splitting it into CONTINUATIONs if needed. */
  protected endHeaders(streamId: number, blockEnd: number, endStream: boolean): void {
    const out = this.out;
    const start = this.headersStart;
    const blockLength = blockEnd - start - FRAME_HEADER_BYTES;
    const endFlag = endStream ? Flag.END_STREAM : 0;
    if (blockLength <= this.peerMaxFrameSize) {
      writeFrameHeader(out.buf, start, blockLength, FrameType.HEADERS, endFlag | Flag.END_HEADERS, streamId);
      out.pos = blockEnd;
    } else {
      const block = Buffer.from(out.buf.subarray(start + FRAME_HEADER_BYTES, blockEnd));
      const frames = Math.ceil(blockLength / this.peerMaxFrameSize);
      out.pos = start;
      out.reserve(blockLength + frames * FRAME_HEADER_BYTES);
      let pos = out.pos;
      for (let offset = 0; offset < blockLength; offset += this.peerMaxFrameSize) {
        const size = Math.min(this.peerMaxFrameSize, blockLength - offset);
        const last = offset + size === blockLength;
        const type = offset === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
        const flags = (offset === 0 ? endFlag : 0) | (last ? Flag.END_HEADERS : 0);
        pos = writeFrameHeader(out.buf, pos, size, type, flags, streamId);
        pos += block.copy(out.buf, pos, offset, offset + size);
      }
      out.pos = pos;
    }
    out.schedule();
  }

  /**
   * Sends `message` with its gRPC prefix as the stream's DATA, as far as flow control allows now; the rest
   * follows as windows open, and `onMessageSent` reports when that completes later. Returns whether all is out.
   */
  protected sendMessage(stream: S, message: Uint8Array, endStream: boolean): boolean {
    stream.outMessage = message;
    stream.outSent = 0;
    stream.outEndsStream = endStream;
    if (this.pump(stream)) return true;
    this.blocked.push(stream);
    return false;
  }

  private pump(stream: S): boolean {
    const message = stream.outMessage as Uint8Array;
    const length = message.length;
    const total = length + GRPC_PREFIX_BYTES;
    const out = this.out;
    out.schedule();
    while (stream.outSent < total) {
      const size = Math.min(total - stream.outSent, stream.sendWindow, this.sendWindow, this.peerMaxFrameSize);
      if (size <= 0) return false;
      const from = stream.outSent;
      const to = from + size;
      const flags = to === total && stream.outEndsStream ? Flag.END_STREAM : 0;
      const prefixBytes = from < GRPC_PREFIX_BYTES ? Math.min(GRPC_PREFIX_BYTES, to) - from : 0;
      const messageFrom = from + prefixBytes - GRPC_PREFIX_BYTES;
      const messageBytes = size - prefixBytes;
      const copy = messageBytes <= COPY_LIMIT;
      out.reserve(FRAME_HEADER_BYTES + prefixBytes + (copy ? messageBytes : 0));
      const buf = out.buf;
      let pos = writeFrameHeader(buf, out.pos, size, FrameType.DATA, flags, stream.id);
      for (let i = from; i < from + prefixBytes; i++) buf[pos++] = i === 0 ? 0 : (length >>> (8 * (4 - i))) & 0xff;
      if (copy) {
        if (messageBytes === length) buf.set(message, pos);
        else if (messageBytes > 0) buf.set(message.subarray(messageFrom, messageFrom + messageBytes), pos);
        out.pos = pos + messageBytes;
      } else {
        out.pos = pos;
        out.appendReference(message.subarray(messageFrom, messageFrom + messageBytes));
      }
      stream.outSent = to;
      stream.sendWindow -= size;
      this.sendWindow -= size;
    }
    stream.outMessage = null;
    if (stream.outEndsStream) stream.localEnded = true;
    return true;
  }

  private resumeBlocked(): void {
    if (this.blocked.length === 0) return;
    const waiting = this.blocked;
    this.blocked = [];
    for (const stream of waiting) {
      if (stream.outMessage === null) continue; // reset meanwhile
      if (this.pump(stream)) this.onMessageSent(stream);
      else this.blocked.push(stream);
    }
  }

  /** Opens a stream under `id` with the window the peer grants new streams. */
  protected addStream(stream: S, id: number): void {
    stream.id = id;
    stream.sendWindow = this.peerInitialWindow;
    this.streams.set(id, stream);
  }

  /** Drops the stream from the connection: nothing more is sent or delivered for it. */
  protected forgetStream(stream: S): void {
    this.streams.delete(stream.id);
    stream.outMessage = null;
  }

  /** Resets a stream from this end and forgets it. */
  protected resetStream(stream: S, code: number): void {
    this.writeRstStream(stream.id, code);
    this.forgetStream(stream);
    this.onStreamReset(stream, code);
  }

  protected writeRstStream(streamId: number, code: number): void {
    const out = this.out;
    out.reserve(FRAME_HEADER_BYTES + 4);
    const pos = writeFrameHeader(out.buf, out.pos, 4, FrameType.RST_STREAM, 0, streamId);
    out.buf.writeUInt32BE(code, pos);
    out.pos = pos + 4;
    out.schedule();
  }

  private writeWindowUpdate(streamId: number, increment: number): void {
    const out = this.out;
    out.reserve(FRAME_HEADER_BYTES + 4);
    const pos = writeFrameHeader(out.buf, out.pos, 4, FrameType.WINDOW_UPDATE, 0, streamId);
    out.buf.writeUInt32BE(increment, pos);
    out.pos = pos + 4;
    out.schedule();
  }

  private writeControlFrame(type: number, flags: number, streamId: number, payload: Buffer | null): void {
    const out = this.out;
    const length = payload === null ? 0 : payload.length;
    out.reserve(FRAME_HEADER_BYTES + length);
    const pos = writeFrameHeader(out.buf, out.pos, length, type, flags, streamId);
    out.pos = pos + (payload === null ? 0 : payload.copy(out.buf, pos));
    out.schedule();
  }

  protected writeGoaway(lastStreamId: number, code: number, debug: string): void {
    const detail = Buffer.from(debug, 'utf8');
    const payload = Buffer.allocUnsafe(8 + detail.length);
    payload.writeUInt32BE(lastStreamId, 0);
    payload.writeUInt32BE(code, 4);
    detail.copy(payload, 8);
    this.writeControlFrame(FrameType.GOAWAY, 0, 0, payload);
  }

  private writeLocalSettings(isServer: boolean): void {
    const entries: Array<[number, number]> = [
      [Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW_BYTES],
      [Setting.MAX_FRAME_SIZE, LOCAL_MAX_FRAME_SIZE],
    ];
    if (!isServer) entries.unshift([Setting.ENABLE_PUSH, 0]);
    const payload = Buffer.allocUnsafe(entries.length * SETTINGS_ENTRY_BYTES);
    entries.forEach(([id, value], i) => {
      payload.writeUInt16BE(id, i * SETTINGS_ENTRY_BYTES);
      payload.writeUInt32BE(value, i * SETTINGS_ENTRY_BYTES + 2);
    });
    if (!isServer) this.out.appendReference(CONNECTION_PREFACE);
    this.writeControlFrame(FrameType.SETTINGS, 0, 0, payload);
    this.writeWindowUpdate(0, CONNECTION_WINDOW_BYTES - DEFAULT_WINDOW_SIZE);
  }

  // ---- shutting down

  /** Reports a connection error to the peer with GOAWAY and closes the connection (RFC 9113 section 5.4.1). */
  protected connectionError(code: number, message: string): void {
    if (this.dead) return;
    this.writeGoaway(this.lastPeerStreamId(), code, message);
    this.terminate(`HTTP/2 protocol error: ${message}`, true);
  }

  /**
   * Closes the connection for good and settles its streams. Gracefully, what is queued is still sent and
   * the peer sees FIN; otherwise the socket is destroyed at once. Idempotent.
   */
  protected terminate(reason: string, graceful: boolean): void {
    if (this.dead) return;
    this.dead = true;
    this.reader.stop();
    this.blocked = [];
    const socket = this.socket;
    if (graceful && !socket.destroyed) {
      this.out.flush();
      socket.end();
      socket.setTimeout(CLOSE_LINGER_MS, () => socket.destroy());
    } else {
      socket.destroy();
    }
    this.onClosed(reason);
    this.streams.clear();
  }

  // ---- what the subclasses decide

  /** A complete header block arrived; its fields are in `this.fields[0, count)`. */
  protected abstract onHeaderBlock(streamId: number, count: number, endStream: boolean): void;
  /** Data for an open stream; `endStream` marks the peer's last. */
  protected abstract onStreamData(stream: S, data: Buffer, endStream: boolean): void;
  /** The stream was reset, by the peer or by this end; it is already forgotten. */
  protected abstract onStreamReset(stream: S, code: number): void;
  /** A message held back by flow control has now been sent completely. */
  protected abstract onMessageSent(stream: S): void;
  protected abstract onPeerSettings(first: boolean): void;
  protected abstract onGoaway(lastStreamId: number, code: number, debug: string): void;
  /** The connection is gone; every stream still in `streams` must be settled. */
  protected abstract onClosed(reason: string): void;
  /** Whether the stream id was never used on this connection (frames for it are then a protocol error). */
  protected abstract isIdle(streamId: number): boolean;
  /** The highest stream id the peer opened that this end processed (for GOAWAY). */
  protected abstract lastPeerStreamId(): number;
}
