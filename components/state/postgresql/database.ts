// The PostgreSQL server as the state store sees it: a lazily connecting pool, the tables created on the first
// connection that succeeds, and an outage breaker. While the server cannot be reached, calls fail at once with
// the reason instead of each waiting for a connection timeout; one call at a time, spaced by a growing delay,
// tries the server again, and the first that succeeds closes the outage.

import pg from 'pg';
import type { Logger } from '../../../proxy/runtime/logger.js';
import type { PostgresStoreSettings } from './metadata.js';
import { schemaStatements, type SchemaStatements } from './sql.js';

const DEFAULT_PORT = 5432;
const RETRY_MIN_DELAY_MS = 100;
const RETRY_MAX_DELAY_MS = 2000;
/**
 * SQLSTATE classes that say the server is there but cannot serve a connection right now (connection exception,
 * insufficient resources, operator intervention such as "the database system is starting up"). Any other answer
 * while connecting (bad password, unknown role or database, missing privilege) is about the settings.
 */
const TRANSIENT_SQLSTATE_CLASSES = new Set(['08', '53', '57']);

/** A driver error as one readable line: connection failures often arrive as an AggregateError with no message. */
export function describeError(err: unknown): string {
  if (err instanceof AggregateError && err.message === '') return err.errors.map(describeError).join('; ');
  if (err instanceof Error) return err.message || String((err as NodeJS.ErrnoException).code ?? err.name);
  return String(err);
}

/** Whether the server answered and its answer is about the component's settings, so retrying cannot help. */
function refusesSettings(err: unknown): boolean {
  return err instanceof pg.DatabaseError && err.code !== undefined && !TRANSIENT_SQLSTATE_CLASSES.has(err.code.slice(0, 2));
}

function describeAddress(config: pg.PoolConfig): string {
  const host = config.host ?? 'localhost';
  const database = config.database ?? config.user;
  return `${host.includes(':') ? `[${host}]` : host}:${config.port ?? DEFAULT_PORT}${database === undefined ? '' : `/${database}`}`;
}

interface Outage {
  cause: unknown;
  /** No call tries the server before this time. */
  retryAt: number;
  delayMs: number;
  /** A call is trying the server; the others fail at once meanwhile. */
  probing: boolean;
}

/** The tables could not be created although the server answered (e.g. a missing privilege). */
class SchemaError extends Error {}

/** The server's own answer inside an error this module made, if any. */
function answerOf(err: unknown): unknown {
  return err instanceof pg.DatabaseError ? err : (err as Error | undefined)?.cause;
}

/** What the start-up connection attempt found. */
type StartOutcome = { connected: true } | { connected: false; cause: unknown };

export class Database {
  readonly address: string;
  private readonly pool: pg.Pool;
  private readonly schema: SchemaStatements;
  private schemaReady = false;
  /** The creation of the tables in progress, shared by every call that needs them. */
  private schemaCreation: Promise<void> | undefined;
  private outage: Outage | undefined;
  /** Whether start() is over; until then it reports the outcome itself. */
  private started = false;

  constructor(
    private readonly settings: PostgresStoreSettings,
    private readonly log: Logger,
  ) {
    this.address = describeAddress(settings.pool);
    this.schema = schemaStatements(settings.tableName, settings.metadataTableName);
    this.pool = new pg.Pool(settings.pool);
    this.pool.on('error', (err) => log.warn(`idle connection to PostgreSQL at ${this.address} failed: ${describeError(err)}`));
  }

  /**
   * Makes the first connection and creates the tables, waiting at most `waitMs`. Rejects when the server refuses
   * the settings; any other failure is logged, and later calls try again.
   */
  async start(waitMs: number): Promise<void> {
    const attempt = this.withClient(() => Promise.resolve()).then(
      (): StartOutcome => ({ connected: true }),
      (err: unknown): StartOutcome => ({ connected: false, cause: err }),
    );
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<StartOutcome>((resolve) => {
      timer = setTimeout(() => {
        const cause = new Error(`no answer within ${waitMs} ms`);
        // Calls fail fast rather than each waiting for the connection timeout; the attempt goes on meanwhile.
        this.outage ??= { cause, retryAt: Date.now() + RETRY_MIN_DELAY_MS, delayMs: RETRY_MIN_DELAY_MS, probing: false };
        resolve({ connected: false, cause: this.unavailable(cause) });
      }, waitMs);
    });
    const outcome = await Promise.race([attempt, expired]);
    clearTimeout(timer);
    this.started = true;
    if (outcome.connected) return;
    if (refusesSettings(answerOf(outcome.cause))) throw outcome.cause;
    this.log.warn(`${describeError(outcome.cause)}; starting without it, table "${this.settings.tableName}" is created on the first connection that succeeds`);
  }

