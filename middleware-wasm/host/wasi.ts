// A minimal WASI preview1 for guests built by TinyGo (or any libc) that only need a process shell: output goes to
// the log, clocks and randomness come from the host (or fixed ones under strictSandbox), and there is no file
// system, so every other call answers ENOSYS (or EBADF for file descriptors).

import { randomFillSync } from 'node:crypto';
import type { Logger } from '../../proxy/runtime/logger.js';
import type { GuestMemory } from './guest-memory.js';

export const WASI_MODULE = 'wasi_snapshot_preview1';

const Errno = { success: 0, badf: 8, inval: 28, nosys: 52, spipe: 70 } as const;
const Clock = { realtime: 0, monotonic: 1, processCputime: 2, threadCputime: 3 } as const;
const FILETYPE_CHARACTER_DEVICE = 2;
/** The wall clock a strict sandbox shows: 2022-01-01T00:00:00Z, in seconds. */
const SANDBOX_EPOCH_SECONDS = 1_640_995_200;
/** Each read of a strict sandbox's monotonic clock advances it by a millisecond, so loops that wait still progress. */
const NANOS_PER_MILLI = 1_000_000;
const CLOCK_RESOLUTION_NS = 1000;
const SANDBOX_RANDOM_SEED = 0x9e3779b9;

/** Thrown by `proc_exit` to unwind the guest; `_start` ending with code 0 is how TinyGo guests finish main. */
export class ProcExit extends Error {
  constructor(readonly code: number) {
    super(`guest called proc_exit(${code})`);
    this.name = 'ProcExit';
  }
}

export interface WasiHost {
  readonly memory: GuestMemory;
  readonly logger: Logger;
  readonly strictSandbox: boolean;
}

/** What a guest writes to stdout/stderr, logged line by line; a line without its newline yet waits for `flush`. */
export class WasiOutput {
  private readonly pending = ['', '', ''];
  // Flushing runs after every call into the guest; this keeps it to one test when nothing was written.
  private anyPending = false;

  constructor(private readonly host: WasiHost) {}

  write(fd: 1 | 2, text: string): void {
    const lines = (this.pending[fd]! + text).split('\n');
    const rest = lines.pop()!;
    this.pending[fd] = rest;
    if (rest.length > 0) this.anyPending = true;
    for (const line of lines) this.emit(fd, line);
  }

  /** Emits what is left after a call into the guest: output is not held across calls. */
  flush(): void {
    if (!this.anyPending) return;
    this.anyPending = false;
    for (const fd of [1, 2] as const) {
      if (this.pending[fd]!.length > 0) this.emit(fd, this.pending[fd]!);
      this.pending[fd] = '';
    }
  }

  private emit(fd: 1 | 2, line: string): void {
    if (fd === 2) this.host.logger.warn(line);
    else this.host.logger.info(line);
  }
}

