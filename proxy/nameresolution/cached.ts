// Keeps name resolution off the request path: answers are cached per app id, replicas are taken in turn, and
// concurrent misses for one app id share a single lookup.
import { LRUCache } from 'lru-cache';
import type { AppAddress, NameResolver, SelfRegistration } from './types.js';

export interface CachedResolverOptions {
  /** Most app ids kept. */
  max?: number;
  /** How long an answer is trusted; replicas that start later are seen after this. */
  ttlMs?: number;
}

interface CachedAnswer {
  readonly addresses: readonly AppAddress[];
  next: number;
}

export class CachedResolver implements NameResolver {
  readonly kind: string;
  private readonly cache: LRUCache<string, CachedAnswer>;
  private readonly inflight = new Map<string, Promise<CachedAnswer | undefined>>();

  constructor(
    private readonly inner: NameResolver,
    opts: CachedResolverOptions = {},
  ) {
    this.kind = inner.kind;
    this.cache = new LRUCache<string, CachedAnswer>({ max: opts.max ?? 1_000, ttl: opts.ttlMs ?? 10_000 });
  }

  /** Synchronous fast path: undefined when the app id has no cached answer. */
  lookupCached(appId: string, namespace: string): AppAddress | undefined {
    const answer = this.cache.get(cacheKey(appId, namespace));
    return answer === undefined ? undefined : takeTurn(answer);
  }

  resolve(appId: string, namespace: string): Promise<AppAddress | null> {
    const key = cacheKey(appId, namespace);
    const cached = this.cache.get(key);
    if (cached !== undefined) return Promise.resolve(takeTurn(cached));
    return this.lookup(key, appId, namespace).then((answer) => (answer === undefined ? null : takeTurn(answer)));
  }

  resolveAll(appId: string, namespace: string): Promise<readonly AppAddress[]> {
    const key = cacheKey(appId, namespace);
    const cached = this.cache.get(key);
    if (cached !== undefined) return Promise.resolve(cached.addresses);
    return this.lookup(key, appId, namespace).then((answer) => answer?.addresses ?? []);
  }

  /** Forgets the answer for an app id, e.g. after a connection to its address failed. */
  invalidate(appId: string, namespace: string): void {
    const key = cacheKey(appId, namespace);
    this.cache.delete(key);
    // A lookup already under way may return the address that just failed: let it finish but not be cached.
    this.inflight.delete(key);
  }

  register(self: SelfRegistration): Promise<void> {
    return this.inner.register(self);
  }

  close(): Promise<void> {
    this.cache.clear();
    this.inflight.clear();
    return this.inner.close();
  }

  private lookup(key: string, appId: string, namespace: string): Promise<CachedAnswer | undefined> {
    const pending = this.inflight.get(key);
    if (pending !== undefined) return pending;
    const started: Promise<CachedAnswer | undefined> = this.inner.resolveAll(appId, namespace).then(
      (addresses) => {
        const current = this.inflight.get(key) === started;
        if (current) this.inflight.delete(key);
        if (addresses.length === 0) return undefined;
        const answer: CachedAnswer = { addresses, next: 0 };
        if (current) this.cache.set(key, answer);
        return answer;
      },
      (err: unknown) => {
        if (this.inflight.get(key) === started) this.inflight.delete(key);
        throw err;
      },
    );
    this.inflight.set(key, started);
    return started;
  }
}

// Distinct app ids and namespaces never collide: neither can hold a NUL. The default namespace, by far the most
// common, costs no string building.
function cacheKey(appId: string, namespace: string): string {
  return namespace === '' || namespace === 'default' ? appId : `${appId}\u0000${namespace}`;
}

function takeTurn(answer: CachedAnswer): AppAddress {
  const { addresses } = answer;
  if (addresses.length === 1) return addresses[0];
  const address = addresses[answer.next];
  answer.next = (answer.next + 1) % addresses.length;
  return address;
}
