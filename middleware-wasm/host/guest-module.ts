// Compiling a guest and checking, before any request, that it is an http-wasm handler this host can run.

import { HOST_MODULE } from './abi.js';
import { HANDLER_FUNCTIONS } from './http-handler-imports.js';
import { WASI_MODULE } from './wasi.js';

/** A guest that cannot be used at all; load or reload fails with this and the previous module (if any) stays. */
export class WasmLoadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WasmLoadError';
  }
}

/** A module checked to be an http-wasm handler, with what the host learnt from its code. */
export interface CompiledGuest {
  readonly module: WebAssembly.Module;
  /**
   * False when the guest's `handle_response` does nothing (its body is empty), as in every SDK middleware that
   * registers no response handler. The host then does not call it, and a pipeline none of whose stages has one
   * sends the handler's answer on as it comes.
   */
  readonly handlesResponses: boolean;
}

const REQUIRED_EXPORTS: readonly [string, WebAssembly.ImportExportKind][] = [
  ['handle_request', 'function'],
  ['handle_response', 'function'],
  ['memory', 'memory'],
];
const HANDLER_NAMES: ReadonlySet<string> = new Set(HANDLER_FUNCTIONS);

export async function compileGuest(bytes: Uint8Array, name: string): Promise<CompiledGuest> {
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(bytes);
  } catch (err) {
    throw new WasmLoadError(`wasm middleware "${name}": not a valid WebAssembly module: ${(err as Error).message}`, { cause: err });
  }
  const exports = WebAssembly.Module.exports(module);
  for (const [exportName, kind] of REQUIRED_EXPORTS) {
    if (!exports.some((e) => e.name === exportName && e.kind === kind)) {
      throw new WasmLoadError(
        `wasm middleware "${name}": the guest does not export the ${kind} "${exportName}" that an http-wasm handler must export`,
      );
    }
  }
  const imports = WebAssembly.Module.imports(module);
  for (const entry of imports) {
    const known =
      (entry.module === HOST_MODULE && entry.kind === 'function' && HANDLER_NAMES.has(entry.name)) ||
      (entry.module === WASI_MODULE && entry.kind === 'function');
    if (!known) {
      throw new WasmLoadError(
        `wasm middleware "${name}": the guest imports ${entry.kind} "${entry.module}.${entry.name}", which this host does not provide`,
      );
    }
  }
  // Every import is a function (checked above), so defined functions are numbered from the import count on.
  return { module, handlesResponses: !exportedFunctionIsEmpty(bytes, 'handle_response', imports.length) };
}

// Binary format (WebAssembly core spec, section 5): a section is an id byte and a LEB128 size; the export section
// lists (name, kind, index), the code section one (size, locals, instructions) entry per defined function.
const EXPORT_SECTION = 7;
const CODE_SECTION = 10;
const FUNCTION_EXPORT = 0;
const END_OPCODE = 0x0b;
/** Value types followed by a heap type (function references, GC); every other value type is one byte. */
const REF_NULL_TYPE = 0x63;
const REF_TYPE = 0x64;
/** Where the sections begin, past the magic number and the version. */
const FIRST_SECTION = 8;

/**
 * Whether the exported function `name` is empty: past its local declarations, its body is only `end`. Only a
 * module the engine compiled is read; anything unexpected reads as "not empty", which is always safe.
 */
function exportedFunctionIsEmpty(bytes: Uint8Array, name: string, importedFunctions: number): boolean {
  const reader = new BinaryReader(bytes, FIRST_SECTION);
  let functionIndex = -1;
  try {
    while (!reader.atEnd()) {
      const id = reader.byte();
      const end = reader.u32() + reader.at;
      if (id === EXPORT_SECTION) functionIndex = reader.functionExport(name);
      else if (id === CODE_SECTION) return functionIndex >= importedFunctions && reader.bodyIsEmpty(functionIndex - importedFunctions);
      reader.at = end;
    }
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
  }
  return false;
}

class BinaryReader {
  private readonly text = new TextDecoder();

  constructor(
    private readonly bytes: Uint8Array,
    public at: number,
  ) {}

  atEnd(): boolean {
    return this.at >= this.bytes.length;
  }

  byte(): number {
    if (this.at >= this.bytes.length) throw new RangeError('unexpected end of module');
    return this.bytes[this.at++]!;
  }

  /** An unsigned LEB128 (a signed one is read the same way when only skipped). */
  u32(): number {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = this.byte();
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  }

  /** Moves past `length` bytes (`this.at += this.u32()` would add to the position from before the read). */
  private skip(length: number): void {
    this.at += length;
  }

  private name(): string {
    const length = this.u32();
    const start = this.at;
    this.skip(length);
    return this.text.decode(this.bytes.subarray(start, this.at));
  }

  /** In the export section: the index of function export `name`, or -1. */
  functionExport(name: string): number {
    for (let count = this.u32(); count > 0; count--) {
      const exportName = this.name();
      const kind = this.byte();
      const index = this.u32();
      if (kind === FUNCTION_EXPORT && exportName === name) return index;
    }
    return -1;
  }

  /** In the code section: whether body number `index` declares locals at most and then ends. */
  bodyIsEmpty(index: number): boolean {
    const count = this.u32();
    if (index >= count) return false;
    for (let i = 0; i < index; i++) this.skip(this.u32());
    const size = this.u32();
    const end = this.at + size;
    for (let groups = this.u32(); groups > 0; groups--) {
      this.u32();
      const type = this.byte();
      if (type === REF_NULL_TYPE || type === REF_TYPE) this.u32();
    }
    return this.at === end - 1 && this.byte() === END_OPCODE;
  }
}