export function wasiImports(
  module: WebAssembly.Module,
  host: WasiHost,
): { imports: Record<string, (...args: never[]) => number | void>; output: WasiOutput } {
  const output = new WasiOutput(host);
  let sandboxMillis = 0;
  let randomState = SANDBOX_RANDOM_SEED;
  /** Writes clock `clockId`'s time at `ptr`; false for a clock WASI does not define. */
  const writeTime = (clockId: number, ptr: number): boolean => {
    // An i32 from the guest: ids from 2^31 up arrive negative, and are as undefined as any above threadCputime.
    if (clockId >>> 0 > Clock.threadCputime) return false;
    const memory = host.memory;
    if (host.strictSandbox) {
      if (clockId === Clock.realtime) {
        memory.setNanoseconds(ptr, SANDBOX_EPOCH_SECONDS, 0);
      } else {
        sandboxMillis++;
        memory.setNanoseconds(ptr, Math.floor(sandboxMillis / 1000), (sandboxMillis % 1000) * NANOS_PER_MILLI);
      }
    } else if (clockId === Clock.realtime) {
      const millis = Date.now();
      memory.setNanoseconds(ptr, Math.floor(millis / 1000), (millis % 1000) * NANOS_PER_MILLI);
    } else {
      const [seconds, nanos] = process.hrtime();
      memory.setNanoseconds(ptr, seconds, nanos);
    }
    return true;
  };

  const implemented: Record<string, (...args: never[]) => number | void> = {
    fd_write(fd: number, iovs: number, iovsLen: number, nwritten: number): number {
      if (fd !== 1 && fd !== 2) return Errno.badf;
      const memory = host.memory;
      let written = 0;
      let text = '';
      for (let i = 0; i < iovsLen; i++) {
        const ptr = memory.u32(iovs + i * 8);
        const len = memory.u32(iovs + i * 8 + 4);
        text += memory.readString(ptr, len, 'iovec');
        written += len;
      }
      output.write(fd, text);
      memory.setU32(nwritten, written);
      return Errno.success;
    },
    fd_read(fd: number, _iovs: number, _iovsLen: number, nread: number): number {
      if (fd !== 0) return Errno.badf;
      host.memory.setU32(nread, 0); // stdin is always at its end
      return Errno.success;
    },
    fd_close: (): number => Errno.badf,
    fd_seek: (fd: number): number => (fd <= 2 ? Errno.spipe : Errno.badf),
    fd_fdstat_get(fd: number, stat: number): number {
      if (fd > 2) return Errno.badf;
      const view = host.memory.checkRange(stat >>> 0, 24, 'fdstat');
      view.fill(0, stat >>> 0, (stat >>> 0) + 24);
      view[stat >>> 0] = FILETYPE_CHARACTER_DEVICE;
      return Errno.success;
    },
    // No preopened directories: libc's scan for them stops at the first EBADF.
    fd_prestat_get: (): number => Errno.badf,
    fd_prestat_dir_name: (): number => Errno.badf,
    clock_time_get(clockId: number, _precision: bigint, time: number): number {
      return writeTime(clockId, time) ? Errno.success : Errno.inval;
    },
    clock_res_get(clockId: number, resolution: number): number {
      if (clockId >>> 0 > Clock.threadCputime) return Errno.inval;
      host.memory.setNanoseconds(resolution, 0, CLOCK_RESOLUTION_NS);
      return Errno.success;
    },
    random_get(buf: number, len: number): number {
      const view = host.memory.checkRange(buf >>> 0, len >>> 0, 'random buffer');
      const target = view.subarray(buf >>> 0, (buf >>> 0) + (len >>> 0));
      if (!host.strictSandbox) {
        randomFillSync(target);
        return Errno.success;
      }
      // xorshift32 from a fixed seed: the same bytes on every run, which is the point of a strict sandbox.
      for (let i = 0; i < target.length; i++) {
        randomState ^= randomState << 13;
        randomState ^= randomState >>> 17;
        randomState ^= randomState << 5;
        target[i] = randomState & 0xff;
      }
      return Errno.success;
    },
    args_sizes_get: (argc: number, argvBufSize: number): number => zeroPair(host.memory, argc, argvBufSize),
    args_get: (): number => Errno.success,
    environ_sizes_get: (count: number, bufSize: number): number => zeroPair(host.memory, count, bufSize),
    environ_get: (): number => Errno.success,
    proc_exit(code: number): void {
      throw new ProcExit(code);
    },
    sched_yield: (): number => Errno.success,
  };

  const imports: Record<string, (...args: never[]) => number | void> = {};
  for (const entry of WebAssembly.Module.imports(module)) {
    if (entry.module !== WASI_MODULE || entry.kind !== 'function') continue;
    imports[entry.name] = implemented[entry.name] ?? notImplemented;
  }
  return { imports, output };
}

function zeroPair(memory: GuestMemory, first: number, second: number): number {
  memory.setU32(first, 0);
  memory.setU32(second, 0);
  return Errno.success;
}

function notImplemented(): number {
  return Errno.nosys;
}
