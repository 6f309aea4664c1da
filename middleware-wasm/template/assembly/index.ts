// Template middleware: routes a request by a header. If the request carries the header named by the
// configuration (default "x-tenant"), the URI is prefixed with "/tenants/<value>" and "x-tenant-routed: true"
// is set so the app can tell.
//
// Copy this folder to start a middleware. Build all middleware with `npm run build:middleware` (writes
// dist/middleware-wasm/<folder>.wasm), or one by hand from the project root:
//   npx asc --config middleware-wasm/template/asconfig.json --target release -o template.wasm
// The preset (middleware-wasm/asconfig.json) selects the stub runtime with a per-request arena, replaces
// `env.abort` so the module imports only `http_handler`, and exports the initialiser as `_start`.
//
// Rules of the SDK: register handlers at the top level (it runs once, in `_start`); values created there live
// for the module's lifetime, while those created in a handler are dropped when the next handler call begins;
// avoid `Math.random`, `Date` and `trace`, which import from `env` and are refused by the build.
//
// The handler shows both layers of the SDK. The request's own values are read into the scratch buffer and
// assembled there, without decoding them into strings or allocating; values too large for that buffer take
// the convenience layer, which handles any size. Passing strings to the host (`headers.set`, `uri = ...`)
// allocates nothing in either layer.
import {
  ABSENT, getConfig, HeaderKind, namedHeaderValueToScratch, onRequest, proceed, Request, Response, SCRATCH, SCRATCH_SIZE,
  setUriFrom, uriToScratch, writeUtf8,
} from "../../assembly";

// The entry file must export the ABI's guest functions.
export { handle_request, handle_response } from "../../assembly";

const configured = getConfig().trim();
const tenantHeader = configured.length > 0 ? configured : "x-tenant";
const prefix = "/tenants/";

onRequest((request: Request, response: Response): i64 => {
  // SCRATCH receives "/tenants/", then the header's value, then the URI: the new URI, ready to hand back.
  const prefixLen = writeUtf8(prefix, SCRATCH, SCRATCH_SIZE);
  const tenantLen = namedHeaderValueToScratch(HeaderKind.Request, tenantHeader, prefixLen);
  if (tenantLen == ABSENT) return proceed();
  const uriLen = tenantLen < 0 ? tenantLen : uriToScratch(prefixLen + tenantLen);
  if (uriLen >= 0) {
    setUriFrom(SCRATCH, prefixLen + tenantLen + uriLen);
  } else {
    request.uri = prefix + request.headers.get(tenantHeader)! + request.uri;
  }
  request.headers.set("x-tenant-routed", "true");
  return proceed();
});
