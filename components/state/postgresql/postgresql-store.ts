// `state.postgresql`: a state store over one PostgreSQL table, sharing the layout of components-contrib's
// state.postgresql v1. Conditional writes are single statements (the ETag and first-write checks happen in the
// WHERE / ON CONFLICT clauses), so concurrent writers cannot both win.

import type pg from 'pg';
import { registerComponent } from '../../registry.js';
import { createLogger } from '../../../proxy/runtime/logger.js';
import { QueryError } from '../query-engine.js';
import {
  ETagInvalidError,
  ETagMismatchError,
  StateFeature,
  throwBulkFailures,
  parseTtlSeconds,
  stateCapabilities,
  type BulkGetItem,
  type DeleteRequest,
  type GetRequest,
  type GetResponse,
  type QueryRequest,
  type QueryResponse,
  type QueryableStore,
  type SetRequest,
  type TransactionalRequest,
  type TransactionalStore,
} from '../store.js';
import { Database, describeError } from './database.js';
import { parseSettings, type PostgresStoreSettings } from './metadata.js';
import { translateQuery } from './query.js';
import { tableStatements, type TableStatements } from './sql.js';

const log = createLogger('state.postgresql');
/** How long start-up waits for the first connection; below the default component init timeout of 5 s. */
const START_WAIT_MS = 3000;

const FEATURES: readonly StateFeature[] = Object.freeze([StateFeature.ETAG, StateFeature.TRANSACTIONAL, StateFeature.TTL, StateFeature.QUERY_API]);

/** An xmin is a 32-bit transaction id; no other string can be an ETag of this store. */
const MAX_XID = 4294967295;
const ISSUED_ETAG = /^\d{1,10}$/;

interface StoredRow {
  key: string;
  value: string;
  isbinary: boolean;
  etag: string;
  expires: string | null;
}

/** A validated write: the statement to run, and when no row affected means the condition failed, why. */
interface Write {
  key: string;
  statement: pg.QueryConfig;
  conflict: string | undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
// jsonb refuses NUL characters and unpaired surrogates that plain JSON allows; such values are kept as binary.
const JSONB_UNSAFE_ESCAPE = /\\u(0000|d[89a-f])/i;

/** The value as jsonb text and whether it had to be stored as base64 (not UTF-8 JSON, or not storable as jsonb). */
function encodeValue(value: Uint8Array): [text: string, binary: boolean] {
  try {
    const text = utf8.decode(value);
    JSON.parse(text);
    if (!JSONB_UNSAFE_ESCAPE.test(text)) return [text, false];
  } catch {
    // Not JSON: stored as binary below.
  }
  return [`"${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')}"`, true];
}

function decodeValue(row: StoredRow): Uint8Array {
  return Buffer.from(row.value, row.isbinary ? 'base64' : 'utf8');
}

function hasETag(etag: string | undefined): etag is string {
  return etag !== undefined && etag !== '';
}

function checkETag(key: string, etag: string): void {
  if (!ISSUED_ETAG.test(etag) || Number(etag) > MAX_XID) throw new ETagInvalidError(key, etag);
}

function failure(operation: string, err: unknown): Error {
  if (err instanceof ETagMismatchError || err instanceof ETagInvalidError || err instanceof QueryError) return err;
  return new Error(`state.postgresql: ${operation} failed: ${describeError(err)}`, { cause: err });
}

export class PostgresStore implements TransactionalStore, QueryableStore {
  private readonly sql: TableStatements;
  private readonly cleanupTimer: NodeJS.Timeout | undefined;
  private readonly cleanupKey: string;
  private cleaning = false;
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly db: Database,
    private readonly settings: PostgresStoreSettings,
  ) {
    this.sql = tableStatements(settings.tableName, settings.metadataTableName);
    this.cleanupKey = `last-cleanup-${settings.tableName}`;
    if (settings.cleanupIntervalMs > 0) {
      this.cleanupTimer = setInterval(() => void this.cleanupExpired(), settings.cleanupIntervalMs);
      this.cleanupTimer.unref();
    }
  }

