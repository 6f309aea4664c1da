// The state store contract, after components-contrib's state.Store: keys map to opaque bytes with an ETag;
// optional features (transactions, TTL, query) are advertised through features().

declare module '../registry.js' {
  interface ComponentKinds {
    state: Store;
  }
}

export const StateFeature = {
  ETAG: 'ETAG',
  TRANSACTIONAL: 'TRANSACTIONAL',
  TTL: 'TTL',
  QUERY_API: 'QUERY_API',
  ACTOR: 'ACTOR',
} as const;
export type StateFeature = (typeof StateFeature)[keyof typeof StateFeature];

export type Concurrency = 'first-write' | 'last-write';
export type Consistency = 'eventual' | 'strong';

export interface StateOptions {
  /** last-write (default): unconditional without an ETag. first-write: a write without an ETag must create the key. */
  concurrency?: Concurrency;
  consistency?: Consistency;
}

/** Request metadata (`metadata.*` query parameters, `ttlInSeconds`, `contentType`, ...). */
export type StateMetadata = Readonly<Record<string, string>>;

export interface GetRequest {
  key: string;
  metadata?: StateMetadata;
  options?: { consistency?: Consistency };
}

export interface GetResponse {
  /** The stored bytes; owned by the store, callers must not modify them. */
  data: Uint8Array;
  etag?: string;
  /** Response metadata, e.g. `ttlExpireTime`. */
  metadata?: StateMetadata;
  contentType?: string;
}

export interface SetRequest {
  key: string;
  /** Copied by the store if it keeps it beyond the call; the caller may reuse the buffer. */
  value: Uint8Array;
  /** Required to match the stored ETag when given and non-empty. */
  etag?: string;
  metadata?: StateMetadata;
  options?: StateOptions;
  contentType?: string;
}

export interface DeleteRequest {
  key: string;
  etag?: string;
  metadata?: StateMetadata;
  options?: StateOptions;
}

/** One answer of bulkGet, in request order; an absent key has only `key`. */
export interface BulkGetItem {
  key: string;
  data?: Uint8Array;
  etag?: string;
  metadata?: StateMetadata;
  error?: string;
}

export type TransactionalOperation =
  | { operation: 'upsert'; request: SetRequest }
  | { operation: 'delete'; request: DeleteRequest };

export interface TransactionalRequest {
  operations: readonly TransactionalOperation[];
  metadata?: StateMetadata;
}

export interface Store {
  features(): readonly StateFeature[];
  /** null when the key does not exist (or has expired). */
  get(req: GetRequest): Promise<GetResponse | null>;
  set(req: SetRequest): Promise<void>;
  delete(req: DeleteRequest): Promise<void>;
  bulkGet(reqs: readonly GetRequest[], options?: { parallelism?: number }): Promise<BulkGetItem[]>;
  /** Not atomic: every request is attempted; failures are reported together as an AggregateError. */
  bulkSet(reqs: readonly SetRequest[]): Promise<void>;
  bulkDelete(reqs: readonly DeleteRequest[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * The state query language (`/v1.0-alpha1/state/{store}/query`). Keys of EQ/IN and sort are dotted paths into the
 * JSON value, e.g. `person.org`; values compare as JSON values.
 */
export type QueryFilter =
  | { EQ: Record<string, unknown> }
  | { IN: Record<string, unknown[]> }
  | { AND: QueryFilter[] }
  | { OR: QueryFilter[] };

export interface QuerySort {
  key: string;
  order?: 'ASC' | 'DESC';
}

export interface StateQuery {
  filter?: QueryFilter;
  sort?: QuerySort[];
  page?: { limit?: number; token?: string };
}

export interface QueryRequest {
  query: StateQuery;
  /** Only keys starting with this prefix take part (the runtime's key prefix, e.g. `myapp||`); '' for all. */
  keyPrefix: string;
  metadata?: StateMetadata;
}

export interface QueryItem {
  /** The stored key, prefix included; the runtime strips it. */
  key: string;
  data: Uint8Array;
  etag?: string;
  error?: string;
}

export interface QueryResponse {
  results: QueryItem[];
  /** Continuation token for the next page; absent on the last page. */
  token?: string;
  metadata?: StateMetadata;
}

/** A store advertising QUERY_API. */
export interface QueryableStore extends Store {
  query(req: QueryRequest): Promise<QueryResponse>;
}

export function isQueryable(store: Store): store is QueryableStore {
  return store.features().includes(StateFeature.QUERY_API) && typeof (store as Partial<QueryableStore>).query === 'function';
}

/** A store advertising TRANSACTIONAL: all operations apply, or none does. */
export interface TransactionalStore extends Store {
  multi(req: TransactionalRequest): Promise<void>;
}

export function isTransactional(store: Store): store is TransactionalStore {
  return store.features().includes(StateFeature.TRANSACTIONAL) && typeof (store as Partial<TransactionalStore>).multi === 'function';
}

/** What bulkSet/bulkDelete throw once every item was attempted: the failures, together. */
export function throwBulkFailures(failures: readonly unknown[], total: number): void {
  if (failures.length > 0) throw new AggregateError(failures, `${failures.length} of ${total} bulk operations failed`);
}

/** Attempts `apply` for every request in order, then reports the failures together (for synchronous stores). */
export function applyToEach<R>(reqs: readonly R[], apply: (req: R) => void): void {
  const failures: unknown[] = [];
  for (const req of reqs) {
    try {
      apply(req);
    } catch (err) {
      failures.push(err);
    }
  }
  throwBulkFailures(failures, reqs.length);
}

/** The ETag given does not match the stored one (or the key is absent, or first-write found the key): HTTP 409. */
export class ETagMismatchError extends Error {
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(`possible etag mismatch. error from state store: ${detail}`);
    this.name = 'ETagMismatchError';
  }
}

/** The ETag given is not one this store could have issued: HTTP 400. */
export class ETagInvalidError extends Error {
  constructor(
    readonly key: string,
    readonly etag: string,
  ) {
    super(`invalid etag value: "${etag}" for key "${key}"`);
    this.name = 'ETagInvalidError';
  }
}

/**
 * Capabilities for the metadata API: the store's features, plus ACTOR when it has both ETags and transactions,
 * which is what daprd requires of an actor state store.
 */
export function stateCapabilities(store: Store): readonly string[] {
  const features = store.features();
  const actorCapable = features.includes(StateFeature.ETAG) && features.includes(StateFeature.TRANSACTIONAL);
  return actorCapable && !features.includes(StateFeature.ACTOR) ? [...features, StateFeature.ACTOR] : features;
}

/** `ttlInSeconds` request metadata: seconds until expiry, or undefined for none (absent, empty or -1). */
export function parseTtlSeconds(metadata: StateMetadata | undefined): number | undefined {
  const raw = metadata?.['ttlInSeconds'];
  if (raw === undefined || raw === '') return undefined;
  if (!/^[+-]?\d+$/.test(raw)) throw new Error(`incorrect value for metadata 'ttlInSeconds': "${raw}" is not an integer`);
  const seconds = Number(raw);
  if (seconds < -1) throw new Error(`incorrect value for metadata 'ttlInSeconds': ${raw} must be -1 or greater`);
  return seconds > 0 ? seconds : undefined;
}
