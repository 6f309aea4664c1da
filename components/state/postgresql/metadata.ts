// Component metadata of state.postgresql (v1), with Dapr's names and defaults.

import type { PoolConfig } from 'pg';
import { metadataValue, type ComponentMetadata } from '../../registry.js';
import { parseConnectionString, parseDurationMs } from './connection-string.js';
import { checkTableName } from './sql.js';

export interface PostgresStoreSettings {
  pool: PoolConfig;
  tableName: string;
  metadataTableName: string;
  /** Bound on every database operation, and on connecting when the connection string sets no connect_timeout. */
  timeoutMs: number;
  /** 0 when the background cleanup of expired rows is disabled. */
  cleanupIntervalMs: number;
  /** Connection string keywords accepted without effect. */
  ignoredKeywords: string[];
}

const DEFAULT_TIMEOUT_SECONDS = 20;
const DEFAULT_CLEANUP_INTERVAL_SECONDS = 3600;

export function parseSettings(meta: ComponentMetadata): PostgresStoreSettings {
  const connectionString = metadataValue(meta, 'connectionString');
  if (connectionString === undefined || connectionString.trim() === '') throw new Error('missing connection string: set the connectionString metadata');
  const { config, ignored } = parseConnectionString(connectionString);

  const timeoutSeconds = integer(meta, 'timeoutInSeconds') ?? DEFAULT_TIMEOUT_SECONDS;
  if (timeoutSeconds <= 0) throw new Error(`timeoutInSeconds must be positive, not ${timeoutSeconds}`);
  const timeoutMs = timeoutSeconds * 1000;
  const cleanupSeconds = integer(meta, 'cleanupIntervalInSeconds') ?? DEFAULT_CLEANUP_INTERVAL_SECONDS;

  const maxConns = integer(meta, 'maxConns');
  if (maxConns !== undefined) {
    if (maxConns <= 0) throw new Error(`maxConns must be positive, not ${maxConns}`);
    config.max = maxConns;
  }
  const maxIdle = metadataValue(meta, 'connectionMaxIdleTime');
  if (maxIdle !== undefined && maxIdle !== '') config.idleTimeoutMillis = parseDurationMs(maxIdle, 'connectionMaxIdleTime');
  config.connectionTimeoutMillis ??= timeoutMs;
  config.query_timeout = timeoutMs;
  config.keepAlive = true;
  // An idle pool must never keep the sidecar process alive on its own.
  config.allowExitOnIdle = true;

  return {
    pool: config,
    tableName: checkTableName(metadataValue(meta, 'tableName') || 'state', 'tableName'),
    metadataTableName: checkTableName(metadataValue(meta, 'metadataTableName') || 'dapr_metadata', 'metadataTableName'),
    timeoutMs,
    cleanupIntervalMs: cleanupSeconds > 0 ? cleanupSeconds * 1000 : 0,
    ignoredKeywords: ignored,
  };
}

function integer(meta: ComponentMetadata, name: string): number | undefined {
  const raw = metadataValue(meta, name);
  if (raw === undefined || raw.trim() === '') return undefined;
  if (!/^[+-]?\d+$/.test(raw.trim())) throw new Error(`${name} must be an integer, not "${raw}"`);
  return Number(raw);
}