  /**
   * Connects and creates the tables if needed. A server that cannot be reached does not fail it: calls fail fast
   * until the server is back, and the tables are created on the first connection that succeeds. Only a server
   * refusing the settings (password, role, database, privileges) does.
   */
  static async open(settings: PostgresStoreSettings): Promise<PostgresStore> {
    if (settings.ignoredKeywords.length > 0) log.warn(`connection string keywords without effect: ${settings.ignoredKeywords.join(', ')}`);
    const db = new Database(settings, log);
    try {
      await db.start(Math.min(START_WAIT_MS, settings.timeoutMs));
    } catch (err) {
      await db.end().catch(() => undefined);
      throw new Error(`state.postgresql: ${describeError(err)}`, { cause: err });
    }
    return new PostgresStore(db, settings);
  }

  features(): readonly StateFeature[] {
    return FEATURES;
  }

  async get(req: GetRequest): Promise<GetResponse | null> {
    let rows: StoredRow[];
    try {
      ({ rows } = await this.db.query<StoredRow>({ name: 'state-get', text: this.sql.get, values: [req.key] }));
    } catch (err) {
      throw failure(`get "${req.key}"`, err);
    }
    const row = rows[0];
    if (row === undefined) return null;
    const response: GetResponse = { data: decodeValue(row), etag: row.etag };
    if (row.expires !== null) response.metadata = { ttlExpireTime: row.expires };
    return response;
  }

  async set(req: SetRequest): Promise<void> {
    try {
      await this.execute(this.prepareSet(req));
    } catch (err) {
      throw failure(`set "${req.key}"`, err);
    }
  }

  async delete(req: DeleteRequest): Promise<void> {
    try {
      await this.execute(this.prepareDelete(req));
    } catch (err) {
      throw failure(`delete "${req.key}"`, err);
    }
  }

  async bulkGet(reqs: readonly GetRequest[]): Promise<BulkGetItem[]> {
    if (reqs.length === 0) return [];
    let rows: StoredRow[];
    try {
      ({ rows } = await this.db.query<StoredRow>({ name: 'state-bulk-get', text: this.sql.bulkGet, values: [reqs.map((req) => req.key)] }));
    } catch (err) {
      throw failure('bulk get', err);
    }
    const byKey = new Map(rows.map((row) => [row.key, row]));
    return reqs.map(({ key }) => {
      const row = byKey.get(key);
      if (row === undefined) return { key };
      const item: BulkGetItem = { key, data: decodeValue(row), etag: row.etag };
      if (row.expires !== null) item.metadata = { ttlExpireTime: row.expires };
      return item;
    });
  }

  async bulkSet(reqs: readonly SetRequest[]): Promise<void> {
    await this.applyEach(reqs, (req) => this.set(req));
  }

  async bulkDelete(reqs: readonly DeleteRequest[]): Promise<void> {
    await this.applyEach(reqs, (req) => this.delete(req));
  }

  /** Validates every operation before touching the database, then applies them in order in one transaction. */
  async multi(req: TransactionalRequest): Promise<void> {
    const writes = req.operations.map((op) => (op.operation === 'upsert' ? this.prepareSet(op.request) : this.prepareDelete(op.request)));
    if (writes.length === 0) return;
    let refused: number | undefined;
    try {
      refused = await this.db.transaction(
        writes.map((write) => write.statement),
        (result, index) => writes[index]!.conflict === undefined || result.rowCount !== 0,
      );
    } catch (err) {
      throw failure('transaction', err);
    }
    if (refused !== undefined) {
      const { key, conflict } = writes[refused]!;
      throw new ETagMismatchError(key, conflict!);
    }
  }

