// `state.sqlite`: the embedded persistent state store, over one SQLite file in WAL mode. Every write is a single
// statement (or one IMMEDIATE transaction for `multi`), so several processes can share a file safely. ETags are
// random UUIDs renewed on each write, as in Dapr's SQLite store: any string may be an etag, a wrong one mismatches.

import { randomUUID } from 'node:crypto';
import Database, { type Database as Connection, type Statement } from 'better-sqlite3';
import { createLogger } from '../../../proxy/runtime/logger.js';
import { registerComponent } from '../../registry.js';
import { compileQuery, type QueryRow } from '../query-engine.js';
import {
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
  type StateMetadata,
  type TransactionalRequest,
  type TransactionalStore,
} from '../store.js';
import { ensureSchema } from './schema.js';
import { parseSqliteOptions, type SqliteOptions } from './options.js';

const FEATURES: readonly StateFeature[] = Object.freeze([StateFeature.ETAG, StateFeature.TRANSACTIONAL, StateFeature.TTL, StateFeature.QUERY_API]);

// Times are UTC text with milliseconds; Dapr writes whole seconds in the same layout, and both compare as text.
const NOW = `strftime('%Y-%m-%d %H:%M:%f', 'now')`;
/** The expiry for a `+N seconds` modifier; NULL (no expiry) when the modifier is NULL. */
const EXPIRY = `strftime('%Y-%m-%d %H:%M:%f', 'now', ?)`;
const LIVE = `(expiration_time IS NULL OR expiration_time > ${NOW})`;

const logger = createLogger('state.sqlite');
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

interface StoredRow {
  value: string;
  is_binary: number;
  etag: string;
  expiration_time: string | null;
}

interface ScannedRow {
  key: string;
  value: string;
  etag: string;
}

interface Candidate extends QueryRow {
  text: string;
  etag: string;
}

type ValueParams = [value: string, isBinary: number, etag: string, expiry: string | null];

