// Component metadata of `state.redis` (names as daprd's): the shared Redis connection settings, plus what only the
// state store reads.

import { integerProperty } from '../../metadata.js';
import { metadataValue, type ComponentMetadata } from '../../registry.js';
import { DEFAULT_MAX_RETRIES, parseRedisAddress, type RedisConnectionSettings } from '../../redis/connection.js';
import { parseTtlSeconds } from '../store.js';

export interface RedisSettings extends RedisConnectionSettings {
  /** Applied to writes whose request has no `ttlInSeconds`; undefined for none. */
  defaultTtlSeconds: number | undefined;
}

export function parseRedisSettings(meta: ComponentMetadata): RedisSettings {
  const ttl = metadataValue(meta, 'ttlInSeconds');
  return {
    ...parseRedisAddress(meta),
    maxRetries: integerProperty(meta, 'maxRetries', DEFAULT_MAX_RETRIES, 0),
    defaultTtlSeconds: ttl === undefined ? undefined : parseTtlSeconds({ ttlInSeconds: ttl.trim() }),
  };
}
