// The `middleware.http.wasm` component's metadata, read the way components-contrib reads it.

import { booleanProperty, integerProperty, stringProperty } from '../../components/metadata.js';
import type { ComponentMetadata } from '../../components/registry.js';
import type { WasmMiddlewareOptions } from './middleware.js';

export interface WasmMiddlewareSettings extends WasmMiddlewareOptions {
  /** file://, http:// or https:// location of the guest. */
  url: string;
}

export function wasmOptionsFromMetadata(meta: ComponentMetadata): WasmMiddlewareSettings {
  const url = stringProperty(meta, 'url', '');
  if (url === '') throw new Error('metadata "url" is required: the file://, http:// or https:// location of the wasm guest');
  const guestConfig = stringProperty(meta, 'guestConfig', '');
  const maxMemoryBytes = integerProperty(meta, 'maxMemoryBytes', 0, 0);
  return {
    url,
    name: meta.name,
    guestConfig: new TextEncoder().encode(guestConfig),
    strictSandbox: booleanProperty(meta, 'strictSandbox', false),
    ...(maxMemoryBytes > 0 ? { maxMemoryBytes } : {}),
  };
}
