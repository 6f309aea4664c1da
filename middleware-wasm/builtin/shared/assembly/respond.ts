// Answers written by a middleware instead of passing the request on. Each returns `finish()`, so a request
// handler can end with `return respondJsonError(...)`.
import { finish, Response } from "../../../assembly";
import { quoteJson } from "./json";

/** Answers `status` with a plain-text body, as Go's http.Error (and so Dapr's own middleware) does. */
export function respondText(response: Response, status: i32, text: string): i64 {
  response.statusCode = status;
  response.headers.set("content-type", "text/plain; charset=utf-8");
  response.body.writeText(text);
  return finish();
}

/** Answers `status` with Dapr's error shape: {"errorCode": "...", "message": "..."}. */
export function respondJsonError(response: Response, status: i32, errorCode: string, message: string): i64 {
  response.statusCode = status;
  response.headers.set("content-type", "application/json");
  response.body.writeText("{\"errorCode\":" + quoteJson(errorCode) + ",\"message\":" + quoteJson(message) + "}");
  return finish();
}
