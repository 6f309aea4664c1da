// Per-request arena on top of AssemblyScript's `stub` runtime (a bump allocator that never frees).
//
// Everything allocated while the module initialises (in `_start`: configuration, lookup tables, the
// Request/Response objects) stays; everything a handler allocates is dropped when the next handler call
// begins. The stub only offers `heap.reset()`, which would also drop the initialisation state, so the arena
// remembers the heap top seen on the first handler call and rewinds to it. The stub frees a block only when
// it is the last one, reading its size from the block header; declaring one block that spans from the mark
// to the current top makes `heap.free` rewind the whole span.

// The trick depends on the stub's block layout; any other runtime has its own collector.
if (ASC_RUNTIME != 0) ERROR("the http-wasm SDK needs '--runtime stub' (see middleware-wasm/asconfig.json)");

// Block header of the stub runtime: the payload size, just before the payload.
const BLOCK_OVERHEAD: usize = sizeof<usize>();

let mark: usize = 0;

/**
 * Whether the object at `ptr` outlives every request: it lies in static data (string literals) or was allocated
 * while the module initialised. Before the first handler call nothing counts as permanent yet.
 */
// @ts-ignore: decorator
@inline export function isPermanent(ptr: usize): bool {
  return ptr < mark;
}

/** Starts a handler call: the first records the heap top, later ones discard what the previous call allocated. */
export function resetArena(): void {
  if (mark == 0) {
    mark = heap.alloc(0);
    return;
  }
  const top = heap.alloc(0);
  const end = top + load<usize>(top - BLOCK_OVERHEAD);
  store<usize>(mark - BLOCK_OVERHEAD, end - mark);
  heap.free(mark);
}
