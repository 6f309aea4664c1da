;; Stamps every response with "x-served-by: pillion". buffer_response is enabled once at start-up rather than per
;; request: it is what lets handle_response change headers, and asking for it on every request would time a
;; host call this guest does not need.
(module
  (import "http_handler" "enable_features" (func $enable_features (param i32) (result i32)))
  (import "http_handler" "set_header_value" (func $set_header_value (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "x-served-by")
  (data (i32.const 16) "pillion")
  (func (export "_initialize")
    ;; 2 = buffer_response
    (drop (call $enable_features (i32.const 2))))
  (func (export "handle_request") (result i64)
    (i64.const 1))
  (func (export "handle_response") (param $req_ctx i32) (param $is_error i32)
    ;; kind 1 = response headers
    (call $set_header_value (i32.const 1) (i32.const 0) (i32.const 11) (i32.const 16) (i32.const 7))))
