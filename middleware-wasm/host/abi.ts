// Numbers fixed by the http-wasm `http_handler` ABI (http-wasm.io, "HTTP Handler ABI").

export const HOST_MODULE = 'http_handler';

export const Feature = {
  bufferRequest: 1,
  bufferResponse: 2,
  trailers: 4,
} as const;

/** Trailers are left out: the front has no way to carry them, so guests must learn that at `enable_features`. */
export const SUPPORTED_FEATURES = Feature.bufferRequest | Feature.bufferResponse;

export const HeaderKind = {
  request: 0,
  response: 1,
  requestTrailers: 2,
  responseTrailers: 3,
} as const;

export const BodyKind = {
  request: 0,
  response: 1,
} as const;

export const GuestLogLevel = {
  debug: -1,
  info: 0,
  warn: 1,
  error: 2,
  none: 3,
} as const;
