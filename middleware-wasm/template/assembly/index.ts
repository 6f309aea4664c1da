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
import { getConfig, onRequest, proceed, Request, Response } from "../../assembly";

// The entry file must export the ABI's guest functions.
export { handle_request, handle_response } from "../../assembly";

const configured = getConfig().trim();
const tenantHeader = configured.length > 0 ? configured : "x-tenant";

onRequest((request: Request, response: Response): i64 => {
  const tenant = request.headers.get(tenantHeader);
  if (tenant != null) {
    request.uri = "/tenants/" + tenant + request.uri;
    request.headers.set("x-tenant-routed", "true");
  }
  return proceed();
});
