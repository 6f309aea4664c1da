// Headers a middleware rewrote are guest data: they go out only if they cannot break the message framing.

import type { HeaderOverlay } from '../../middleware-wasm/host/index.js';
import { isRewrittenHeaderSafe } from '../http/header-safety.js';

/** Set by the sender from the body it sends, never taken from a middleware. */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection']);

/** The overlay's headers with every change applied, minus framing headers and any that could split the head. */
export function rewrittenHeaders(headers: HeaderOverlay): string[] {
  const flat = headers.toFlat();
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const value = flat[i + 1]!;
    if (!FRAMING.has(name) && isRewrittenHeaderSafe(name, value)) out.push(name, value);
  }
  return out;
}
