// Where guest bytes come from: Dapr's `url` metadata names a file:// or http(s):// location.

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { WasmLoadError } from './guest-module.js';
import { WasmMiddleware, type WasmMiddlewareOptions } from './middleware.js';

const FILE_SCHEME = 'file://';

/**
 * The file a file:// URL names. Dapr reads "file://router.wasm" as relative to the process's working directory
 * and "file:///opt/router.wasm" as absolute, which WHATWG URL parsing would not (it takes "router.wasm" for a host).
 */
export function guestFilePath(url: string): string | null {
  if (!url.startsWith(FILE_SCHEME)) return null;
  return resolve(decodeURIComponent(url.slice(FILE_SCHEME.length)));
}

export async function readGuestBytes(url: string): Promise<Uint8Array> {
  const path = guestFilePath(url);
  if (path !== null) {
    try {
      return await readFile(path);
    } catch (err) {
      throw new WasmLoadError(`wasm middleware url "${url}": ${(err as Error).message}`, { cause: err });
    }
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new WasmLoadError(`wasm middleware url "${url}" is not a URL; use file://, http:// or https://`);
  }
  switch (parsed.protocol) {
    case 'http:':
    case 'https:': {
      let response: Response;
      try {
        response = await fetch(parsed);
      } catch (err) {
        throw new WasmLoadError(`wasm middleware url "${url}": ${(err as Error).message}`, { cause: err });
      }
      if (!response.ok) throw new WasmLoadError(`wasm middleware url "${url}": HTTP ${response.status}`);
      return new Uint8Array(await response.arrayBuffer());
    }
    default:
      throw new WasmLoadError(`wasm middleware url "${url}": unsupported scheme "${parsed.protocol}"; use file://, http:// or https://`);
  }
}

export async function loadWasmMiddleware(url: string, options: WasmMiddlewareOptions = {}): Promise<WasmMiddleware> {
  return WasmMiddleware.load(await readGuestBytes(url), options);
}
