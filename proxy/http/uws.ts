import { createRequire } from 'node:module';
import type * as UwsModule from 'uWebSockets.js';

/**
 * Loads uWebSockets.js and refuses its pure-JS fallback: the package silently falls back to a Node.js
 * implementation when the native addon does not load, which would keep working but lose the point of the front.
 */
export function loadNativeUws(): typeof UwsModule {
  const require = createRequire(import.meta.url);
  const uws = require('uWebSockets.js') as typeof UwsModule;
  const resolved = Object.keys(require.cache).some((file) => /uws_[a-z0-9_]+\.node$/.test(file));
  if (!resolved || !String(uws.App).includes('[native code]')) {
    throw new Error(
      'uWebSockets.js native binary did not load (its pure-JS fallback was used); ' +
        `check that the installed build matches this Node.js (${process.version}, ABI ${process.versions.modules}, ${process.platform}-${process.arch})`,
    );
  }
  return uws;
}
