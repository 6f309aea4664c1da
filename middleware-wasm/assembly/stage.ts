// Strings handed to the host are encoded into static buffers, so passing one allocates nothing; only text too
// large for its buffer is encoded into the per-request arena. Neither buffer is SCRATCH, so what a scratch read
// left there survives a convenience-layer call that only passes strings to the host.
import { encodeInto } from "./utf8";

/** Where header names are staged: apart from the other buffers, so a lookup can write its result elsewhere. */
export const NAME_SIZE: i32 = 256;
export const NAME: usize = memory.data(NAME_SIZE, 16);

/** Where values, URIs, methods, log messages and body text are staged. */
export const TEXT_SIZE: i32 = 4096;
export const TEXT: usize = memory.data(TEXT_SIZE, 16);

/** Byte length of the text the last `stage` call placed. */
export let stagedLen: i32 = 0;

/** Encodes `text` at `buf` (`size` bytes) or, when it does not fit, into a new arena buffer; returns where. */
export function stage(text: string, buf: usize, size: i32): usize {
  const len = encodeInto(text, buf, size);
  if (len >= 0) {
    stagedLen = len;
    return buf;
  }
  const encoded = String.UTF8.encode(text);
  stagedLen = encoded.byteLength;
  return changetype<usize>(encoded);
}
