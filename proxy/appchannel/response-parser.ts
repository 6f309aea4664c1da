// Incremental HTTP/1.1 response parser, one per connection and reset before each response.
// Input may be split anywhere (inside the status line, a header, a CRLF or a chunk-size line) and
// may live in a buffer that is reused after each call, so every byte kept is copied out.

export const PARSE_INCOMPLETE = 0;
export const PARSE_COMPLETE = 1;
export const PARSE_FAILED = 2;
export type ParseOutcome = typeof PARSE_INCOMPLETE | typeof PARSE_COMPLETE | typeof PARSE_FAILED;

/** Largest status line + header block accepted (each interim 1xx head counts on its own). */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Largest chunk-size line (size + extensions) accepted. */
const MAX_CHUNK_LINE_BYTES = 4096;
/** Chunk sizes beyond this are nonsense whatever the body limit. */
const MAX_CHUNK_SIZE = 2 ** 48;

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;
const COLON = 58;
const SEMICOLON = 59;

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY_BODY = Buffer.alloc(0);

// tchar from RFC 9110 section 5.6.2.
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TOKEN[c.charCodeAt(0)] = 1;

// Hex digit values, -1 for anything else.
const HEX = new Int8Array(256).fill(-1);
for (let d = 0; d < 16; d++) {
  HEX['0123456789abcdef'.charCodeAt(d)] = d;
  HEX['0123456789ABCDEF'.charCodeAt(d)] = d;
}

const S_HEAD = 0;
const S_FIXED_BODY = 1;
const S_UNTIL_CLOSE = 2;
const S_CHUNK_SIZE = 3;
const S_CHUNK_SIZE_BWS = 4;
const S_CHUNK_EXT = 5;
const S_CHUNK_SIZE_LF = 6;
const S_CHUNK_DATA = 7;
const S_CHUNK_DATA_CR = 8;
const S_CHUNK_DATA_LF = 9;
const S_TRAILER_START = 10;
const S_TRAILER_LINE = 11;
const S_TRAILER_LINE_LF = 12;
const S_TRAILER_END_LF = 13;
const S_DONE = 14;
const S_FAILED = 15;

export class ResponseParser {
  status = 0;
  /** Flat [name, value, ...] as received, minus hop-by-hop headers and content-length. */
  headers: string[] = [];
  /** Whether the connection may carry another request after this response. */
  keepAlive = false;
  /** Idle lifetime the server announced with `Keep-Alive: timeout=N`, in ms; -1 when none. */
  keepAliveHintMs = -1;
  /** Whether any byte of this response arrived. */
  started = false;
  /** Bytes of the last input that followed the complete response. */
  leftover = 0;
  errorKind: 'protocol' | 'too-large' = 'protocol';
  errorMessage = '';

  private state = S_HEAD;
  private noBody = false;
  private maxBodyBytes = Infinity;

  // Head bytes carried over while a head is split across inputs.
  private pending: Buffer | null = null;
  private pendingLen = 0;

  // Per-head header facts.
  private contentLength = -1;
  private chunked = false;
  private connectionClose = false;
  private connectionKeepAlive = false;
  private connectionNominated: string[] | null = null;
  private lastKeepAliveValue = '';
  private lastKeepAliveHintMs = -1;

  // Body assembly: a preallocated buffer when the length is known, parts otherwise.
  private fixedBody: Buffer = EMPTY_BODY;
  private fixedFilled = 0;
  private parts: Buffer[] = [];
  private partsBytes = 0;

  // Chunked framing.
  private chunkRemaining = 0;
  private chunkSizeDigits = 0;
  private lineBytes = 0;

  reset(noBody: boolean, maxBodyBytes: number): void {
    this.state = S_HEAD;
    this.noBody = noBody;
    this.maxBodyBytes = maxBodyBytes;
    this.status = 0;
    this.headers = [];
    this.keepAlive = false;
    this.keepAliveHintMs = -1;
    this.started = false;
    this.leftover = 0;
    this.errorMessage = '';
    this.pendingLen = 0;
    this.fixedBody = EMPTY_BODY;
    this.fixedFilled = 0;
    if (this.parts.length !== 0) this.parts = [];
    this.partsBytes = 0;
  }

