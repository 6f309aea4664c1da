// Replacement for AssemblyScript's `env.abort` import (wired in with `--use abort=...abort/abortMiddleware`),
// so a middleware imports nothing but `http_handler`: hosts such as Dapr's provide no `env` module.
// It reports through the host log, then traps.
import * as abi from "./abi";
import { SCRATCH, SCRATCH_SIZE } from "./scratch";

// Each piece is cut to what surely fits, as UTF-8 needs at most 3 bytes per UTF-16 unit.
const PIECE_CHARS: i32 = SCRATCH_SIZE / 8 / 3;

export function abortMiddleware(message: string | null, fileName: string | null, line: u32, column: u32): void {
  // Built in the scratch buffer: the abort may stem from a failed allocation, so it must not allocate.
  let len = append(0, "abort: ");
  len = append(len, message != null ? message : "(no message)");
  len = append(len, " at ");
  len = append(len, fileName != null ? fileName : "?");
  len = appendNumber(append(len, ":"), line);
  len = appendNumber(append(len, ":"), column);
  abi.log(abi.LogLevel.Error, SCRATCH, len);
  unreachable();
}

function append(at: i32, text: string): i32 {
  // substring would allocate; encoding a prefix of the UTF-16 data needs no copy.
  const chars = min(text.length, PIECE_CHARS);
  const written = String.UTF8.encodeUnsafe(changetype<usize>(text), chars, SCRATCH + <usize>at);
  return at + <i32>written;
}

function appendNumber(at: i32, value: u32): i32 {
  let digits = 1;
  for (let rest = value / 10; rest > 0; rest /= 10) digits++;
  for (let i = digits - 1, rest = value; i >= 0; i--, rest /= 10) {
    store<u8>(SCRATCH + <usize>(at + i), <u8>(48 + rest % 10));
  }
  return at + digits;
}
