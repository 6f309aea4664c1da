// UTF-8 conversions for the SDK. Header names, URIs and most header values are ASCII, so both directions move
// eight bytes (or four UTF-16 units) per step while the text stays ASCII, and leave the rest to the standard
// library's codec, which goes one unit at a time.
import { OBJECT_OVERHEAD } from "~lib/rt/common";

const ASCII_BYTES: u64 = 0x8080_8080_8080_8080;
const ASCII_UNITS: u64 = 0xff80_ff80_ff80_ff80;

/** Four ASCII bytes (the low ones of `bytes`) spread to four UTF-16 units. */
// @ts-ignore: decorator
@inline function widen(bytes: u32): u64 {
  let units = <u64>bytes;
  units = (units | (units << 16)) & 0x0000_ffff_0000_ffff;
  return (units | (units << 8)) & 0x00ff_00ff_00ff_00ff;
}

/** Four UTF-16 units below 0x80 packed back into four bytes. */
// @ts-ignore: decorator
@inline function narrow(units: u64): u32 {
  units = (units | (units >> 8)) & 0x0000_ffff_0000_ffff;
  return <u32>(units | (units >> 16));
}

/** The `len` UTF-8 bytes at `ptr` as a new string. */
export function decode(ptr: usize, len: i32): string {
  const text = __new(<usize>len << 1, idof<String>());
  let i: i32 = 0;
  for (; i + 8 <= len; i += 8) {
    const bytes = load<u64>(ptr + <usize>i);
    if ((bytes & ASCII_BYTES) != 0) break;
    const at = text + (<usize>i << 1);
    store<u64>(at, widen(<u32>bytes));
    store<u64>(at, widen(<u32>(bytes >>> 32)), 8);
  }
  for (; i < len; i++) {
    const byte = load<u8>(ptr + <usize>i);
    if (byte >= 0x80) break;
    store<u16>(text + (<usize>i << 1), byte);
  }
  if (i == len) return changetype<string>(text);
  // Not ASCII after all: the full decoder starts over. `text` was the last allocation, so it is given back.
  heap.free(text - OBJECT_OVERHEAD);
  return decodeReplacingInvalid(ptr, len);
}

/**
 * Decodes as Go reads a string rune by rune: each byte that does not start a complete, shortest-form sequence of a
 * Unicode scalar value becomes one U+FFFD. The standard library's decoder instead lets a bad lead byte take the
 * bytes after it, so text around an invalid byte would change or vanish (and a rule checked on it could be dodged).
 */
function decodeReplacingInvalid(ptr: usize, len: i32): string {
  // At most one UTF-16 unit per byte: only four-byte sequences make two units.
  const units = new Uint16Array(len);
  let n = 0;
  let i = 0;
  while (i < len) {
    const b0 = <u32>load<u8>(ptr + <usize>i);
    let cp: u32 = 0xfffd;
    let size = 1;
    if (b0 < 0x80) {
      cp = b0;
    } else if (b0 >= 0xc2 && b0 <= 0xf4) {
      const more = b0 < 0xe0 ? 1 : b0 < 0xf0 ? 2 : 3;
      // The second byte's range rules out overlong forms, surrogates and code points past U+10FFFF.
      const low: u32 = b0 == 0xe0 ? 0xa0 : b0 == 0xf0 ? 0x90 : 0x80;
      const high: u32 = b0 == 0xed ? 0x9f : b0 == 0xf4 ? 0x8f : 0xbf;
      const b1 = i + 1 < len ? <u32>load<u8>(ptr + <usize>i + 1) : 0;
      if (i + more < len && b1 >= low && b1 <= high) {
        let value = b0 & (0x3f >> more);
        let k = 1;
        for (; k <= more; k++) {
          const b = <u32>load<u8>(ptr + <usize>(i + k));
          if ((b & 0xc0) != 0x80) break;
          value = (value << 6) | (b & 0x3f);
        }
        if (k > more) {
          cp = value;
          size = more + 1;
        }
      }
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      units[n++] = <u16>(0xd800 | (cp >> 10));
      units[n++] = <u16>(0xdc00 | (cp & 0x3ff));
    } else {
      units[n++] = <u16>cp;
    }
    i += size;
  }
  return String.UTF16.decodeUnsafe(units.dataStart, <usize>n << 1);
}

/** Encodes `text` as UTF-8 at `buf` if it needs at most `limit` bytes; returns the byte count, or -1 (writing nothing). */
export function encodeInto(text: string, buf: usize, limit: i32): i32 {
  const units = changetype<usize>(text);
  const length = text.length;
  // A unit takes one to three bytes: text that surely fits is encoded in one pass, other text is measured first.
  if (length > limit || (length * 3 > limit && String.UTF8.byteLength(text) > limit)) return -1;
  let i: i32 = 0;
  while (i + 4 <= length) {
    const four = load<u64>(units + (<usize>i << 1));
    if ((four & ASCII_UNITS) != 0) break;
    store<u32>(buf + <usize>i, narrow(four));
    i += 4;
  }
  while (i < length) {
    const unit = <u32>load<u16>(units + (<usize>i << 1));
    if (unit >= 0x80) break;
    store<u8>(buf + <usize>i, unit);
    i++;
  }
  if (i == length) return length;
  // From the first non-ASCII unit on; a unit boundary there never splits a surrogate pair.
  return i + <i32>String.UTF8.encodeUnsafe(units + (<usize>i << 1), length - i, buf + <usize>i);
}
