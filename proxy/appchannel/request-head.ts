import type { AppRequest } from './http-pool.js';

/** Bodies up to this size go out in one buffer with the head: one write, one syscall. */
export const COALESCED_BODY_BYTES = 16 * 1024;

const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const SPACE = 0x20;
const COLON = 0x3a;
const DIGIT_ZERO = 0x30;
const FIRST_NON_ASCII = 0x80;
/** The most UTF-8 bytes one UTF-16 code unit encodes to. */
const MAX_UTF8_PER_UNIT = 3;

const HTTP_VERSION_AND_HOST = Buffer.from(' HTTP/1.1\r\nHost: ');
const CONTENT_LENGTH = Buffer.from('Content-Length: ');

/**
 * The head is written here, then copied out at its exact size (with a coalesced body after it). Concatenating
 * strings instead made about 40 string pieces per request, over a kilobyte, and a flattening copy before writing.
 * One encoding runs at a time on this thread; the buffer grows for a larger head and stays grown.
 */
let scratch = Buffer.allocUnsafe(8 * 1024);

/**
 * The request line and header block for `req`, with the body after them when it is at most COALESCED_BODY_BYTES,
 * as the bytes to write; null when a line feed inside the method, path or a header would split the head (the path
 * and metadata may come from a remote peer). Strings are sent as UTF-8, the encoding the HTTP front decodes
 * headers with.
 */
export function encodeRequestHead(req: AppRequest, hostHeader: string): Buffer | null {
  let at = writeText(req.method, 0);
  at = writeByte(SPACE, at);
  at = writeText(req.path, at);
  at = writeBytes(HTTP_VERSION_AND_HOST, at);
  at = writeText(hostHeader, at);
  at = endLine(at);
  const headers = req.headers;
  for (let k = 0; k + 1 < headers.length; k += 2) {
    at = writeText(headers[k]!, at);
    at = writeByte(SPACE, writeByte(COLON, at));
    at = writeText(headers[k + 1]!, at);
    at = endLine(at);
  }
  if (at < 0) return null;
  const body = req.body;
  if (body !== null) {
    at = endLine(writeText(String(body.length), writeBytes(CONTENT_LENGTH, at)));
  } else if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') {
    // Servers may insist on a length for these methods even when there is nothing to send.
    at = endLine(writeByte(DIGIT_ZERO, writeBytes(CONTENT_LENGTH, at)));
  }
  at = endLine(at);
  const coalesced = body !== null && body.length <= COALESCED_BODY_BYTES ? body : null;
  const out = Buffer.allocUnsafe(coalesced === null ? at : at + coalesced.length);
  scratch.copy(out, 0, 0, at);
  if (coalesced !== null) out.set(coalesced, at);
  return out;
}

/**
 * Writes `text` as UTF-8 at `at` and returns where it ends; -1 when it holds a line feed or when `at` is -1, so
 * that a refusal carries through a chain of writes.
 */
function writeText(text: string, at: number): number {
  if (at < 0) return -1;
  const length = text.length;
  const target = ensureRoom(at + length * MAX_UTF8_PER_UNIT);
  // Header text is almost always ASCII, which a loop copies faster than a native call for each short string.
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code === LINE_FEED) return -1;
    if (code >= FIRST_NON_ASCII) return text.indexOf('\n', i) === -1 ? at + target.write(text, at) : -1;
    target[at + i] = code;
  }
  return at + length;
}

function writeBytes(bytes: Buffer, at: number): number {
  if (at < 0) return -1;
  ensureRoom(at + bytes.length).set(bytes, at);
  return at + bytes.length;
}

function writeByte(byte: number, at: number): number {
  if (at < 0) return -1;
  ensureRoom(at + 1)[at] = byte;
  return at + 1;
}

function endLine(at: number): number {
  if (at < 0) return -1;
  const target = ensureRoom(at + 2);
  target[at] = CARRIAGE_RETURN;
  target[at + 1] = LINE_FEED;
  return at + 2;
}

/** The scratch buffer, grown (keeping what is written) if it has fewer than `bytes`. */
function ensureRoom(bytes: number): Buffer {
  if (bytes <= scratch.length) return scratch;
  const grown = Buffer.allocUnsafe(Math.max(bytes, scratch.length * 2));
  scratch.copy(grown);
  scratch = grown;
  return grown;
}
