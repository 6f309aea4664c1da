// Component metadata of `bindings.postgresql`, with daprd's names and defaults: `connectionString` (or its older
// name `url`) in either libpq form, `timeout`, `maxConns`, `connectionMaxIdleTime`.

import { availableParallelism } from 'node:os';
import type { PoolConfig } from 'pg';
import { durationProperty, integerProperty, stringProperty } from '../../metadata.js';
import { metadataValue, type ComponentMetadata } from '../../registry.js';
import { parseConnectionString } from '../../state/postgresql/connection-string.js';

export interface PostgresBindingSettings {
  pool: PoolConfig;
  /** Connection string keywords accepted without effect, for a start-up warning. */
  ignoredKeywords: string[];
}

const DEFAULT_TIMEOUT_MS = 20_000;
/** daprd's pool size when neither `maxConns` nor `pool_max_conns` sets one. */
const MIN_DEFAULT_MAX_CONNS = 4;

export function parseSettings(meta: ComponentMetadata): PostgresBindingSettings {
  const connectionString = stringProperty(meta, 'connectionString', '') || stringProperty(meta, 'url', '');
  if (connectionString === '') throw new Error('missing connection string: set the connectionString metadata');
  const { config, ignored } = parseConnectionString(connectionString);

  const timeoutMs = durationProperty(meta, 'timeout', DEFAULT_TIMEOUT_MS);
  if (timeoutMs <= 0) throw new Error(`metadata "timeout" must be positive, got "${metadataValue(meta, 'timeout')}"`);
  // Like pgx, a connect_timeout in the connection string wins over the operation timeout for connecting.
  config.connectionTimeoutMillis ??= timeoutMs;
  config.query_timeout = timeoutMs;

  // daprd: 0 or less means the default.
  const maxConns = integerProperty(meta, 'maxConns', 0);
  if (maxConns > 0) config.max = maxConns;
  config.max ??= Math.max(MIN_DEFAULT_MAX_CONNS, availableParallelism());
  const maxIdleMs = durationProperty(meta, 'connectionMaxIdleTime', 0);
  if (maxIdleMs > 0) config.idleTimeoutMillis = maxIdleMs;

  config.keepAlive = true;
  // An idle pool must never keep the sidecar process alive on its own.
  config.allowExitOnIdle = true;
  return { pool: config, ignoredKeywords: ignored };
}
