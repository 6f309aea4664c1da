/**
 * Microseconds on the machine's monotonic clock. process.hrtime reads CLOCK_MONOTONIC on Linux, a single clock
 * for every process of the machine, so a time taken in one process may be subtracted from a time taken in another
 * (a message's send in the load generator from its receipt in an app) with no wall-clock step in between.
 */
export function machineClockMicros(): number {
  return Number(process.hrtime.bigint()) / 1000;
}
