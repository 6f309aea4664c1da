// `bindings.postgresql`: an output binding running the caller's SQL on a PostgreSQL connection pool, with daprd's
// operations: `exec` (any statement; answers `rows-affected`), `query` (answers the rows as JSON) and `close`
// (drops every pooled connection; later calls open new ones). The statement text is only ever the caller's `sql`
// metadata: values travel apart from it, as the bound parameters $1..$n of the `params` metadata.

import pg from 'pg';
import { createLogger } from '../../../proxy/runtime/logger.js';
import { registerComponent } from '../../registry.js';
import { describeError } from '../../state/postgresql/database.js';
import { bindingCapabilities, type Binding, type BindingMetadata, type InvokeRequest, type InvokeResponse, type OutputBinding } from '../bindings.js';
import { JSON_FRAGMENTS, rowsJson } from './row-json.js';
import { parseSettings, type PostgresBindingSettings } from './settings.js';
import { StatementClock } from './timing.js';

const COMPONENT = 'bindings.postgresql';
const OPERATIONS: readonly string[] = Object.freeze(['exec', 'query', 'close']);
const logger = createLogger(COMPONENT);

function statementOf(metadata: BindingMetadata): string {
  const sql = metadata['sql'];
  if (sql === undefined || sql.trim() === '') throw new Error('required metadata not set: sql');
  return sql;
}

/** The `params` metadata: a JSON array whose items are bound as $1..$n. */
function parametersOf(metadata: BindingMetadata): unknown[] | undefined {
  const raw = metadata['params'];
  if (raw === undefined || raw === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new Error(`metadata "params" is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new Error(`metadata "params" must be a JSON array, got ${raw}`);
  return parsed;
}

/** Text with several statements answers one result each; like pgx, the binding reports the last one. */
function lastResult(result: pg.QueryResult | pg.QueryResult[]): pg.QueryResult {
  return Array.isArray(result) ? result[result.length - 1]! : result;
}

export class PostgresOutputBinding implements OutputBinding {
  private pool: pg.Pool;
  private closed = false;

  /** Connects lazily, as daprd's binding does: a server that is away at start-up fails only the calls made meanwhile. */
  constructor(private readonly settings: PostgresBindingSettings) {
    if (settings.ignoredKeywords.length > 0) logger.warn(`connection string keywords without effect: ${settings.ignoredKeywords.join(', ')}`);
    this.pool = this.newPool();
  }

  operations(): readonly string[] {
    return OPERATIONS;
  }

  async invoke({ operation, metadata }: InvokeRequest): Promise<InvokeResponse | null> {
    if (this.closed) throw new Error(`the ${COMPONENT} component is closed`);
    if (operation === 'close') {
      await this.dropConnections();
      return null;
    }
    if (operation !== 'exec' && operation !== 'query') throw new Error(`invalid operation type: ${operation}. Expected exec, query, or close`);
    const sql = statementOf(metadata);
    const values = parametersOf(metadata);
    const statement: pg.QueryConfig = values === undefined ? { text: sql } : { text: sql, values };
    const clock = new StatementClock();
    if (operation === 'exec') {
      const result = lastResult(await this.run(statement));
      const timing = clock.metadata();
      return { data: new Uint8Array(0), metadata: { operation, sql, ...timing, 'rows-affected': String(result.rowCount ?? 0) } };
    }
    const result = lastResult(await this.run({ ...statement, rowMode: 'array', types: JSON_FRAGMENTS }));
    const timing = clock.metadata();
    return { data: Buffer.from(rowsJson(result.rows as (string | null)[][])), metadata: { operation, sql, ...timing } };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool.end();
  }

  private newPool(): pg.Pool {
    const pool = new pg.Pool(this.settings.pool);
    pool.on('error', (err) => logger.warn(`idle connection to PostgreSQL failed: ${describeError(err)}`));
    return pool;
  }

  /** Later calls get a fresh pool; statements still running on the old one finish before it closes. */
  private async dropConnections(): Promise<void> {
    const old = this.pool;
    this.pool = this.newPool();
    await old.end();
  }

  /**
   * An error the server answered keeps its message; any other (refused or lost connection, timeout) means the
   * server did not answer.
   */
  private async run(statement: pg.QueryConfig | pg.QueryArrayConfig): Promise<pg.QueryResult | pg.QueryResult[]> {
    try {
      return (await this.pool.query(statement)) as pg.QueryResult | pg.QueryResult[];
    } catch (err) {
      if (err instanceof pg.DatabaseError) throw new Error(`error executing query: ${err.message}`, { cause: err });
      throw new Error(`PostgreSQL did not answer: ${describeError(err)}`, { cause: err });
    }
  }
}

registerComponent({
  type: COMPONENT,
  versions: ['v1'],
  kind: 'bindings',
  create: (meta): Binding => {
    const output = new PostgresOutputBinding(parseSettings(meta));
    return { output, close: () => output.close() };
  },
  capabilities: bindingCapabilities,
});
