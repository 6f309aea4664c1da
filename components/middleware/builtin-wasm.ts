// The built-in middleware under Dapr's type names, so existing pipeline YAML works. Each is an http-wasm guest
// written with the SDK (middleware-wasm/builtin/<folder>) and compiled by the build next to this module's output;
// its configuration is the component's metadata as a JSON object of strings.

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { WasmLoadError, WasmMiddleware } from '../../middleware-wasm/host/index.js';
import { createLogger } from '../../proxy/runtime/logger.js';
import { registerComponent } from '../registry.js';

const BUILTIN_GUESTS: readonly (readonly [type: string, folder: string])[] = [
  ['middleware.http.uppercase', 'uppercase'],
  ['middleware.http.routeralias', 'routeralias'],
  ['middleware.http.routerchecker', 'routerchecker'],
  ['middleware.http.ratelimit', 'ratelimit'],
  // Not a Dapr type: Dapr has no API-key middleware.
  ['middleware.http.apikey', 'apikey'],
];

/** Compiled guests, read once per process whatever the number of components using them. */
const guestBytes = new Map<string, Promise<Uint8Array>>();

function readBuiltinGuest(folder: string): Promise<Uint8Array> {
  let bytes = guestBytes.get(folder);
  if (bytes === undefined) {
    const path = fileURLToPath(new URL(`../../middleware-wasm/${folder}.wasm`, import.meta.url));
    bytes = readFile(path).catch((err: Error) => {
      guestBytes.delete(folder);
      throw new WasmLoadError(`built-in middleware "${folder}" is not built (${err.message}); run npm run build`, { cause: err });
    });
    guestBytes.set(folder, bytes);
  }
  return bytes;
}

for (const [type, folder] of BUILTIN_GUESTS) {
  registerComponent({
    type,
    versions: ['v1'],
    kind: 'middleware',
    async create(meta) {
      return WasmMiddleware.load(await readBuiltinGuest(folder), {
        name: meta.name,
        guestConfig: new TextEncoder().encode(JSON.stringify(meta.properties)),
        logger: createLogger(`${type}/${meta.name}`),
      });
    },
  });
}
