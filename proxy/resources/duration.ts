// Go's time.ParseDuration, returning milliseconds: an optional sign, then one or more `<decimal><unit>` terms
// ("1h30m", "1.5s", "300ms"); a bare "0" is the only unitless form Go accepts.

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1e3,
  m: 6e4,
  h: 3.6e6,
};

// Longer units come first in the alternation so "ms" is not read as "m" followed by a stray "s".
const TERM = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

export function parseGoDuration(text: string): number {
  let i = 0;
  let sign = 1;
  if (text.startsWith('-') || text.startsWith('+')) {
    sign = text.startsWith('-') ? -1 : 1;
    i = 1;
  }
  if (text.length - i === 1 && text[i] === '0') return 0;
  if (i === text.length) throw new Error(`invalid duration "${text}"`);
  let totalMs = 0;
  while (i < text.length) {
    TERM.lastIndex = i;
    const term = TERM.exec(text);
    if (term === null) throw new Error(`invalid duration "${text}"`);
    totalMs += Number(term[1]) * UNIT_MS[term[2]!]!;
    i = TERM.lastIndex;
  }
  // Decimal fractions ("1.1s") are not exact in binary; Go's resolution is the nanosecond.
  const ms = Math.round(totalMs * 1e6) / 1e6;
  return ms === 0 ? 0 : sign * ms;
}
