// Component metadata of `state.redis` (names as daprd's) and the Redis connection built from it. The connection
// never queues commands while Redis is unreachable: calls fail at once and the client reconnects in the background,
// also when Redis was already unreachable at start-up.

import { Redis, type RedisOptions } from 'ioredis';
import { metadataValue, type ComponentMetadata } from '../../registry.js';
import { parseTtlSeconds } from '../store.js';
import type { Logger } from '../../../proxy/runtime/logger.js';

export interface RedisSettings {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls: boolean;
  /** Reconnection attempts a command already sent waits through before it fails. */
  maxRetries: number;
  /** Applied to writes whose request has no `ttlInSeconds`; undefined for none. */
  defaultTtlSeconds: number | undefined;
}

const DEFAULT_PORT = 6379;
const DEFAULT_MAX_RETRIES = 3;
/**
 * Bounds on opening a TCP connection, then on Redis answering the handshake (AUTH, SELECT, ready check) over it.
 * Together they stay below the default component init timeout, so start-up never waits it out on a silent server.
 */
const CONNECT_TIMEOUT_MS = 2000;
const HANDSHAKE_TIMEOUT_MS = 2000;
const RECONNECT_STEP_MS = 100;
const RECONNECT_MAX_DELAY_MS = 2000;
const TRUTHY = new Set(['true', '1', 'y', 'yes', 'on']);

function integer(meta: ComponentMetadata, name: string, fallback: number, min: number): number {
  const raw = metadataValue(meta, name)?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^[+-]?\d+$/.test(raw) || value < min) throw new Error(`metadata "${name}" must be an integer >= ${min}, got "${raw}"`);
  return value;
}

function parseHost(raw: string): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(raw);
  if (bracketed !== null) return { host: bracketed[1]!, port: bracketed[2] === undefined ? DEFAULT_PORT : Number(bracketed[2]) };
  const colon = raw.lastIndexOf(':');
  if (colon === -1) return { host: raw, port: DEFAULT_PORT };
  const port = raw.slice(colon + 1);
  if (!/^\d+$/.test(port) || Number(port) > 65535) throw new Error(`metadata "redisHost" has an invalid port: "${raw}"`);
  return { host: raw.slice(0, colon), port: Number(port) };
}

export function parseRedisSettings(meta: ComponentMetadata): RedisSettings {
  const address = metadataValue(meta, 'redisHost')?.trim();
  if (address === undefined || address === '') throw new Error('metadata "redisHost" is required (host:port)');
  const redisType = metadataValue(meta, 'redisType')?.trim().toLowerCase();
  if (redisType !== undefined && redisType !== '' && redisType !== 'node') {
    throw new Error(`metadata "redisType" "${redisType}" is not supported; only "node" is`);
  }
  if (TRUTHY.has(metadataValue(meta, 'failover')?.trim().toLowerCase() ?? '')) throw new Error('metadata "failover" (Sentinel) is not supported');
  const ttl = metadataValue(meta, 'ttlInSeconds');
  const settings: RedisSettings = {
    ...parseHost(address),
    db: integer(meta, 'redisDB', 0, 0),
    tls: TRUTHY.has(metadataValue(meta, 'enableTLS')?.trim().toLowerCase() ?? ''),
    maxRetries: integer(meta, 'maxRetries', DEFAULT_MAX_RETRIES, 0),
    defaultTtlSeconds: ttl === undefined ? undefined : parseTtlSeconds({ ttlInSeconds: ttl.trim() }),
  };
  const username = metadataValue(meta, 'redisUsername');
  const password = metadataValue(meta, 'redisPassword');
  if (username !== undefined && username !== '') settings.username = username;
  if (password !== undefined && password !== '') settings.password = password;
  return settings;
}

export function describeAddress(settings: RedisSettings): string {
  return settings.host.includes(':') ? `[${settings.host}]:${settings.port}` : `${settings.host}:${settings.port}`;
}

/**
 * Answers by which a reachable Redis refuses the component's settings (credentials, database index): waiting for
 * the server cannot fix them, so they fail start-up. Every other failure is treated as the server being away.
 */
const REFUSED_SETTINGS = /^(WRONGPASS|NOAUTH)\b|invalid password|DB index is out of range/;

function refusesSettings(err: Error): boolean {
  return err.name === 'ReplyError' && REFUSED_SETTINGS.test(err.message);
}

