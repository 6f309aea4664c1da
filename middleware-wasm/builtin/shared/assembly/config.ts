// How every built-in middleware is configured: the host hands the component's metadata to `get_config` as a
// JSON object of metadata name → string value, e.g. {"maxRequestsPerSecond": "10"}. Names match ignoring
// case, as everywhere else in component metadata.
//
// Configuration is read at the top level, during `_start`. A configuration a middleware cannot use stops it
// from starting, and with it the sidecar (as daprd stops when a component fails to initialise): running an
// API-key check without keys, or a rate limit at some other rate, would be worse than not running at all.
import { getConfig, log, LogLevel, refuseToStart } from "../../../assembly";
import { parseStringObject, StringObject } from "./json";

export class MiddlewareConfig {
  constructor(readonly middleware: string, readonly metadata: StringObject) {}

  /** The value of metadata `name` (ignoring case), or null when absent. */
  get(name: string): string | null {
    return this.metadata.getIgnoreCase(name);
  }

  /** Stops the middleware from starting because of `problem`, which the host reports. */
  refuse(problem: string): void {
    refuseToStart(this.middleware + ": " + problem);
  }

  warn(message: string): void {
    log(LogLevel.Warn, this.middleware + ": " + message);
  }
}

/** Reads the configuration given to the module; call at the top level, so it outlives every request. */
export function readConfig(middleware: string): MiddlewareConfig {
  const parsed = parseStringObject(getConfig());
  const config = new MiddlewareConfig(middleware, parsed.object);
  const error = parsed.error;
  if (error != null) config.refuse("the configuration is not a JSON object of strings: " + error);
  return config;
}