  /** Feeds `buf[start, end)`; the buffer may be overwritten once this returns. */
  execute(buf: Buffer, start: number, end: number): ParseOutcome {
    if (start < end) this.started = true;
    let i = start;
    while (i < end && this.state < S_DONE) {
      switch (this.state) {
        case S_HEAD:
          i = this.readHead(buf, i, end);
          break;
        case S_FIXED_BODY:
          i = this.readFixedBody(buf, i, end);
          break;
        case S_UNTIL_CLOSE:
          if (!this.addPart(buf, i, end)) return PARSE_FAILED;
          i = end;
          break;
        default:
          i = this.readChunked(buf, i, end);
      }
    }
    if (this.state === S_DONE) {
      this.leftover = end - i;
      return PARSE_COMPLETE;
    }
    return this.state === S_FAILED ? PARSE_FAILED : PARSE_INCOMPLETE;
  }

  /** The peer closed the connection: completes a body delimited by the close, otherwise false. */
  finishAtEof(): boolean {
    if (this.state !== S_UNTIL_CLOSE) return false;
    this.state = S_DONE;
    return true;
  }

  /** The complete body; the parser lets go of it so an idle connection retains nothing. */
  takeBody(): Buffer {
    const fixed = this.fixedBody;
    if (fixed !== EMPTY_BODY) {
      this.fixedBody = EMPTY_BODY;
      return fixed;
    }
    const parts = this.parts;
    if (parts.length === 0) return EMPTY_BODY;
    this.parts = [];
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, this.partsBytes);
  }

  private fail(message: string): number {
    this.state = S_FAILED;
    this.errorKind = 'protocol';
    this.errorMessage = message;
    return Number.MAX_SAFE_INTEGER;
  }

  private tooLarge(): number {
    this.state = S_FAILED;
    this.errorKind = 'too-large';
    this.errorMessage = `response body exceeds ${this.maxBodyBytes} bytes`;
    return Number.MAX_SAFE_INTEGER;
  }

  private readHead(buf: Buffer, i: number, end: number): number {
    const carried = this.pendingLen;
    if (carried === 0) {
      const at = findHeadEnd(buf, i, end);
      if (at === -1) {
        if (end - i > MAX_HEAD_BYTES) return this.fail('response head too large');
        this.carry(buf, i, end);
        return end;
      }
      if (at + 4 - i > MAX_HEAD_BYTES) return this.fail('response head too large');
      this.parseHead(buf, i, at);
      return at + 4;
    }
    this.carry(buf, i, end);
    const pending = this.pending as Buffer;
    // The terminator may straddle the previous input and this one.
    const at = findHeadEnd(pending, carried > 3 ? carried - 3 : 0, this.pendingLen);
    if (at === -1) {
      if (this.pendingLen > MAX_HEAD_BYTES) return this.fail('response head too large');
      return end;
    }
    if (at + 4 > MAX_HEAD_BYTES) return this.fail('response head too large');
    // Split heads are rare: let the carry buffer go rather than keep it on an idle connection.
    this.pending = null;
    this.pendingLen = 0;
    this.parseHead(pending, 0, at);
    return i + (at + 4 - carried);
  }

  private carry(buf: Buffer, start: number, end: number): void {
    const needed = this.pendingLen + end - start;
    let pending = this.pending;
    if (pending === null || pending.length < needed) {
      const grown = Buffer.allocUnsafe(Math.max(needed, 1024, pending === null ? 0 : pending.length * 2));
      if (pending !== null) pending.copy(grown, 0, 0, this.pendingLen);
      this.pending = pending = grown;
    }
    buf.copy(pending, this.pendingLen, start, end);
    this.pendingLen = needed;
  }

  /** Parses the head in `b[s, e)`, where `e` is the CR ending its last line (`b[e, e + 4)` is CRLFCRLF). */
  private parseHead(b: Buffer, s: number, e: number): void {
    if (
      e - s < 12 ||
      b[s] !== 0x48 || b[s + 1] !== 0x54 || b[s + 2] !== 0x54 || b[s + 3] !== 0x50 ||
      b[s + 4] !== 0x2f || b[s + 5] !== 0x31 || b[s + 6] !== 0x2e ||
      (b[s + 7] !== 0x30 && b[s + 7] !== 0x31) || b[s + 8] !== SP
    ) {
      this.fail('malformed status line');
      return;
    }
    const http10 = b[s + 7] === 0x30;
    const d0 = b[s + 9] - 48;
    const d1 = b[s + 10] - 48;
    const d2 = b[s + 11] - 48;
    if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) {
      this.fail('malformed status code');
      return;
    }
    const status = d0 * 100 + d1 * 10 + d2;
    let p = s + 12;
    if (b[p] !== SP && b[p] !== CR) {
      this.fail('malformed status line');
      return;
    }
    for (; b[p] !== CR; p++) {
      const c = b[p];
      if ((c < 0x20 && c !== HT) || c === 0x7f) {
        this.fail('invalid character in reason phrase');
        return;
      }
    }
    if (b[p + 1] !== LF) {
      this.fail('malformed status line');
      return;
    }
    if (status < 200) {
      // Interim responses (100 Continue, 103 Early Hints, ...) are skipped; the final one follows.
      if (status === 101) this.fail('unexpected 101 Switching Protocols');
      return;
    }

    this.status = status;
    this.contentLength = -1;
    this.chunked = false;
    this.connectionClose = false;
    this.connectionKeepAlive = false;
    this.connectionNominated = null;
    const headers = this.headers;
    p += 2;
    while (p < e) {
      const nameStart = p;
      while (TOKEN[b[p]] === 1) p++;
      if (p === nameStart || b[p] !== COLON) {
        this.fail('malformed header line');
        return;
      }
      const nameEnd = p++;
      while (b[p] === SP || b[p] === HT) p++;
      const valueStart = p;
      let valueEnd = p;
      for (let c = b[p]; c !== CR; c = b[++p]) {
        if ((c < 0x20 && c !== HT) || c === 0x7f) {
          this.fail('invalid character in header value');
          return;
        }
        if (c !== SP && c !== HT) valueEnd = p + 1;
      }
      if (b[p + 1] !== LF) {
        this.fail('malformed header line');
        return;
      }
      p += 2;
      const name = b.toString('latin1', nameStart, nameEnd);
      const value = b.toString('utf8', valueStart, valueEnd);
      if (this.isFramingOrHopByHop(name, value)) {
        if (this.state === S_FAILED) return;
      } else {
        headers.push(name, value);
      }
    }

    this.keepAlive = !this.connectionClose && (!http10 || this.connectionKeepAlive);
    if (this.connectionNominated !== null) this.dropNominated(this.connectionNominated);
    this.startBody();
  }

  /** Records framing and connection facts; true when the header must not be passed on. */
  private isFramingOrHopByHop(name: string, value: string): boolean {
    const n = name.length;
    switch (name.charCodeAt(0) | 0x20) {
      case 0x63: // c
        if (n === 14 && name.toLowerCase() === 'content-length') {
          const length = parseContentLength(value);
          if (length < 0) this.fail('invalid content-length');
          else if (this.contentLength !== -1 && this.contentLength !== length) this.fail('conflicting content-length');
          else this.contentLength = length;
          return true;
        }
        if (n === 10 && name.toLowerCase() === 'connection') {
          this.noteConnection(value);
          return true;
        }
        return false;
      case 0x74: // t
        if (n === 17 && name.toLowerCase() === 'transfer-encoding') {
          // Only plain chunked framing is understood; anything else cannot be forwarded faithfully.
          if (this.chunked || value.length !== 7 || value.toLowerCase() !== 'chunked') this.fail('unsupported transfer-encoding');
          else this.chunked = true;
          return true;
        }
        return (n === 2 && name.toLowerCase() === 'te') || (n === 7 && name.toLowerCase() === 'trailer');
      case 0x6b: // k
        if (n === 10 && name.toLowerCase() === 'keep-alive') {
          this.noteKeepAliveHint(value);
          return true;
        }
        return false;
      case 0x75: // u
        return n === 7 && name.toLowerCase() === 'upgrade';
      case 0x70: // p
        return n > 6 && name.slice(0, 6).toLowerCase() === 'proxy-';
      default:
        return false;
    }
  }

  private noteConnection(value: string): void {
    const lower = value.toLowerCase();
    if (lower === 'keep-alive') {
      this.connectionKeepAlive = true;
      return;
    }
    if (lower === 'close') {
      this.connectionClose = true;
      return;
    }
    for (const raw of lower.split(',')) {
      const option = raw.trim();
      if (option === 'close') this.connectionClose = true;
      else if (option === 'keep-alive') this.connectionKeepAlive = true;
      else if (option !== '') (this.connectionNominated ??= []).push(option);
    }
  }

  private noteKeepAliveHint(value: string): void {
    // Servers repeat the same value on every response; parse it once.
    if (value !== this.lastKeepAliveValue) {
      const match = /(?:^|[\s,])timeout\s*=\s*(\d{1,9})(?:\s*(?:,|$))/i.exec(value);
      this.lastKeepAliveValue = value;
      this.lastKeepAliveHintMs = match === null ? -1 : Number(match[1]) * 1000;
    }
    this.keepAliveHintMs = this.lastKeepAliveHintMs;
  }

  /** Removes headers the Connection header declared connection-specific. */
  private dropNominated(nominated: string[]): void {
    const kept: string[] = [];
    const headers = this.headers;
    for (let k = 0; k < headers.length; k += 2) {
      if (!nominated.includes(headers[k].toLowerCase())) kept.push(headers[k], headers[k + 1]);
    }
    this.headers = kept;
  }

  private startBody(): void {
    const status = this.status;
    if (this.noBody || status === 204 || status === 304) {
      this.state = S_DONE;
    } else if (this.chunked) {
      if (this.contentLength !== -1) {
        this.fail('both content-length and transfer-encoding');
        return;
      }
      this.chunkSizeDigits = 0;
      this.chunkRemaining = 0;
      this.lineBytes = 0;
      this.state = S_CHUNK_SIZE;
    } else if (this.contentLength >= 0) {
      const length = this.contentLength;
      if (length > this.maxBodyBytes) {
        this.tooLarge();
      } else if (length === 0) {
        this.state = S_DONE;
      } else {
        this.fixedBody = Buffer.allocUnsafe(length);
        this.fixedFilled = 0;
        this.state = S_FIXED_BODY;
      }
    } else {
      // Neither length nor chunking: the body runs until the server closes the connection.
      this.keepAlive = false;
      this.state = S_UNTIL_CLOSE;
    }
  }

  private readFixedBody(buf: Buffer, i: number, end: number): number {
    const body = this.fixedBody;
    const take = Math.min(end - i, body.length - this.fixedFilled);
    buf.copy(body, this.fixedFilled, i, i + take);
    this.fixedFilled += take;
    if (this.fixedFilled === body.length) this.state = S_DONE;
    return i + take;
  }

  private addPart(buf: Buffer, start: number, end: number): boolean {
    const size = end - start;
    if (this.partsBytes + size > this.maxBodyBytes) {
      this.tooLarge();
      return false;
    }
    const part = Buffer.allocUnsafe(size);
    buf.copy(part, 0, start, end);
    this.parts.push(part);
    this.partsBytes += size;
    return true;
  }

  private readChunked(buf: Buffer, i: number, end: number): number {
    while (i < end) {
      const state = this.state;
      if (state === S_CHUNK_DATA) {
        const take = Math.min(end - i, this.chunkRemaining);
        if (!this.addPart(buf, i, i + take)) return end;
        i += take;
        this.chunkRemaining -= take;
        if (this.chunkRemaining === 0) this.state = S_CHUNK_DATA_CR;
        continue;
      }
      const c = buf[i++];
      switch (state) {
        case S_CHUNK_SIZE: {
          const digit = HEX[c];
          if (digit >= 0) {
            this.chunkRemaining = this.chunkRemaining * 16 + digit;
            if (++this.chunkSizeDigits > 12 || this.chunkRemaining > MAX_CHUNK_SIZE) return this.fail('chunk size too large');
          } else if (this.chunkSizeDigits === 0) {
            return this.fail('malformed chunk size');
          } else if (c === CR) {
            this.state = S_CHUNK_SIZE_LF;
          } else if (c === SEMICOLON) {
            this.state = S_CHUNK_EXT;
          } else if (c === SP || c === HT) {
            this.state = S_CHUNK_SIZE_BWS;
          } else {
            return this.fail('malformed chunk size');
          }
          break;
        }
        case S_CHUNK_SIZE_BWS:
          if (c === SEMICOLON) this.state = S_CHUNK_EXT;
          else if (c === CR) this.state = S_CHUNK_SIZE_LF;
          else if (c !== SP && c !== HT) return this.fail('malformed chunk size');
          break;
        case S_CHUNK_EXT:
          if (c === CR) this.state = S_CHUNK_SIZE_LF;
          else if ((c < 0x20 && c !== HT) || c === 0x7f) return this.fail('invalid character in chunk extension');
          else if (++this.lineBytes > MAX_CHUNK_LINE_BYTES) return this.fail('chunk extension too long');
          break;
        case S_CHUNK_SIZE_LF:
          if (c !== LF) return this.fail('malformed chunk size line');
          this.lineBytes = 0;
          if (this.chunkRemaining === 0) {
            this.state = S_TRAILER_START;
          } else if (this.partsBytes + this.chunkRemaining > this.maxBodyBytes) {
            return this.tooLarge();
          } else {
            this.state = S_CHUNK_DATA;
          }
          break;
        case S_CHUNK_DATA_CR:
          if (c !== CR) return this.fail('missing CRLF after chunk data');
          this.state = S_CHUNK_DATA_LF;
          break;
        case S_CHUNK_DATA_LF:
          if (c !== LF) return this.fail('missing CRLF after chunk data');
          this.chunkSizeDigits = 0;
          this.state = S_CHUNK_SIZE;
          break;
        case S_TRAILER_START:
          if (c === CR) {
            this.state = S_TRAILER_END_LF;
          } else {
            // The byte starts a trailer field line: read it again in that state.
            this.state = S_TRAILER_LINE;
            i--;
          }
          break;
        case S_TRAILER_LINE:
          if (c === CR) this.state = S_TRAILER_LINE_LF;
          else if ((c < 0x20 && c !== HT) || c === 0x7f) return this.fail('invalid character in trailer');
          else if (++this.lineBytes > MAX_HEAD_BYTES) return this.fail('trailer section too large');
          break;
        case S_TRAILER_LINE_LF:
          if (c !== LF) return this.fail('malformed trailer line');
          this.state = S_TRAILER_START;
          break;
        case S_TRAILER_END_LF:
          if (c !== LF) return this.fail('malformed end of chunked body');
          this.state = S_DONE;
          return i;
      }
    }
    return i;
  }
}

/** Index of the CRLFCRLF ending a head within `b[from, to)`, or -1. */
function findHeadEnd(b: Buffer, from: number, to: number): number {
  const at = b.indexOf(HEAD_END, from);
  return at !== -1 && at + 4 <= to ? at : -1;
}

function parseContentLength(value: string): number {
  if (value.indexOf(',') === -1) return parseDigits(value);
  // A list is acceptable when every member agrees (RFC 9110 section 8.6).
  let agreed = -1;
  for (const member of value.split(',')) {
    const length = parseDigits(member.trim());
    if (length < 0 || (agreed !== -1 && length !== agreed)) return -1;
    agreed = length;
  }
  return agreed;
}

function parseDigits(text: string): number {
  if (text.length === 0 || text.length > 15) return -1;
  let n = 0;
  for (let k = 0; k < text.length; k++) {
    const d = text.charCodeAt(k) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}
