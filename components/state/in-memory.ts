// `state.in-memory`: a process-local state store with ETags, first-write concurrency, TTL, transactions and query.
// ETags are the decimal form of a per-store counter, so any other string cannot be one this store issued.

import { registerComponent } from '../registry.js';
import { compileQuery, type QueryRow } from './query-engine.js';
import {
  ETagInvalidError,
  ETagMismatchError,
  StateFeature,
  applyToEach,
  parseTtlSeconds,
  stateCapabilities,
  type BulkGetItem,
  type DeleteRequest,
  type GetRequest,
  type GetResponse,
  type QueryableStore,
  type QueryRequest,
  type QueryResponse,
  type SetRequest,
  type TransactionalRequest,
  type TransactionalStore,
} from './store.js';

interface Entry {
  data: Uint8Array;
  etag: string;
  /** Epoch ms; 0 for no expiry. */
  expiresAt: number;
  contentType: string | undefined;
}

const FEATURES: readonly StateFeature[] = Object.freeze([StateFeature.ETAG, StateFeature.TRANSACTIONAL, StateFeature.TTL, StateFeature.QUERY_API]);
const ISSUED_ETAG = /^\d+$/;
const DEFAULT_SWEEP_INTERVAL_MS = 1000;

const NOT_JSON = Symbol('not JSON');
const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(utf8.decode(data));
  } catch {
    return NOT_JSON;
  }
}

function hasETag(etag: string | undefined): etag is string {
  return etag !== undefined && etag !== '';
}

function expiryTime(expiresAt: number): string {
  return new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

interface Candidate extends QueryRow {
  entry: Entry;
}

export class InMemoryStore implements TransactionalStore, QueryableStore {
  private readonly entries = new Map<string, Entry>();
  /** Keys with a TTL, so the sweep never walks keys that cannot expire. */
  private readonly expiring = new Set<string>();
  private lastVersion = 0;
  // Expired keys are dropped on read; the sweep frees memory of keys nobody reads again.
  private readonly sweeper: NodeJS.Timeout;

  constructor(sweepIntervalMs = DEFAULT_SWEEP_INTERVAL_MS) {
    this.sweeper = setInterval(() => this.sweep(), sweepIntervalMs);
    this.sweeper.unref();
  }

  features(): readonly StateFeature[] {
    return FEATURES;
  }

  async get(req: GetRequest): Promise<GetResponse | null> {
    const entry = this.live(req.key);
    if (entry === undefined) return null;
    const response: GetResponse = { data: entry.data, etag: entry.etag };
    if (entry.expiresAt !== 0) response.metadata = { ttlExpireTime: expiryTime(entry.expiresAt) };
    if (entry.contentType !== undefined) response.contentType = entry.contentType;
    return response;
  }

  async query(req: QueryRequest): Promise<QueryResponse> {
    const compiled = compileQuery(req.query);
    const candidates: Candidate[] = [];
    for (const key of this.entries.keys()) {
      if (!key.startsWith(req.keyPrefix)) continue;
      const entry = this.live(key);
      if (entry === undefined) continue;
      const value = decodeJson(entry.data);
      if (value !== NOT_JSON) candidates.push({ key, value, entry });
    }
    const page = compiled.select(candidates);
    const response: QueryResponse = { results: page.results.map(({ key, entry }) => ({ key, data: entry.data, etag: entry.etag })) };
    if (page.token !== undefined) response.token = page.token;
    return response;
  }

  async set(req: SetRequest): Promise<void> {
    this.put(req.key, this.prepareSet(req, this.live(req.key)));
  }

  async delete(req: DeleteRequest): Promise<void> {
    this.checkETag(req.key, req.etag, this.live(req.key));
    this.remove(req.key);
  }

  async bulkGet(reqs: readonly GetRequest[]): Promise<BulkGetItem[]> {
    return reqs.map(({ key }) => {
      const entry = this.live(key);
      if (entry === undefined) return { key };
      const item: BulkGetItem = { key, data: entry.data, etag: entry.etag };
      if (entry.expiresAt !== 0) item.metadata = { ttlExpireTime: expiryTime(entry.expiresAt) };
      return item;
    });
  }

  async bulkSet(reqs: readonly SetRequest[]): Promise<void> {
    applyToEach(reqs, (req) => this.put(req.key, this.prepareSet(req, this.live(req.key))));
  }

  async bulkDelete(reqs: readonly DeleteRequest[]): Promise<void> {
    applyToEach(reqs, (req) => {
      this.checkETag(req.key, req.etag, this.live(req.key));
      this.remove(req.key);
    });
  }

  /** Every operation is checked against the state the earlier ones would leave; only then is anything written. */
  async multi(req: TransactionalRequest): Promise<void> {
    const staged = new Map<string, Entry | null>();
    for (const op of req.operations) {
      const { key } = op.request;
      const current = staged.has(key) ? (staged.get(key) ?? undefined) : this.live(key);
      if (op.operation === 'upsert') {
        staged.set(key, this.prepareSet(op.request, current));
      } else {
        this.checkETag(key, op.request.etag, current);
        staged.set(key, null);
      }
    }
    for (const [key, entry] of staged) {
      if (entry === null) this.remove(key);
      else this.put(key, entry);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
    this.expiring.clear();
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry !== undefined && entry.expiresAt !== 0 && entry.expiresAt <= Date.now()) {
      this.remove(key);
      return undefined;
    }
    return entry;
  }

  private checkETag(key: string, etag: string | undefined, current: Entry | undefined): void {
    if (!hasETag(etag)) return;
    if (!ISSUED_ETAG.test(etag)) throw new ETagInvalidError(key, etag);
    if (current === undefined) throw new ETagMismatchError(key, `key "${key}" does not exist`);
    if (current.etag !== etag) throw new ETagMismatchError(key, `etag "${etag}" does not match for key "${key}"`);
  }

  private prepareSet(req: SetRequest, current: Entry | undefined): Entry {
    this.checkETag(req.key, req.etag, current);
    if (!hasETag(req.etag) && req.options?.concurrency === 'first-write' && current !== undefined) {
      throw new ETagMismatchError(req.key, `key "${req.key}" already exists and first-write was requested without an etag`);
    }
    const ttlSeconds = parseTtlSeconds(req.metadata);
    return {
      data: new Uint8Array(req.value),
      etag: String(++this.lastVersion),
      expiresAt: ttlSeconds === undefined ? 0 : Date.now() + ttlSeconds * 1000,
      contentType: req.contentType,
    };
  }

  private put(key: string, entry: Entry): void {
    this.entries.set(key, entry);
    if (entry.expiresAt !== 0) this.expiring.add(key);
    else if (this.expiring.size > 0) this.expiring.delete(key);
  }

  private remove(key: string): void {
    this.entries.delete(key);
    if (this.expiring.size > 0) this.expiring.delete(key);
  }

  private sweep(): void {
    const now = Date.now();
    for (const key of this.expiring) {
      const entry = this.entries.get(key);
      if (entry === undefined || entry.expiresAt <= now) this.remove(key);
    }
  }

}

registerComponent({
  type: 'state.in-memory',
  versions: ['v1'],
  kind: 'state',
  create: () => new InMemoryStore(),
  capabilities: stateCapabilities,
});