const CONNECTION_CLOSED = new Error('the connection was closed');

/**
 * One Redis client and what is known about its connection. The client reconnects by itself whenever the
 * connection is lost; meanwhile `unavailable()` explains why calls cannot be served.
 */
export class RedisConnection {
  /** Why the client is not ready; undefined while it is. */
  private cause: Error | undefined;
  /** Whether the loss of the connection has been reported; true until the first connection too, which open() reports. */
  private lost = true;
  private closing = false;

  private constructor(
    readonly client: Redis,
    readonly address: string,
    logger: Logger,
  ) {
    client.on('error', (err: Error) => {
      this.cause = err;
      logger.debug(`Redis at ${address}: ${err.message}`);
    });
    // ioredis waits for the handshake answers without a bound: a server that accepts and stays silent would hold
    // the connection attempt forever. Dropping the connection lets the reconnection strategy try again.
    let handshake: NodeJS.Timeout | undefined;
    client.on('connect', () => {
      handshake = setTimeout(() => {
        this.cause = new Error(`no answer to the handshake within ${HANDSHAKE_TIMEOUT_MS} ms`);
        // Destroyed rather than ended: a silent server may never finish a graceful close either.
        client.stream.destroy();
      }, HANDSHAKE_TIMEOUT_MS);
    });
    client.on('close', () => {
      clearTimeout(handshake);
      if (this.closing) return;
      this.cause ??= CONNECTION_CLOSED;
      if (this.lost) return;
      this.lost = true;
      logger.warn(`connection to Redis at ${address} lost (${this.cause.message}); reconnecting`);
    });
    client.on('ready', () => {
      clearTimeout(handshake);
      const recovered = this.cause !== undefined;
      this.cause = undefined;
      this.lost = false;
      if (recovered) logger.info(`connected to Redis at ${address}`);
    });
  }

  /**
   * Makes the first connection attempt. Resolves once it succeeds, or once it fails for want of a server (which is
   * logged; the client keeps reconnecting in the background). Rejects when Redis answers that the settings are wrong.
   */
  static async open(settings: RedisSettings, logger: Logger): Promise<RedisConnection> {
    const options: RedisOptions = {
      host: settings.host,
      port: settings.port,
      db: settings.db,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: settings.maxRetries,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: (attempt) => Math.min(attempt * RECONNECT_STEP_MS, RECONNECT_MAX_DELAY_MS),
    };
    if (settings.username !== undefined) options.username = settings.username;
    if (settings.password !== undefined) options.password = settings.password;
    if (settings.tls) options.tls = {};
    const connection = new RedisConnection(new Redis(options), describeAddress(settings), logger);
    // connect() itself often rejects with only "Connection is closed."; the error event before it names the cause.
    // A refused SELECT does not even fail connect(): only its error event tells.
    let firstError: Error | undefined;
    const remember = (err: Error): void => {
      firstError ??= err;
    };
    connection.client.on('error', remember);
    let failure: Error | undefined;
    try {
      await connection.client.connect();
    } catch (err) {
      failure = err as Error;
    } finally {
      connection.client.off('error', remember);
    }
    const cause = firstError ?? connection.cause ?? failure;
    if (cause !== undefined && refusesSettings(cause)) {
      connection.client.disconnect();
      throw new Error(`cannot connect to Redis at ${connection.address}: ${cause.message}`, { cause });
    }
    if (failure !== undefined) {
      connection.cause = cause;
      logger.warn(`Redis at ${connection.address} is unreachable (${cause?.message}); starting without it and reconnecting in the background`);
    }
    return connection;
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /** Why a call cannot be served; `err` is the failure of a call already sent, when there was one. */
  unavailable(err?: unknown): Error {
    if (this.closing) return new Error('the Redis state store is closed', { cause: err });
    const cause = err instanceof Error ? err : this.cause;
    const detail = cause === undefined ? `connection ${this.client.status}` : cause.message;
    return new Error(`state.redis: Redis at ${this.address} is unavailable: ${detail} (reconnecting)`, { cause });
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.client.status === 'ready') {
      try {
        await this.client.quit();
        return;
      } catch {
        // The connection broke while quitting; dropping it below is all that is left to do.
      }
    }
    this.client.disconnect();
  }
}
