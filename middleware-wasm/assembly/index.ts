// AssemblyScript SDK for http-wasm `http_handler` middleware, runnable in Pillion and in Dapr's
// middleware.http.wasm. Three layers: the raw host functions (import them from "./abi" of this folder), the
// zero-allocation scratch functions, and the Request/Response convenience API with handler registration.
// Build with the preset in middleware-wasm/asconfig.json (stub runtime, custom abort, exported `_start`).
import "./abort";

export { HeaderKind, BodyKind, Feature, LogLevel } from "./abi";
export * from "./scratch";
export * from "./http";
export * from "./handler";
export { decode as decodeUtf8 } from "./utf8";
