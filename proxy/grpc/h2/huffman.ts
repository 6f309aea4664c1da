// HPACK's static Huffman code (RFC 7541 Appendix B). The code is canonical (codes are handed out in order of
// length, then of symbol), so the code length of each symbol defines it completely.

/** Code length in bits of each symbol 0..255, then of EOS (256). */
const CODE_LENGTHS: readonly number[] = [
  // 0-31: control characters
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  // 32-63: ' ' .. '?'
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  // 64-95: '@' .. '_'
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  // 96-127: '`' .. DEL
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  // 128-255
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  // EOS
  30,
];

const SYMBOLS = 257;
const EOS = 256;

/** Code of each symbol, right-aligned in `HUFFMAN_CODE_LENGTHS[symbol]` bits. */
export const HUFFMAN_CODES: Uint32Array = new Uint32Array(SYMBOLS);
export const HUFFMAN_CODE_LENGTHS: Uint8Array = Uint8Array.from(CODE_LENGTHS);

{
  const order = Array.from({ length: SYMBOLS }, (_, symbol) => symbol).sort(
    (a, b) => CODE_LENGTHS[a] - CODE_LENGTHS[b] || a - b,
  );
  let code = 0;
  let length = CODE_LENGTHS[order[0]];
  for (const symbol of order) {
    code *= 2 ** (CODE_LENGTHS[symbol] - length);
    length = CODE_LENGTHS[symbol];
    HUFFMAN_CODES[symbol] = code++;
  }
}

// The decoder walks the code tree four bits at a time. A state is an internal node of the tree (the root
// is 0); for each state and nibble the table holds the next state, the symbol completed on the way (a code
// is at least 5 bits long, so at most one per nibble) and whether the bits since the last symbol form valid
// padding: at most 7 bits, all ones (a prefix of EOS).
const NEXT_MASK = 0xff;
const SYMBOL_SHIFT = 8;
const EMITS = 1 << 17;
const FAILS = 1 << 18;
const ACCEPTS = 1 << 19;

const DECODE_TABLE = new Uint32Array(256 * 16);

{
  // Internal nodes hold child links: >= 0 is another internal node, < 0 is leaf -(symbol + 1).
  const children: number[][] = [[0, 0]];
  const depth: number[] = [0];
  const allOnes: boolean[] = [true];
  for (let symbol = 0; symbol < SYMBOLS; symbol++) {
    const length = CODE_LENGTHS[symbol];
    const code = HUFFMAN_CODES[symbol];
    let node = 0;
    for (let bit = length - 1; bit > 0; bit--) {
      const branch = (code >>> bit) & 1;
      let next = children[node][branch];
      if (next === 0) {
        next = children.length;
        children.push([0, 0]);
        depth.push(depth[node] + 1);
        allOnes.push(allOnes[node] && branch === 1);
        children[node][branch] = next;
      }
      node = next;
    }
    children[node][code & 1] = -(symbol + 1);
  }
  for (let state = 0; state < children.length; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let bit = 3; bit >= 0; bit--) {
        const next = children[node][(nibble >>> bit) & 1];
        if (next >= 0) {
          node = next;
          continue;
        }
        const symbol = -next - 1;
        if (symbol === EOS) {
          entry = FAILS;
          break;
        }
        entry = EMITS | (symbol << SYMBOL_SHIFT);
        node = 0;
      }
      if (entry !== FAILS) {
        entry |= node;
        if (allOnes[node] && depth[node] <= 7) entry |= ACCEPTS;
      }
      DECODE_TABLE[state * 16 + nibble] = entry;
    }
  }
}

let scratch = Buffer.allocUnsafe(256);

/** Decodes a Huffman-coded string; null when it is not a valid encoding (EOS inside, bad padding). */
export function decodeHuffman(src: Buffer, start: number, end: number): string | null {
  // The shortest code is 5 bits, so n input bytes yield at most 8n/5 symbols.
  const bound = ((end - start) * 8) / 5 + 1;
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(Math.max(bound, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let state = 0;
  let accepts = true;
  for (let i = start; i < end; i++) {
    const byte = src[i];
    let entry = DECODE_TABLE[state * 16 + (byte >>> 4)];
    if ((entry & FAILS) !== 0) return null;
    if ((entry & EMITS) !== 0) out[n++] = (entry >>> SYMBOL_SHIFT) & 0xff;
    entry = DECODE_TABLE[(entry & NEXT_MASK) * 16 + (byte & 0xf)];
    if ((entry & FAILS) !== 0) return null;
    if ((entry & EMITS) !== 0) out[n++] = (entry >>> SYMBOL_SHIFT) & 0xff;
    state = entry & NEXT_MASK;
    accepts = (entry & ACCEPTS) !== 0;
  }
  return accepts ? out.toString('latin1', 0, n) : null;
}
