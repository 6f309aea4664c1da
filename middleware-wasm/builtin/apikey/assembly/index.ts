// A header-based API key check (no Dapr counterpart): a request passes only if header `headerName` (default
// "x-api-key") holds one of the comma-separated `keys`; otherwise it is answered 401 with a JSON error. The
// header is left in place for the next handler. Without any key configured the middleware does not start: an
// empty key list is a mistake, not a wish to refuse or to admit everyone.
import { onRequest, proceed, Request, Response } from "../../../assembly";
import { readConfig } from "../../shared/assembly/config";
import { respondJsonError } from "../../shared/assembly/respond";

export { handle_request, handle_response } from "../../../assembly";

const DEFAULT_HEADER = "x-api-key";

const config = readConfig("apikey");
const headerName = readHeaderName();
const keys = readKeys();

onRequest((request: Request, response: Response): i64 => {
  const presented = request.headers.get(headerName);
  if (presented != null && isKnownKey(String.UTF8.encode(presented))) return proceed();
  return respondJsonError(response, 401, "ERR_UNAUTHORIZED", "missing or invalid API key in header " + headerName);
});

/**
 * Compares with every key in full whatever the outcome, so the answer's timing tells nothing about how much
 * of a key was right.
 */
function isKnownKey(presented: ArrayBuffer): bool {
  const given = Uint8Array.wrap(presented);
  let found = false;
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k];
    let difference = given.length ^ key.length;
    for (let i = 0; i < key.length; i++) {
      difference |= <i32>key[i] ^ <i32>(i < given.length ? given[i] : 0);
    }
    found = found || difference == 0;
  }
  return found;
}

function readHeaderName(): string {
  const configured = config.get("headerName");
  if (configured == null) return DEFAULT_HEADER;
  const name = configured.trim();
  if (name.length == 0) config.refuse("headerName must not be empty");
  return name;
}

function readKeys(): Uint8Array[] {
  const keys = new Array<Uint8Array>(0);
  const configured = config.get("keys");
  if (configured != null) {
    const parts = configured.split(",");
    for (let i = 0; i < parts.length; i++) {
      const key = parts[i].trim();
      if (key.length > 0) keys.push(Uint8Array.wrap(String.UTF8.encode(key)));
    }
  }
  if (keys.length == 0) config.refuse("no API key is configured in metadata 'keys'");
  return keys;
}
