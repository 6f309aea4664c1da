// The tables of Dapr's SQLite state store, so a database file can move between daprd and Pillion. The metadata
// table records the schema level under the key `migrations`, as Dapr's migrations do; level 1 is the state table.

import type { Database } from 'better-sqlite3';

const SCHEMA_LEVEL = 1;

/** Table names must already be validated identifiers: SQL cannot bind them as parameters. */
export function ensureSchema(db: Database, tableName: string, metadataTableName: string): void {
  // IMMEDIATE: two processes opening a new file at once must not both decide to create the schema.
  const migrate = db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS ${metadataTableName} (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)`);
    db.exec(`CREATE TABLE IF NOT EXISTS ${tableName} (
      key TEXT NOT NULL PRIMARY KEY,
      value TEXT NOT NULL,
      is_binary BOOLEAN NOT NULL,
      etag TEXT NOT NULL,
      expiration_time TIMESTAMP DEFAULT NULL,
      update_time TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
    )`);
    db.exec(`CREATE INDEX IF NOT EXISTS idx_${tableName}_expiration_time ON ${tableName} (expiration_time)`);
    const recorded = db.prepare<[], { value: string }>(`SELECT value FROM ${metadataTableName} WHERE key = 'migrations'`).get();
    if (recorded === undefined) {
      db.prepare(`INSERT INTO ${metadataTableName} (key, value) VALUES ('migrations', ?)`).run(String(SCHEMA_LEVEL));
    } else if (!/^\d+$/.test(recorded.value)) {
      throw new Error(`invalid schema level "${recorded.value}" in table ${metadataTableName}`);
    }
  });
  migrate.immediate();
}
