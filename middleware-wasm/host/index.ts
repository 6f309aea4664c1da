// The http-wasm `http_handler` host: what the HTTP front needs to run wasm middleware.

export { Feature, HeaderKind, BodyKind, GuestLogLevel, SUPPORTED_FEATURES } from './abi.js';
export { WasmGuestError } from './errors.js';
export { MemoryExchange, NO_EXCHANGE, type HttpExchange, type MemoryExchangeInit } from './exchange.js';
export { HeaderOverlay, type HeaderFields } from './headers.js';
export { WasmLoadError } from './guest-module.js';
export { WasmMiddleware, type WasmMiddlewareOptions } from './middleware.js';
export { wasmOptionsFromMetadata, type WasmMiddlewareSettings } from './metadata.js';
export type { GuestRequest } from './request.js';
export { loadWasmMiddleware, readGuestBytes } from './source.js';
export { watchGuestFile, type GuestWatcher } from './watch.js';
