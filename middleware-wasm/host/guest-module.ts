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

const REQUIRED_EXPORTS: readonly [string, WebAssembly.ImportExportKind][] = [
  ['handle_request', 'function'],
  ['handle_response', 'function'],
  ['memory', 'memory'],
];
const HANDLER_NAMES: ReadonlySet<string> = new Set(HANDLER_FUNCTIONS);

export async function compileGuest(bytes: Uint8Array, name: string): Promise<WebAssembly.Module> {
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
  for (const entry of WebAssembly.Module.imports(module)) {
    const known =
      (entry.module === HOST_MODULE && entry.kind === 'function' && HANDLER_NAMES.has(entry.name)) ||
      (entry.module === WASI_MODULE && entry.kind === 'function');
    if (!known) {
      throw new WasmLoadError(
        `wasm middleware "${name}": the guest imports ${entry.kind} "${entry.module}.${entry.name}", which this host does not provide`,
      );
    }
  }
  return module;
}
