/**
 * The clients of the state scenario: one operation (a save, then a get of the
 * same key) through a sidecar's HTTP state API, or straight to Redis or
 * PostgreSQL the way the `state.redis` and `state.postgresql` components do
 * it: the same connection settings parsed from the same metadata, the same
 * Lua scripts and the same SQL, so the difference between the two is what the
 * sidecar adds. The load generator imports this module for the paced runs
 * (see openOperations); the harness uses it to set up and clean up the stores.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { parseSettings as parsePostgresSettings, type PostgresStoreSettings } from '../../components/state/postgresql/metadata.js';
import { checkTableName, schemaStatements, tableStatements } from '../../components/state/postgresql/sql.js';
import { parseRedisSettings } from '../../components/state/redis/connection.js';
import { READ_SCRIPT, WRITE_SCRIPT } from '../../components/state/redis/scripts.js';
import type { ComponentMetadata } from '../../components/registry.js';
import { Http1Connection } from '../lib/http1-connection.js';
import { makeBody, type OperationSource } from '../lib/load-protocol.js';
import type { OperationVerdict, PacedLane } from '../lib/paced-load.js';

/** Component metadata as written in a component YAML: name -> value. */
export type MetadataValues = Readonly<Record<string, string>>;

export interface StateWorkload {
  /** Operations cycle over keys k0 .. k<keyCount - 1>. */
  readonly keyCount: number;
  /** The JSON document every save stores. */
  readonly value: string;
  /** Length of the value as the store answers it (PostgreSQL's jsonb writes JSON back in its own layout). */
  readonly answerBytes: number;
}

/** Where the operations go: a sidecar's state store URL (…/v1.0/state/<store>), or a store directly. */
export type StateTarget =
  | { readonly via: 'sidecar'; readonly storeUrl: string }
  | { readonly via: 'redis' | 'postgresql'; readonly metadata: MetadataValues; readonly keyPrefix: string };

export interface StateOperationsConfig {
  readonly target: StateTarget;
  readonly workload: StateWorkload;
}

const requestTimeoutMs = 5000;
/** The write script's arguments after the key: upsert, no etag, last-write-wins, no TTL (see its ARGV layout). */
const plainUpsert = ['u', '', '0', '0'] as const;

export const stateKey = (index: number): string => `k${index}`;

/** A JSON object of exactly `bytes` bytes that a JSON encoder writes back unchanged (lowercase letters only). */
export function stateValue(bytes: number): string {
  const frame = '{"v":""}';
  if (bytes < frame.length) throw new Error(`a state value needs at least ${frame.length} bytes`);
  return `{"v":"${makeBody(bytes - frame.length).toString('latin1')}"}`;
}

/** The body of POST /v1.0/state/<store> that saves one key. */
export function saveBody(key: string, value: string): string {
  return `[{"key":${JSON.stringify(key)},"value":${value}}]`;
}

function componentMetadata(type: string, values: MetadataValues): ComponentMetadata {
  return { name: 'statebench-direct', type, version: 'v1', properties: values };
}

const is2xx = (status: number): boolean => status >= 200 && status <= 299;

function sidecarOperations(storeUrl: string, workload: StateWorkload): OperationSource {
  const store = new URL(storeUrl);
  const saves: Buffer[] = [];
  const reads: Buffer[] = [];
  for (let i = 0; i < workload.keyCount; i++) {
    saves.push(Http1Connection.postRequest(store, 'application/json', Buffer.from(saveBody(stateKey(i), workload.value))));
    reads.push(Http1Connection.getRequest(new URL(`${store.pathname}/${stateKey(i)}`, store)));
  }
  const connections: Http1Connection[] = [];
  return {
    openLane(): PacedLane {
      const connection = new Http1Connection(store.hostname, Number(store.port), saves[0]!, requestTimeoutMs);
      connections.push(connection);
      return {
        async run(sequence: number): Promise<OperationVerdict> {
          const index = sequence % workload.keyCount;
          const saved = await connection.exchange(saves[index]);
          if (!is2xx(saved.status)) return 'non2xx';
          const read = await connection.exchange(reads[index]);
          if (!is2xx(read.status)) return 'non2xx';
          return saved.status === 204 && read.status === 200 && read.bodyBytes === workload.answerBytes ? 'ok' : 'wrong-body';
        },
      };
    },
    async close(): Promise<void> {
      for (const connection of connections) connection.close();
    },
  };
}

/** The component's scripts as ioredis exposes them once defined (EVALSHA, falling back to EVAL). */
interface StateScripts {
  stateWrite(numKeys: number, ...args: (string | Buffer)[]): Promise<unknown>;
  stateReadBuffer(key: string): Promise<[data: Buffer | null, version: Buffer | null, ttlMs: number]>;
}