  async query(req: QueryRequest): Promise<QueryResponse> {
    const sql = translateQuery(this.settings.tableName, req);
    let rows: StoredRow[];
    try {
      ({ rows } = await this.db.query<StoredRow>({ text: sql.text, values: sql.values }));
    } catch (err) {
      throw failure('query', err);
    }
    const response: QueryResponse = { results: [] };
    if (sql.limit !== undefined && rows.length > sql.limit) {
      rows.length = sql.limit;
      response.token = String(sql.offset + sql.limit);
    }
    response.results = rows.map((row) => ({ key: row.key, data: decodeValue(row), etag: row.etag }));
    return response;
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      clearInterval(this.cleanupTimer);
      await this.db.end();
    })();
    return this.closed;
  }

  private prepareSet(req: SetRequest): Write {
    const ttl = parseTtlSeconds(req.metadata) ?? null;
    const [text, binary] = encodeValue(req.value);
    if (hasETag(req.etag)) {
      checkETag(req.key, req.etag);
      return {
        key: req.key,
        statement: { name: 'state-update-if-match', text: this.sql.updateIfMatch, values: [req.key, text, binary, ttl, req.etag] },
        conflict: `key "${req.key}" does not exist or its etag is not "${req.etag}"`,
      };
    }
    if (req.options?.concurrency === 'first-write') {
      return {
        key: req.key,
        statement: { name: 'state-insert-if-absent', text: this.sql.insertIfAbsent, values: [req.key, text, binary, ttl] },
        conflict: `key "${req.key}" already exists and first-write was requested without an etag`,
      };
    }
    return { key: req.key, statement: { name: 'state-upsert', text: this.sql.upsert, values: [req.key, text, binary, ttl] }, conflict: undefined };
  }

  private prepareDelete(req: DeleteRequest): Write {
    if (hasETag(req.etag)) {
      checkETag(req.key, req.etag);
      return {
        key: req.key,
        statement: { name: 'state-delete-if-match', text: this.sql.deleteIfMatch, values: [req.key, req.etag] },
        conflict: `key "${req.key}" does not exist or its etag is not "${req.etag}"`,
      };
    }
    return { key: req.key, statement: { name: 'state-delete', text: this.sql.delete, values: [req.key] }, conflict: undefined };
  }

  private async execute(write: Write): Promise<void> {
    const result = await this.db.query(write.statement);
    if (write.conflict !== undefined && result.rowCount === 0) throw new ETagMismatchError(write.key, write.conflict);
  }

  /**
   * Attempts every request and reports the failures together. Requests for different keys run concurrently (the
   * pool bounds how many at once); requests for the same key keep their order.
   */
  private async applyEach<R extends { key: string }>(reqs: readonly R[], apply: (req: R) => Promise<void>): Promise<void> {
    const failures: unknown[] = [];
    const chains = new Map<string, Promise<void>>();
    reqs.forEach((req, index) => {
      const previous = chains.get(req.key) ?? Promise.resolve();
      chains.set(
        req.key,
        previous.then(() => apply(req)).catch((err: unknown) => {
          failures[index] = err;
        }),
      );
    });
    await Promise.all(chains.values());
    // The holes of the sparse array are the requests that succeeded.
    const errors = failures.filter(() => true);
    throwBulkFailures(errors, reqs.length);
  }

  private async cleanupExpired(): Promise<void> {
    if (this.cleaning) return;
    this.cleaning = true;
    try {
      const result = await this.db.query({
        name: 'state-cleanup',
        text: this.sql.cleanup,
        // Slightly less than the interval, so timer jitter never makes a sidecar skip its turn.
        values: [this.cleanupKey, Math.floor(this.settings.cleanupIntervalMs * 0.95)],
      });
      if (result.rowCount) log.debug(`removed ${result.rowCount} expired rows from ${this.settings.tableName}`);
    } catch (err) {
      log.warn(`cleanup of expired rows in ${this.settings.tableName} failed: ${describeError(err)}`);
    } finally {
      this.cleaning = false;
    }
  }
}

registerComponent({
  type: 'state.postgresql',
  versions: ['v1'],
  kind: 'state',
  create: (meta) => PostgresStore.open(parseSettings(meta)),
  capabilities: stateCapabilities,
});