/** JSON values are kept as text (queryable, readable by Dapr); anything else as base64 with is_binary set. */
function encodeValue(value: Uint8Array): [text: string, isBinary: number] {
  try {
    const text = utf8.decode(value);
    JSON.parse(text);
    return [text, 0];
  } catch {
    return [Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'), 1];
  }
}

function decodeValue(row: StoredRow): Uint8Array {
  return Buffer.from(row.value, row.is_binary ? 'base64' : 'utf8');
}

function ttlMetadata(expirationTime: string | null): StateMetadata | undefined {
  // `YYYY-MM-DD HH:MM:SS[.fff]` to RFC 3339 in whole seconds.
  return expirationTime === null ? undefined : { ttlExpireTime: `${expirationTime.slice(0, 10)}T${expirationTime.slice(11, 19)}Z` };
}

function expiryModifier(metadata: StateMetadata | undefined): string | null {
  const seconds = parseTtlSeconds(metadata);
  return seconds === undefined ? null : `+${seconds} seconds`;
}

function hasETag(etag: string | undefined): etag is string {
  return etag !== undefined && etag !== '';
}

function mismatch(key: string, etag: string | undefined): ETagMismatchError {
  return hasETag(etag)
    ? new ETagMismatchError(key, `etag "${etag}" does not match for key "${key}" or the key does not exist`)
    : new ETagMismatchError(key, `key "${key}" already exists and first-write was requested without an etag`);
}

export class SqliteStore implements TransactionalStore, QueryableStore {
  private readonly db: Connection;
  private readonly selectOne: Statement<[string], StoredRow>;
  private readonly upsert: Statement<[string, ...ValueParams]>;
  /** Inserts, or replaces only a row that has expired: first-write without an etag. */
  private readonly insertNew: Statement<[string, ...ValueParams]>;
  private readonly updateMatching: Statement<[...ValueParams, string, string]>;
  private readonly remove: Statement<[string]>;
  private readonly removeMatching: Statement<[string, string]>;
  private readonly scanFrom: Statement<[string], ScannedRow>;
  private readonly purgeExpired: Statement<[]>;
  private readonly applyAll: (steps: readonly (() => void)[]) => void;
  private readonly cleaner: NodeJS.Timeout | undefined;

  constructor(options: SqliteOptions) {
    this.db = openDatabase(options);
    try {
      const table = options.tableName;
      const valueColumns = '(key, value, is_binary, etag, expiration_time) VALUES (?, ?, ?, ?, ' + EXPIRY + ')';
      const replaceValue =
        'value = excluded.value, is_binary = excluded.is_binary, etag = excluded.etag, expiration_time = excluded.expiration_time, update_time = CURRENT_TIMESTAMP';
      this.selectOne = this.db.prepare(`SELECT value, is_binary, etag, expiration_time FROM ${table} WHERE key = ? AND ${LIVE}`);
      this.upsert = this.db.prepare(`INSERT INTO ${table} ${valueColumns} ON CONFLICT (key) DO UPDATE SET ${replaceValue}`);
      this.insertNew = this.db.prepare(
        `INSERT INTO ${table} ${valueColumns} ON CONFLICT (key) DO UPDATE SET ${replaceValue} ` +
          `WHERE ${table}.expiration_time IS NOT NULL AND ${table}.expiration_time <= ${NOW}`,
      );
      this.updateMatching = this.db.prepare(
        `UPDATE ${table} SET value = ?, is_binary = ?, etag = ?, expiration_time = ${EXPIRY}, update_time = CURRENT_TIMESTAMP ` +
          `WHERE key = ? AND etag = ? AND ${LIVE}`,
      );
      this.remove = this.db.prepare(`DELETE FROM ${table} WHERE key = ?`);
      this.removeMatching = this.db.prepare(`DELETE FROM ${table} WHERE key = ? AND etag = ? AND ${LIVE}`);
      // Keys sharing a prefix are contiguous in key order, so the scan starts at the prefix and stops after it.
      this.scanFrom = this.db.prepare(`SELECT key, value, etag FROM ${table} WHERE key >= ? AND is_binary = 0 AND ${LIVE} ORDER BY key`);
      this.purgeExpired = this.db.prepare(`DELETE FROM ${table} WHERE expiration_time IS NOT NULL AND expiration_time <= ${NOW}`);
    } catch (err) {
      this.db.close();
      throw new Error(`state.sqlite: cannot use table "${options.tableName}": ${(err as Error).message}`, { cause: err });
    }
    const transaction = this.db.transaction((steps: readonly (() => void)[]) => {
      for (const step of steps) step();
    });
    this.applyAll = (steps) => transaction.immediate(steps);
    if (options.cleanupIntervalMs > 0 && !options.readonly) {
      this.cleaner = setInterval(() => this.removeExpired(), options.cleanupIntervalMs);
      this.cleaner.unref();
    }
  }

  features(): readonly StateFeature[] {
    return FEATURES;
  }

  async get(req: GetRequest): Promise<GetResponse | null> {
    const row = this.selectOne.get(req.key);
    if (row === undefined) return null;
    const response: GetResponse = { data: decodeValue(row), etag: row.etag };
    const metadata = ttlMetadata(row.expiration_time);
    if (metadata !== undefined) response.metadata = metadata;
    return response;
  }

  async set(req: SetRequest): Promise<void> {
    this.planSet(req)();
  }

  async delete(req: DeleteRequest): Promise<void> {
    this.planDelete(req)();
  }

  async bulkGet(reqs: readonly GetRequest[]): Promise<BulkGetItem[]> {
    return reqs.map(({ key }) => {
      const row = this.selectOne.get(key);
      if (row === undefined) return { key };
      const item: BulkGetItem = { key, data: decodeValue(row), etag: row.etag };
      const metadata = ttlMetadata(row.expiration_time);
      if (metadata !== undefined) item.metadata = metadata;
      return item;
    });
  }

  async bulkSet(reqs: readonly SetRequest[]): Promise<void> {
    applyToEach(reqs, (req) => this.planSet(req)());
  }

  async bulkDelete(reqs: readonly DeleteRequest[]): Promise<void> {
    applyToEach(reqs, (req) => this.planDelete(req)());
  }

  /** Every request is validated before the transaction starts; an etag mismatch inside it rolls everything back. */
  async multi(req: TransactionalRequest): Promise<void> {
    const steps = req.operations.map((op) => {
      switch (op.operation) {
        case 'upsert':
          return this.planSet(op.request);
        case 'delete':
          return this.planDelete(op.request);
        default:
          throw new Error(`unsupported transaction operation "${(op as { operation: unknown }).operation}"`);
      }
    });
    if (steps.length > 0) this.applyAll(steps);
  }

  async query(req: QueryRequest): Promise<QueryResponse> {
    const page = compileQuery(req.query).select(this.candidates(req.keyPrefix));
    const response: QueryResponse = {
      results: page.results.map(({ key, text, etag }) => ({ key, data: Buffer.from(text, 'utf8'), etag })),
    };
    if (page.token !== undefined) response.token = page.token;
    return response;
  }

  async close(): Promise<void> {
    if (this.cleaner !== undefined) clearInterval(this.cleaner);
    if (this.db.open) this.db.close();
  }

  /** Checks and encodes the request now; the returned step performs the write. */
  private planSet(req: SetRequest): () => void {
    const { key, etag } = req;
    const [text, isBinary] = encodeValue(req.value);
    const expiry = expiryModifier(req.metadata);
    const newETag = randomUUID();
    if (hasETag(etag)) {
      return () => {
        if (this.updateMatching.run(text, isBinary, newETag, expiry, key, etag).changes === 0) throw mismatch(key, etag);
      };
    }
    if (req.options?.concurrency === 'first-write') {
      return () => {
        if (this.insertNew.run(key, text, isBinary, newETag, expiry).changes === 0) throw mismatch(key, etag);
      };
    }
    return () => {
      this.upsert.run(key, text, isBinary, newETag, expiry);
    };
  }

  private planDelete(req: DeleteRequest): () => void {
    const { key, etag } = req;
    if (!hasETag(etag)) {
      return () => {
        this.remove.run(key);
      };
    }
    return () => {
      if (this.removeMatching.run(key, etag).changes === 0) throw mismatch(key, etag);
    };
  }

  /** Live JSON values under the prefix, parsed one at a time as the query consumes them. */
  private *candidates(keyPrefix: string): Generator<Candidate> {
    for (const row of this.scanFrom.iterate(keyPrefix)) {
      if (!row.key.startsWith(keyPrefix)) return;
      let value: unknown;
      try {
        value = JSON.parse(row.value);
      } catch {
        continue;
      }
      yield { key: row.key, value, text: row.value, etag: row.etag };
    }
  }

  private removeExpired(): void {
    try {
      const { changes } = this.purgeExpired.run();
      if (changes > 0) logger.debug(`removed ${changes} expired state rows`);
    } catch (err) {
      logger.warn(`removing expired state rows failed: ${(err as Error).message}`);
    }
  }
}

function openDatabase(options: SqliteOptions): Connection {
  let db: Connection;
  try {
    db = new Database(options.path, { readonly: options.readonly, fileMustExist: options.mustExist, timeout: options.busyTimeoutMs });
  } catch (err) {
    throw new Error(`state.sqlite: cannot open database "${options.path}": ${(err as Error).message}`, { cause: err });
  }
  try {
    if (!options.readonly) {
      if (options.wal) db.pragma('journal_mode = WAL');
      // In WAL mode NORMAL loses no committed transaction when the process dies, only on power loss.
      db.pragma('synchronous = NORMAL');
    }
    for (const [name, value] of options.pragmas) db.pragma(`${name} = ${value}`);
    if (!options.readonly) ensureSchema(db, options.tableName, options.metadataTableName);
    return db;
  } catch (err) {
    db.close();
    throw new Error(`state.sqlite: cannot prepare database "${options.path}": ${(err as Error).message}`, { cause: err });
  }
}

registerComponent({
  type: 'state.sqlite',
  versions: ['v1'],
  kind: 'state',
  create: (meta) => new SqliteStore(parseSqliteOptions(meta)),
  capabilities: stateCapabilities,
});
