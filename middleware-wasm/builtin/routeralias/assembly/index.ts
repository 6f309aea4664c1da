// Dapr's middleware.http.routeralias: rewrites requests for alias paths to their target paths, e.g. with
//   routes = {"/mall/activity/info": "/v1.0/invoke/srv.default/method/mall/activity/info"}
// a request for /mall/activity/info?id=123 continues as /v1.0/invoke/srv.default/method/mall/activity/info?id=123.
//
// Configuration: metadata `routes`, a JSON object of alias → target (Dapr also reads YAML there; this module
// reads JSON only and refuses anything else at start-up). Without `routes`, every metadata entry is an
// alias → target pair: Dapr's older, deprecated form.
//
// The alias is compared with the decoded path (without the query), as mux does; the first alias that matches,
// in configuration order, wins. Variables in the alias (`/hello/{id}/info`) are added to the query as
// `id=<value>`, after the request's own query, which is kept as it was sent. The target is used verbatim, so
// it must be written percent-encoded. Requests matching no alias pass unchanged.
import { onRequest, proceed, Request, Response } from "../../../assembly";
import { MiddlewareConfig, readConfig } from "../../shared/assembly/config";
import { parseStringObject, StringObject } from "../../shared/assembly/json";
import { decodePath, queryEscape, queryStart } from "../../shared/assembly/uri";
import { Route } from "./routes";

export { handle_request, handle_response } from "../../../assembly";

const config = readConfig("routeralias");
const routes = readRoutes(config);

onRequest((request: Request, response: Response): i64 => {
  if (routes.length == 0) return proceed();
  const uri = request.uri;
  const split = queryStart(uri);
  const path = decodePath(uri.substring(0, split));
  if (path == null) return proceed();
  const segments = path.split("/");
  for (let i = 0; i < routes.length; i++) {
    const bound = routes[i].match(segments);
    if (bound == null) continue;
    request.uri = rewritten(routes[i].target, split < uri.length - 1 ? uri.substring(split + 1) : "", bound);
    return proceed();
  }
  return proceed();
});

function rewritten(target: string, query: string, bound: string[]): string {
  let fullQuery = query;
  for (let i = 0; i < bound.length; i += 2) {
    if (fullQuery.length > 0) fullQuery += "&";
    fullQuery += queryEscape(bound[i]) + "=" + queryEscape(bound[i + 1]);
  }
  return fullQuery.length > 0 ? target + "?" + fullQuery : target;
}

function readRoutes(config: MiddlewareConfig): Route[] {
  const routes = new Array<Route>(0);
  const json = config.get("routes");
  let table: StringObject;
  if (json != null) {
    const parsed = parseStringObject(json);
    if (parsed.error != null) {
      config.refuse("routes must be a JSON object of alias path to target path: " + parsed.error!);
      return routes;
    }
    table = parsed.object;
  } else {
    table = config.metadata;
    if (table.size > 0) config.warn("listing routes as metadata entries is deprecated; use the 'routes' metadata");
  }
  for (let i = 0; i < table.size; i++) {
    const alias = table.names[i];
    const target = table.values[i];
    if (!alias.startsWith("/") || target.length == 0) {
      config.refuse("route " + alias + " -> " + target + ": the alias must be a path and the target not empty");
      return routes;
    }
    const route = new Route(alias, target);
    if (route.error != null) {
      config.refuse(route.error!);
      return routes;
    }
    routes.push(route);
  }
  return routes;
}