  /** One statement on a pooled connection. */
  query<R extends pg.QueryResultRow>(statement: pg.QueryConfig): Promise<pg.QueryResult<R>> {
    return this.withClient((client) => client.query<R>(statement));
  }

  /**
   * The statements in order inside one transaction. `accept` sees each result; the first it refuses rolls
   * everything back, and its index is the answer. Undefined when all were committed.
   */
  transaction(statements: readonly pg.QueryConfig[], accept: (result: pg.QueryResult, index: number) => boolean): Promise<number | undefined> {
    return this.withClient((client) => inTransaction(client, statements, accept));
  }

  end(): Promise<void> {
    return this.pool.end();
  }

  /** Why calls cannot be served. */
  private unavailable(cause: unknown): Error {
    return new Error(`PostgreSQL at ${this.address} is unavailable: ${describeError(cause)}`, { cause });
  }

  /**
   * Runs `work` on a connection that has the tables. An error the server answered passes through as it is; any
   * other (lost connection, timeout) means the server did not answer and is reported as unavailability.
   */
  private async withClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.connect();
    // A checked-out client has no error listener of the pool's; without one, a dropped connection would crash.
    let broken: Error | undefined;
    const onError = (err: Error): void => {
      broken ??= err;
    };
    client.on('error', onError);
    try {
      if (!this.schemaReady) await (this.schemaCreation ??= this.createSchema(client));
      return await work(client);
    } catch (err) {
      if (err instanceof pg.DatabaseError || err instanceof SchemaError) throw err;
      // The connection is in an unknown state (a timed-out query may still run on it): it must not be reused.
      broken ??= err as Error;
      throw this.unavailable(err);
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  private async connect(): Promise<pg.PoolClient> {
    const outage = this.outage;
    if (outage !== undefined) {
      if (outage.probing || Date.now() < outage.retryAt) throw this.unavailable(outage.cause);
      outage.probing = true;
    }
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      this.failedToConnect(err);
      if (refusesSettings(err)) throw new Error(`cannot connect to PostgreSQL at ${this.address}: ${describeError(err)}`, { cause: err });
      throw this.unavailable(err);
    }
    if (this.outage !== undefined) {
      this.outage = undefined;
      this.log.info(`connected to PostgreSQL at ${this.address}`);
    }
    return client;
  }

  private failedToConnect(cause: unknown): void {
    const outage = this.outage;
    if (outage === undefined) {
      this.outage = { cause, retryAt: Date.now() + RETRY_MIN_DELAY_MS, delayMs: RETRY_MIN_DELAY_MS, probing: false };
      if (this.started) this.log.warn(`cannot connect to PostgreSQL at ${this.address} (${describeError(cause)}); calls fail until it is back`);
      return;
    }
    // Only a failed probe lengthens the delay; calls that were already connecting when the outage began do not.
    if (outage.probing) outage.delayMs = Math.min(outage.delayMs * 2, RETRY_MAX_DELAY_MS);
    outage.cause = cause;
    outage.retryAt = Date.now() + outage.delayMs;
    outage.probing = false;
  }

  /** Creates the tables once; a failed attempt is forgotten so that the next call tries again. */
  private async createSchema(client: pg.PoolClient): Promise<void> {
    try {
      await inTransaction(client, [this.schema.lock, ...this.schema.create], () => true);
      this.schemaReady = true;
    } catch (err) {
      this.schemaCreation = undefined;
      if (err instanceof pg.DatabaseError) throw new SchemaError(`cannot initialise table "${this.settings.tableName}": ${err.message}`, { cause: err });
      throw err;
    }
  }
}

/** See Database.transaction. */
async function inTransaction(
  client: pg.PoolClient,
  statements: readonly (pg.QueryConfig | string)[],
  accept: (result: pg.QueryResult, index: number) => boolean,
): Promise<number | undefined> {
  await client.query('BEGIN');
  try {
    for (let i = 0; i < statements.length; i++) {
      if (!accept(await client.query(statements[i]!), i)) {
        await client.query('ROLLBACK');
        return i;
      }
    }
    await client.query('COMMIT');
    return undefined;
  } catch (err) {
    // A broken connection cannot roll back; the server does so when it notices the connection is gone.
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
