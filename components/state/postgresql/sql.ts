// Every SQL statement of the PostgreSQL state store. Table names are the only text spliced into SQL, and only after
// they pass a strict identifier check; everything else travels as a parameter.
//
// The table layout is that of components-contrib's state.postgresql v1, so Dapr and Pillion can share a table:
// JSON values are stored as jsonb (isbinary=false); anything else as a jsonb string of its base64 (isbinary=true).
// The ETag is the row's xmin, the id of the transaction that last wrote it.

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/;

/** A table name, optionally schema-qualified, that is safe to place in SQL unquoted. */
export function checkTableName(name: string, what: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`${what} "${name}" is not a valid table name (letters, digits and _, optionally schema.table)`);
  return name;
}

// A fixed advisory lock key, so that stores creating tables at the same moment never race (the metadata table is
// shared by every state table).
const SCHEMA_LOCK_KEY = 'pillion.state.postgresql.schema';

export interface SchemaStatements {
  lock: { text: string; values: string[] };
  create: string[];
}

export function schemaStatements(table: string, metadataTable: string): SchemaStatements {
  return {
    lock: { text: 'SELECT pg_advisory_xact_lock(hashtext($1))', values: [SCHEMA_LOCK_KEY] },
    create: [
      `CREATE TABLE IF NOT EXISTS ${metadataTable} (key text NOT NULL PRIMARY KEY, value text NOT NULL)`,
      `CREATE TABLE IF NOT EXISTS ${table} (
        key text NOT NULL PRIMARY KEY,
        value jsonb NOT NULL,
        isbinary boolean NOT NULL,
        insertdate TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
        updatedate TIMESTAMP WITH TIME ZONE NULL,
        expiredate TIMESTAMP WITH TIME ZONE NULL)`,
      // Tables created by releases of the layout that predate TTL support lack this column.
      `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS expiredate TIMESTAMP WITH TIME ZONE NULL`,
    ],
  };
}

/** Rows that have not expired. */
export const LIVE = '(expiredate IS NULL OR expiredate > now())';

/** The stored bytes as text: the JSON document itself, or the base64 of a binary value. */
const VALUE_TEXT = 'CASE WHEN isbinary THEN value #>> \'{}\' ELSE value::text END';
const EXPIRY_TEXT = `to_char(expiredate AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`;
/** Columns of a read: key, value, isbinary, etag, expires (RFC 3339 or null). */
export const ROW_COLUMNS = `key, ${VALUE_TEXT} AS value, isbinary, xmin::text AS etag, ${EXPIRY_TEXT} AS expires`;

/** `$4` is the TTL in seconds, or null for none. */
const EXPIRY_PARAM = `now() + $4::integer * interval '1 second'`;

export interface TableStatements {
  /** $1 key */
  get: string;
  /** $1 keys (text[]) */
  bulkGet: string;
  /** $1 key, $2 value, $3 isbinary, $4 ttl: insert or overwrite. */
  upsert: string;
  /** $1 key, $2 value, $3 isbinary, $4 ttl: insert unless a live row exists (no row affected then). */
  insertIfAbsent: string;
  /** $1 key, $2 value, $3 isbinary, $4 ttl, $5 etag: update only the live row still carrying the etag. */
  updateIfMatch: string;
  /** $1 key */
  delete: string;
  /** $1 key, $2 etag */
  deleteIfMatch: string;
  /**
   * $1 metadata key, $2 minimum milliseconds since the last cleanup. Claims the cleanup in the metadata table (so
   * several sidecars sharing the table take turns) and deletes expired rows only when the claim succeeded.
   */
  cleanup: string;
}

export function tableStatements(table: string, metadataTable: string): TableStatements {
  const insert = `INSERT INTO ${table} (key, value, isbinary, expiredate) VALUES ($1, $2::jsonb, $3, ${EXPIRY_PARAM})`;
  return {
    get: `SELECT ${ROW_COLUMNS} FROM ${table} WHERE key = $1 AND ${LIVE}`,
    bulkGet: `SELECT ${ROW_COLUMNS} FROM ${table} WHERE key = ANY($1::text[]) AND ${LIVE}`,
    upsert: `${insert} ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, isbinary = EXCLUDED.isbinary, expiredate = EXCLUDED.expiredate, updatedate = now()`,
    // An expired row that cleanup has not removed yet counts as absent.
    insertIfAbsent:
      `${insert} ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, isbinary = EXCLUDED.isbinary, ` +
      `expiredate = EXCLUDED.expiredate, insertdate = now(), updatedate = NULL ` +
      `WHERE ${table}.expiredate IS NOT NULL AND ${table}.expiredate <= now()`,
    updateIfMatch:
      `UPDATE ${table} SET value = $2::jsonb, isbinary = $3, expiredate = ${EXPIRY_PARAM}, updatedate = now() ` +
      `WHERE key = $1 AND xmin = $5::text::xid AND ${LIVE}`,
    delete: `DELETE FROM ${table} WHERE key = $1`,
    deleteIfMatch: `DELETE FROM ${table} WHERE key = $1 AND xmin = $2::text::xid AND ${LIVE}`,
    cleanup:
      `WITH claimed AS (INSERT INTO ${metadataTable} (key, value) VALUES ($1, now()::text) ` +
      `ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value ` +
      `WHERE ${metadataTable}.value::timestamptz <= now() - $2::integer * interval '1 millisecond' RETURNING 1) ` +
      `DELETE FROM ${table} WHERE expiredate <= now() AND EXISTS (SELECT 1 FROM claimed)`,
  };
}
