// The timing metadata of a statement as daprd's PostgreSQL binding reports it: times in Go's RFC3339Nano (UTC) and
// the duration as Go's time.Duration prints it ("294µs", "1.5ms", "2m3.5s").

const NS_PER_US = 1_000n;
const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;

/** `whole.fraction`, the fraction `digits` long with trailing zeros removed (and no dot when nothing is left). */
function decimal(value: bigint, unit: bigint, digits: number): string {
  const fraction = (value % unit).toString().padStart(digits, '0').replace(/0+$/, '');
  return fraction === '' ? `${value / unit}` : `${value / unit}.${fraction}`;
}

export function goDuration(ns: bigint): string {
  if (ns < 0n) return `-${goDuration(-ns)}`;
  if (ns === 0n) return '0s';
  if (ns < NS_PER_US) return `${ns}ns`;
  if (ns < NS_PER_MS) return `${decimal(ns, NS_PER_US, 3)}µs`;
  if (ns < NS_PER_S) return `${decimal(ns, NS_PER_MS, 6)}ms`;
  const hours = ns / (3600n * NS_PER_S);
  const minutes = (ns / (60n * NS_PER_S)) % 60n;
  const seconds = `${decimal(ns % (60n * NS_PER_S), NS_PER_S, 9)}s`;
  if (hours > 0n) return `${hours}h${minutes}m${seconds}`;
  return minutes > 0n ? `${minutes}m${seconds}` : seconds;
}

/** Nanoseconds since the epoch as Go's RFC3339Nano in UTC: "2020-09-24T11:13:46.405097Z". */
export function rfc3339Nano(epochNs: bigint): string {
  const seconds = new Date(Number(epochNs / NS_PER_MS)).toISOString().slice(0, 19);
  const fraction = (epochNs % NS_PER_S).toString().padStart(9, '0').replace(/0+$/, '');
  return fraction === '' ? `${seconds}Z` : `${seconds}.${fraction}Z`;
}

/** Start and end on the wall clock, measured with the monotonic clock so that the duration is exact. */
export class StatementClock {
  private readonly startNs = BigInt(Date.now()) * NS_PER_MS;
  private readonly startMonotonic = process.hrtime.bigint();

  metadata(): Record<string, string> {
    const elapsed = process.hrtime.bigint() - this.startMonotonic;
    return { 'start-time': rfc3339Nano(this.startNs), 'end-time': rfc3339Nano(this.startNs + elapsed), duration: goDuration(elapsed) };
  }
}
