// Component metadata of `pubsub.redis` (names and defaults as daprd's Redis Streams component).

import { durationProperty, integerProperty } from '../../metadata.js';
import type { ComponentMetadata } from '../../registry.js';
import { DEFAULT_MAX_RETRIES, parseRedisAddress, type RedisConnectionSettings } from '../../redis/connection.js';

export interface RedisStreamsSettings {
  connection: RedisConnectionSettings;
  /** How long a message may stay unacknowledged before it is handed out again; 0 disables redelivery. */
  processingTimeoutMs: number;
  /** How often unacknowledged messages older than `processingTimeoutMs` are looked for; 0 disables redelivery. */
  redeliverIntervalMs: number;
  /** `MAXLEN ~` applied by every publish; 0 keeps streams unbounded. */
  maxLenApprox: number;
  /** Most entries one read or reclaim takes from Redis. */
  queueDepth: number;
  /** When set, caps each subscription's pending handler calls below the runtime's `maxInFlight`. */
  concurrency: number | undefined;
}

const DEFAULT_PROCESSING_TIMEOUT_MS = 15_000;
const DEFAULT_REDELIVER_INTERVAL_MS = 60_000;
const DEFAULT_QUEUE_DEPTH = 100;

export function parseRedisStreamsSettings(meta: ComponentMetadata): RedisStreamsSettings {
  // The fallback 0 is never a valid setting (min 1), so it stands for "not set".
  const concurrency = integerProperty(meta, 'concurrency', 0, 1);
  return {
    connection: { ...parseRedisAddress(meta), maxRetries: integerProperty(meta, 'redisMaxRetries', DEFAULT_MAX_RETRIES, 0) },
    processingTimeoutMs: durationProperty(meta, 'processingTimeout', DEFAULT_PROCESSING_TIMEOUT_MS),
    redeliverIntervalMs: durationProperty(meta, 'redeliverInterval', DEFAULT_REDELIVER_INTERVAL_MS),
    maxLenApprox: integerProperty(meta, 'maxLenApprox', 0, 0),
    queueDepth: integerProperty(meta, 'queueDepth', DEFAULT_QUEUE_DEPTH, 1),
    concurrency: concurrency === 0 ? undefined : concurrency,
  };
}

export function redeliveryEnabled(settings: RedisStreamsSettings): boolean {
  return settings.processingTimeoutMs > 0 && settings.redeliverIntervalMs > 0;
}