/** One ioredis client for the server, database and credentials the component metadata names. */
async function connectDirectRedis(metadata: MetadataValues): Promise<Redis> {
  const settings = parseRedisSettings(componentMetadata('state.redis', metadata));
  const client = new Redis({
    host: settings.host,
    port: settings.port,
    db: settings.db,
    username: settings.username,
    password: settings.password,
    tls: settings.tls ? {} : undefined,
    lazyConnect: true,
    // A command while disconnected fails at once (and counts as an error) instead of waiting in a queue.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // Failures reach the commands (and connect()) that meet them; the event only duplicates them.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw new Error(`cannot connect to Redis at ${settings.host}:${settings.port}: ${(error as Error).message}`, { cause: error });
  }
  return client;
}

async function redisOperations(metadata: MetadataValues, keyPrefix: string, workload: StateWorkload): Promise<OperationSource> {
  const client = await connectDirectRedis(metadata);
  client.defineCommand('stateWrite', { lua: WRITE_SCRIPT });
  client.defineCommand('stateRead', { lua: READ_SCRIPT, numberOfKeys: 1, readOnly: true });
  const scripts = client as unknown as StateScripts;
  const keys = Array.from({ length: workload.keyCount }, (_, i) => keyPrefix + stateKey(i));
  const value = Buffer.from(workload.value);
  // One client for every lane, as the component has.
  const lane: PacedLane = {
    async run(sequence: number): Promise<OperationVerdict> {
      const key = keys[sequence % keys.length]!;
      const written = await scripts.stateWrite(1, key, ...plainUpsert, value);
      const [data] = await scripts.stateReadBuffer(key);
      return written === 0 && data?.length === workload.answerBytes ? 'ok' : 'wrong-body';
    },
  };
  return {
    openLane: () => lane,
    async close(): Promise<void> {
      await client.quit();
    },
  };
}

function postgresSettings(metadata: MetadataValues): PostgresStoreSettings {
  return parsePostgresSettings(componentMetadata('state.postgresql', metadata));
}

async function postgresOperations(metadata: MetadataValues, keyPrefix: string, workload: StateWorkload): Promise<OperationSource> {
  const settings = postgresSettings(metadata);
  const pool = new pg.Pool(settings.pool);
  // An idle connection that breaks only matters to the query that would use it, which reports it.
  pool.on('error', () => undefined);
  const sql = tableStatements(settings.tableName, settings.metadataTableName);
  const keys = Array.from({ length: workload.keyCount }, (_, i) => keyPrefix + stateKey(i));
  // One pool for every lane, as the component has; the statement names are the component's too.
  const lane: PacedLane = {
    async run(sequence: number): Promise<OperationVerdict> {
      const key = keys[sequence % keys.length]!;
      await pool.query({ name: 'state-upsert', text: sql.upsert, values: [key, workload.value, false, null] });
      const { rows } = await pool.query<{ value: string }>({ name: 'state-get', text: sql.get, values: [key] });
      const row = rows[0];
      return row !== undefined && Buffer.byteLength(row.value) === workload.answerBytes ? 'ok' : 'wrong-body';
    },
  };
  return { openLane: () => lane, close: () => pool.end() };
}

/** Called by the load generator for a paced-operations job. */
export async function openOperations(config: StateOperationsConfig): Promise<OperationSource> {
  const { target, workload } = config;
  switch (target.via) {
    case 'sidecar':
      return sidecarOperations(target.storeUrl, workload);
    case 'redis':
      return redisOperations(target.metadata, target.keyPrefix, workload);
    case 'postgresql':
      return postgresOperations(target.metadata, target.keyPrefix, workload);
  }
}

/** Deletes every key matching a Redis glob pattern; answers how many were deleted. */
export async function deleteRedisKeys(metadata: MetadataValues, pattern: string): Promise<number> {
  const client = await connectDirectRedis(metadata);
  try {
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) deleted += await client.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    return deleted;
  } finally {
    await client.quit();
  }
}

/** Runs statements one by one on a single connection made from the component metadata. */
async function onPostgres(metadata: MetadataValues, statements: readonly string[]): Promise<void> {
  const client = new pg.Client(postgresSettings(metadata).pool);
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

/** Creates the tables the metadata names, in the component's layout. */
export function createPostgresTables(metadata: MetadataValues): Promise<void> {
  const settings = postgresSettings(metadata);
  return onPostgres(metadata, schemaStatements(settings.tableName, settings.metadataTableName).create);
}

export function dropPostgresTables(metadata: MetadataValues, tables: readonly string[]): Promise<void> {
  return onPostgres(metadata, tables.map((table) => `DROP TABLE IF EXISTS ${checkTableName(table, 'table')}`));
}
