// The one import beyond http_handler: the http_handler ABI has no clock, and a rate needs one. WASI's
// clock_time_get is what Dapr's wasm host (wazero) and Pillion's host shim both provide; under a strict
// sandbox Pillion's shim advances the monotonic clock by 1 ms per read.

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "clock_time_get")
declare function clock_time_get(clockId: u32, precision: u64, time: usize): u16;

const MONOTONIC: u32 = 1;
const TIME: usize = memory.data(8, 8);

/** Nanoseconds on the host's monotonic clock, or -1 when the host cannot tell. */
export function monotonicNanos(): i64 {
  if (clock_time_get(MONOTONIC, 0, TIME) != 0) return -1;
  return load<i64>(TIME);
}
