// The request URI as middleware see it: the path and query still percent-encoded, as on the wire.
import { indexOfChar } from "./chars";
import { hexValue } from "./hex";
import { decodeUtf8 } from "../../../assembly";

/** Index of the '?' that starts the query, or the URI's length when there is none. */
export function queryStart(uri: string): i32 {
  const at = indexOfChar(uri, 0x3f /* ? */);
  return at < 0 ? uri.length : at;
}

/**
 * The path with its percent-escapes decoded as UTF-8 (Go's URL.Path, which Dapr's middleware match against),
 * or null when an escape is malformed: Go's server refuses such a request before any middleware sees it.
 */
export function decodePath(path: string): string | null {
  if (indexOfChar(path, 0x25 /* % */) < 0) return path;
  const encoded = String.UTF8.encode(path);
  const bytes = Uint8Array.wrap(encoded);
  const decoded = new Uint8Array(bytes.length);
  let size = 0;
  for (let i = 0; i < bytes.length; i++) {
    let b = <i32>bytes[i];
    if (b == 0x25 /* % */) {
      if (i + 2 >= bytes.length) return null;
      const high = hexValue(bytes[i + 1]);
      const low = hexValue(bytes[i + 2]);
      if (high < 0 || low < 0) return null;
      b = (high << 4) | low;
      i += 2;
    }
    decoded[size++] = <u8>b;
  }
  return decodeUtf8(decoded.dataStart, size);
}

/** `text` escaped for a query component as Go's url.QueryEscape does: space becomes '+'. */
export function queryEscape(text: string): string {
  const bytes = Uint8Array.wrap(String.UTF8.encode(text));
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const b = <i32>bytes[i];
    if (isUnreserved(b)) out += String.fromCharCode(b);
    else if (b == 0x20) out += "+";
    else out += "%" + HEX.charAt(b >> 4) + HEX.charAt(b & 15);
  }
  return out;
}

const HEX = "0123456789ABCDEF";

function isUnreserved(b: i32): bool {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ||
    b == 0x2d || b == 0x2e || b == 0x5f || b == 0x7e;
}
