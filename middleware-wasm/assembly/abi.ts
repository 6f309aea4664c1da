// Raw http-wasm `http_handler` host functions, exactly as the ABI specifies them
// (https://http-wasm.io/http-handler-abi/). Strings are UTF-8 (pointer, length) pairs in linear memory.
// AssemblyScript imports only the functions a module actually calls, so a middleware that never touches,
// say, `get_source_addr` also runs on hosts that predate it.

/** Header kinds: the first parameter of the header functions. Trailers need `Feature.Trailers`. */
export namespace HeaderKind {
  export const Request: i32 = 0;
  export const Response: i32 = 1;
  export const RequestTrailers: i32 = 2;
  export const ResponseTrailers: i32 = 3;
}

/** Body kinds: the first parameter of `read_body` / `write_body`. */
export namespace BodyKind {
  export const Request: i32 = 0;
  export const Response: i32 = 1;
}

/** Feature bit flags for `enable_features`. */
export namespace Feature {
  export const BufferRequest: i32 = 1;
  export const BufferResponse: i32 = 2;
  export const Trailers: i32 = 4;
}

/** Log levels: the lower, the more detail. Debug is -1 so nobody defaults to it by accident. */
export namespace LogLevel {
  export const Debug: i32 = -1;
  export const Info: i32 = 0;
  export const Warn: i32 = 1;
  export const Error: i32 = 2;
  export const None: i32 = 3;
}

// Results of get_header_names / get_header_values pack `count << 32 | len`; read_body packs `eof << 32 | len`.
// @ts-ignore: decorator
@inline export function upper32(packed: i64): i32 {
  return <i32>(packed >>> 32);
}

// @ts-ignore: decorator
@inline export function lower32(packed: i64): i32 {
  return <i32>packed;
}

// @ts-ignore: decorator
@external("http_handler", "enable_features")
export declare function enable_features(features: i32): i32;

// @ts-ignore: decorator
@external("http_handler", "get_config")
export declare function get_config(buf: usize, buf_limit: i32): i32;

// @ts-ignore: decorator
@external("http_handler", "log")
export declare function log(level: i32, message: usize, message_len: i32): void;

// @ts-ignore: decorator
@external("http_handler", "log_enabled")
export declare function log_enabled(level: i32): i32;

// @ts-ignore: decorator
@external("http_handler", "get_header_names")
export declare function get_header_names(kind: i32, buf: usize, buf_limit: i32): i64;

// @ts-ignore: decorator
@external("http_handler", "get_header_values")
export declare function get_header_values(kind: i32, name: usize, name_len: i32, buf: usize, buf_limit: i32): i64;

// @ts-ignore: decorator
@external("http_handler", "set_header_value")
export declare function set_header_value(kind: i32, name: usize, name_len: i32, value: usize, value_len: i32): void;

// @ts-ignore: decorator
@external("http_handler", "add_header_value")
export declare function add_header_value(kind: i32, name: usize, name_len: i32, value: usize, value_len: i32): void;

// @ts-ignore: decorator
@external("http_handler", "remove_header")
export declare function remove_header(kind: i32, name: usize, name_len: i32): void;

// @ts-ignore: decorator
@external("http_handler", "read_body")
export declare function read_body(kind: i32, buf: usize, buf_limit: i32): i64;

// @ts-ignore: decorator
@external("http_handler", "write_body")
export declare function write_body(kind: i32, body: usize, body_len: i32): void;

// @ts-ignore: decorator
@external("http_handler", "get_method")
export declare function get_method(buf: usize, buf_limit: i32): i32;

// @ts-ignore: decorator
@external("http_handler", "set_method")
export declare function set_method(method: usize, method_len: i32): void;

// @ts-ignore: decorator
@external("http_handler", "get_uri")
export declare function get_uri(buf: usize, buf_limit: i32): i32;

// @ts-ignore: decorator
@external("http_handler", "set_uri")
export declare function set_uri(uri: usize, uri_len: i32): void;

// @ts-ignore: decorator
@external("http_handler", "get_protocol_version")
export declare function get_protocol_version(buf: usize, buf_limit: i32): i32;

// @ts-ignore: decorator
@external("http_handler", "get_source_addr")
export declare function get_source_addr(buf: usize, buf_limit: i32): i32;

// @ts-ignore: decorator
@external("http_handler", "get_status_code")
export declare function get_status_code(): i32;

// @ts-ignore: decorator
@external("http_handler", "set_status_code")
export declare function set_status_code(status_code: i32): void;
