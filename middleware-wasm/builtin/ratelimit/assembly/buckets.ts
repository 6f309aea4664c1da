// Per-client rate state in a fixed table in static memory. It cannot live on the heap: the SDK drops what a
// handler allocates when the next call begins, so state that must outlast a request has to be set aside
// before the first one, and a fixed size also bounds memory however many clients appear.
//
// The limit is a token bucket kept as one number per client, its "theoretical arrival time" (GCRA): each
// admitted request pushes it `interval` further, and a request is refused while it lies more than
// (burst - 1) intervals ahead of now. A client whose time has passed is indistinguishable from a new one, so
// its slot may be reused; when every slot near a key's hash is busy, the one closest to idle is evicted,
// which can only make the limit more lenient for that client, never refuse anyone wrongly.

/** Longest client key kept; longer ones (odd forwarded-for values) are compared by their first bytes. */
const KEY_SIZE: i32 = 64;
const SLOTS: i32 = 4096;
/** How many slots from a key's hash it may occupy. */
const WINDOW: i32 = 8;

const keys: usize = memory.data(SLOTS * KEY_SIZE, 16);
const keyLengths: usize = memory.data(SLOTS * 4, 4);
const arrivals: usize = memory.data(SLOTS * 8, 8);

export class RateLimit {
  /** Nanoseconds between requests at the sustained rate. */
  readonly interval: i64;
  /** How far ahead of now a client's arrival time may be and still be admitted. */
  readonly tolerance: i64;

  constructor(requestsPerSecond: f64, burst: i32) {
    this.interval = max<i64>(1, <i64>Math.round(1e9 / requestsPerSecond));
    this.tolerance = <i64>(burst - 1) * this.interval;
  }

  /** Whether the client whose key is the UTF-8 bytes at ptr/len may make a request at `now` (ns); counts it. */
  admit(keyPtr: usize, keyLen: i32, now: i64): bool {
    const len = min(keyLen, KEY_SIZE);
    const slot = findSlot(keyPtr, len, now);
    const at = arrivals + (<usize>slot << 3);
    const arrival = max<i64>(load<i64>(at), now);
    if (arrival - now > this.tolerance) return false;
    store<i64>(at, arrival + this.interval);
    return true;
  }
}

/** The slot holding the key, or a reused one now holding it with no history. */
function findSlot(keyPtr: usize, len: i32, now: i64): i32 {
  const start = <i32>(hash(keyPtr, len) & <u32>(SLOTS - 1));
  let reusable: i32 = -1;
  let oldest: i32 = start;
  for (let probe = 0; probe < WINDOW; probe++) {
    const slot = (start + probe) & (SLOTS - 1);
    const slotLen = load<i32>(keyLengths + (<usize>slot << 2));
    if (slotLen > 0 && slotLen == len && memory.compare(keys + <usize>slot * KEY_SIZE, keyPtr, <usize>len) == 0) {
      return slot;
    }
    const arrival = load<i64>(arrivals + (<usize>slot << 3));
    if (reusable < 0 && (slotLen == 0 || arrival <= now)) reusable = slot;
    if (arrival < load<i64>(arrivals + (<usize>oldest << 3))) oldest = slot;
  }
  const slot = reusable >= 0 ? reusable : oldest;
  memory.copy(keys + <usize>slot * KEY_SIZE, keyPtr, <usize>len);
  store<i32>(keyLengths + (<usize>slot << 2), len);
  store<i64>(arrivals + (<usize>slot << 3), 0);
  return slot;
}

/** FNV-1a: cheap and good enough to spread addresses over the table. */
function hash(ptr: usize, len: i32): u32 {
  let h: u32 = 2166136261;
  for (let i = 0; i < len; i++) {
    h ^= <u32>load<u8>(ptr + <usize>i);
    h *= 16777619;
  }
  return h;
}
