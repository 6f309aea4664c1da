// Dapr's middleware.http.routerchecker: refuses requests whose URI does not match the regular expression in
// metadata `rule`, answering 400 "invalid router" as daprd does. Like daprd it matches the decoded path plus
// "?" and the raw query when there is one, e.g. `/v1.0/invoke/app/method/cat password?x=1`.
//
// The rule is compiled by regex.ts, which supports the subset of Go's syntax described there; a rule outside
// it stops the middleware from starting rather than being matched differently. Without
// a rule every request passes, as in Dapr, where the empty expression matches everything.
import { onRequest, proceed, Request, Response } from "../../../assembly";
import { readConfig } from "../../shared/assembly/config";
import { respondText } from "../../shared/assembly/respond";
import { decodePath, queryStart } from "../../shared/assembly/uri";
import { Regex } from "./regex";

export { handle_request, handle_response } from "../../../assembly";

const config = readConfig("routerchecker");
const configuredRule = config.get("rule");
const rule = new Regex(configuredRule != null ? configuredRule! : "");
if (rule.error != null) config.refuse("rule " + configuredRule! + ": " + rule.error!);
if (configuredRule == null) config.warn("no rule is configured: every request passes");

onRequest((request: Request, response: Response): i64 => {
  const uri = request.uri;
  const split = queryStart(uri);
  const path = decodePath(uri.substring(0, split));
  // Go's server refuses a path with a malformed escape with 400 before any middleware runs.
  if (path == null) return respondText(response, 400, "invalid router");
  const checked = split < uri.length - 1 ? path + uri.substring(split) : path;
  if (!rule.test(checked)) return respondText(response, 400, "invalid router");
  return proceed();
});
