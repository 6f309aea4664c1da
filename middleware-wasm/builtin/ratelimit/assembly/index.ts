// Dapr's middleware.http.ratelimit: at most `maxRequestsPerSecond` requests per second per client (default
// 100, fractions allowed), answering 429 with daprd's plain-text message beyond that. As in Dapr (tollbooth)
// the limit is a token bucket holding a burst of max(1, floor(rate)) requests, refilled at the rate.
//
// The client is the last X-Forwarded-For entry (the address the nearest proxy saw), else X-Real-IP, else the
// connection's address without its port. Those headers are what Dapr documents; like Dapr this trusts them,
// so the limit only holds against clients that cannot set them, i.e. behind a proxy that does.
//
// Needs `wasi_snapshot_preview1.clock_time_get` (see clock.ts).
import { onRequest, proceed, Request, Response } from "../../../assembly";
import { readConfig } from "../../shared/assembly/config";
import { indexOfChar, lastIndexOfChar } from "../../shared/assembly/chars";
import { isNumber } from "../../shared/assembly/json";
import { respondJsonError, respondText } from "../../shared/assembly/respond";
import { RateLimit } from "./buckets";
import { monotonicNanos } from "./clock";

export { handle_request, handle_response } from "../../../assembly";

const DEFAULT_REQUESTS_PER_SECOND: f64 = 100;

const config = readConfig("ratelimit");
const limit = readLimit();

onRequest((request: Request, response: Response): i64 => {
  const now = monotonicNanos();
  if (now < 0) return respondJsonError(response, 500, "ERR_MIDDLEWARE_CLOCK", "ratelimit: the host gives no monotonic clock");
  const key = String.UTF8.encode(clientKey(request));
  if (limit.admit(changetype<usize>(key), key.byteLength, now)) return proceed();
  return respondText(response, 429, "You have reached maximum request limit.");
});

function readLimit(): RateLimit {
  const configured = config.get("maxRequestsPerSecond");
  let rate = DEFAULT_REQUESTS_PER_SECOND;
  if (configured != null) {
    const text = configured.trim();
    rate = isNumber(text) ? parseFloat(text) : NaN;
    if (!(rate > 0) || !isFinite(rate)) {
      config.refuse("maxRequestsPerSecond must be a positive number, got \"" + configured + "\"");
    }
  }
  return new RateLimit(rate, max<i32>(1, <i32>Math.floor(rate)));
}

function clientKey(request: Request): string {
  const forwarded = request.headers.values("x-forwarded-for");
  if (forwarded.length > 0) {
    const last = forwarded[forwarded.length - 1];
    const entry = last.substring(lastIndexOfChar(last, 0x2c /* , */) + 1).trim();
    if (entry.length > 0) return entry;
  }
  const realIp = request.headers.get("x-real-ip");
  if (realIp != null) {
    const trimmed = realIp.trim();
    if (trimmed.length > 0) return trimmed;
  }
  const host = withoutPort(request.sourceAddr);
  // An empty key would match nothing in the table; every client the host cannot name shares one bucket.
  return host.length > 0 ? host : "unknown";
}

/** "1.2.3.4:5678" → "1.2.3.4", "[::1]:5678" → "::1"; anything else as given. */
function withoutPort(address: string): string {
  if (address.startsWith("[")) {
    const close = indexOfChar(address, 0x5d /* ] */);
    return close > 0 ? address.substring(1, close) : address;
  }
  const colon = lastIndexOfChar(address, 0x3a /* : */);
  return colon > 0 && indexOfChar(address, 0x3a) == colon ? address.substring(0, colon) : address;
}
