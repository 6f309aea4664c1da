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

  /** `metadata.<key>=<value>` query parameters: Dapr's way of passing component metadata. */
  queryMetadata(): Record<string, string> {
    const metadata: Record<string, string> = {};
    if (this.query.length === 0) return metadata;
    for (const [key, value] of new URLSearchParams(this.query)) {
      if (key.startsWith('metadata.')) metadata[key.slice('metadata.'.length)] = value;
    }
    return metadata;
  }

  queryParam(name: string): string | undefined {
    if (this.query.length === 0) return undefined;
    return new URLSearchParams(this.query).get(name) ?? undefined;
  }
}

export const EMPTY_BODY: Buffer = Buffer.alloc(0);
