import type { ApiRequest } from './request.js';
import type { ApiReply } from './reply.js';

export type RouteHandler = (req: ApiRequest, reply: ApiReply) => void;

/** A pattern segment: a literal, a `:name` parameter (one segment) or a `*name` tail (the rest of the path, raw). */
type Segment = { kind: 'literal'; text: string } | { kind: 'param' } | { kind: 'tail' };

interface Route {
  methods: ReadonlySet<string> | null;
  segments: Segment[];
  /** Literal text every matching URL starts with; a cheap rejection before walking segments. */
  prefix: string;
  handler: RouteHandler;
}

export interface RouteMatch {
  handler: RouteHandler;
  params: string[];
}

/**
 * The API route table. Building blocks register their paths here; the HTTP front only asks `match`.
 * Routes are tried in registration order, so register specific paths before broad ones.
 */
export class Router {
  private readonly routes: Route[] = [];

  /** `methods` is a list of upper-case verbs, or '*' for any. Pattern e.g. `/v1.0/invoke/:appId/method/*path`. */
  add(methods: readonly string[] | '*', pattern: string, handler: RouteHandler): this {
    if (!pattern.startsWith('/')) throw new Error(`route pattern must start with '/': ${pattern}`);
    const segments: Segment[] = pattern
      .slice(1)
      .split('/')
      .map((part) => {
        if (part.startsWith(':')) return { kind: 'param' } as const;
        if (part.startsWith('*')) return { kind: 'tail' } as const;
        return { kind: 'literal', text: part } as const;
      });
    const tailAt = segments.findIndex((s) => s.kind === 'tail');
    if (tailAt !== -1 && tailAt !== segments.length - 1) throw new Error(`a tail segment must come last: ${pattern}`);
    let prefix = '';
    for (const s of segments) {
      if (s.kind !== 'literal') break;
      prefix += '/' + s.text;
    }
    this.routes.push({ methods: methods === '*' ? null : new Set(methods), segments, prefix, handler });
    return this;
  }

  match(method: string, url: string): RouteMatch | null {
    for (const route of this.routes) {
      if (!url.startsWith(route.prefix)) continue;
      if (route.methods !== null && !route.methods.has(method)) continue;
      const params = matchSegments(route.segments, url);
      if (params !== null) return { handler: route.handler, params };
    }
    return null;
  }
}

function matchSegments(segments: readonly Segment[], url: string): string[] | null {
  const params: string[] = [];
  let pos = 1; // past the leading '/'
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment.kind === 'tail') {
      params.push(url.slice(pos));
      return params;
    }
    if (pos > url.length) return null;
    let end = url.indexOf('/', pos);
    if (end === -1) end = url.length;
    const text = url.slice(pos, end);
    if (segment.kind === 'literal') {
      if (text !== segment.text) return null;
    } else {
      if (text.length === 0) return null;
      params.push(decodeSegment(text));
    }
    pos = end + 1;
  }
  return pos > url.length ? params : null;
}

function decodeSegment(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
