// How every built-in middleware is configured: the host hands the component's metadata to `get_config` as a
// JSON object of metadata name → string value, e.g. {"maxRequestsPerSecond": "10"}. Names match ignoring
// case, as everywhere else in component metadata.
//
// A middleware cannot refuse to load, so a bad configuration is logged once at start-up and every request
// is then answered 500 (see respond.ts): failing loudly beats silently letting traffic through unchecked.
import { getConfig, log, LogLevel } from "../../../assembly";
import { parseStringObject, StringObject } from "./json";

export class MiddlewareConfig {
  /** What is wrong with the configuration, or null when it is usable so far. */
  problem: string | null = null;

  constructor(readonly middleware: string, readonly metadata: StringObject) {}

  /** The value of metadata `name` (ignoring case), or null when absent. */
  get(name: string): string | null {
    return this.metadata.getIgnoreCase(name);
  }

  /** Records the first problem found and logs it; later requests are refused with it. */
  refuse(problem: string): void {
    if (this.problem != null) return;
    const message = this.middleware + ": " + problem;
    this.problem = message;
    log(LogLevel.Error, message + "; every request will be answered 500");
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
