/** One API request, copied out of uWebSockets.js's stack-allocated request so handlers may finish asynchronously. */
export class ApiRequest {
  /** Route parameters in pattern order, set by the front after routing. */
  params: string[] = [];
  body: Buffer = EMPTY_BODY;

  constructor(
    /** Upper-case verb. */
    readonly method: string,
    /** Raw (still percent-encoded) path, with the leading '/'. */
    readonly url: string,
    /** Raw query string without '?', '' when absent. */
    readonly query: string,
    /** Flat [name, value, ...] with lower-case names, in arrival order; repeated headers stay repeated. */
    readonly headers: string[],
  ) {}

  header(lowerCaseName: string): string | undefined {
    const headers = this.headers;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === lowerCaseName) return headers[i + 1];
    }
    return undefined;
  }
}

export const EMPTY_BODY: Buffer = Buffer.alloc(0);
