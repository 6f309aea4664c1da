// WebAssembly text compiled for the wasm tests, from strings or from the fixtures under test/fixtures/wasm.

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import createWabt from 'wabt';

/** test/fixtures/wasm in the source tree, found through the source map: the compiled tests live elsewhere. */
const FIXTURES = ((): string => {
  const compiled = fileURLToPath(import.meta.url);
  const map = JSON.parse(readFileSync(`${compiled}.map`, 'utf8')) as { sources: string[] };
  return join(dirname(resolve(dirname(compiled), map.sources[0]!)), '..', 'fixtures', 'wasm');
})();

type Wabt = Awaited<ReturnType<typeof createWabt>>;

/** Compiles synchronously once wabt is loaded (see `watCompiler`). */
export class WatCompiler {
  constructor(private readonly wabt: Wabt) {}

  compile(text: string, name = 'inline.wat'): Uint8Array {
    const module = this.wabt.parseWat(name, text);
    try {
      return module.toBinary({}).buffer;
    } finally {
      module.destroy();
    }
  }

  /**
   * A fixture under test/fixtures/wasm (e.g. "stamp.wat" or "pipeline/chain.wat"); each `replace` key is
   * substituted in the text first, to build variants of one guest.
   */
  fixture(name: string, replace: Readonly<Record<string, string>> = {}): Uint8Array {
    let text = readFileSync(join(FIXTURES, name), 'utf8');
    for (const [from, to] of Object.entries(replace)) text = text.replaceAll(from, to);
    return this.compile(text, name);
  }
}

let compiler: Promise<WatCompiler> | null = null;

/** The compiler, loading wabt on first use. */
export function watCompiler(): Promise<WatCompiler> {
  return (compiler ??= createWabt().then((wabt) => new WatCompiler(wabt)));
}
