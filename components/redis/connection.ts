// The Redis connection the Redis components share: where to connect (metadata names as daprd's) and one client
// that never queues commands while Redis is unreachable: calls fail at once and the client reconnects in the
// background, also when Redis was already unreachable at start-up.

import { Redis, type RedisOptions } from 'ioredis';
import { booleanProperty, integerProperty, stringProperty } from '../metadata.js';
import { metadataValue, type ComponentMetadata } from '../registry.js';
import type { Logger } from '../../proxy/runtime/logger.js';

/** Where Redis is and how to log in: `redisHost`, `redisUsername`, `redisPassword`, `redisDB`, `enableTLS`. */
export interface RedisAddress {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls: boolean;
}

export interface RedisConnectionSettings extends RedisAddress {
  /** Reconnection attempts a command already sent waits through before it fails. */
  maxRetries: number;
}

export interface RedisConnectionOptions {
  /** The component type, which error messages name. */
  component: string;
  logger: Logger;
  /**
   * The connection carries blocking reads: a command in flight when the connection is lost fails instead of
   * being sent again (its caller re-issues it, knowing what changed), and closing drops the connection at once
   * instead of queueing QUIT behind a read that may block for seconds.
   */
  blocking?: boolean;
}

const DEFAULT_PORT = 6379;
/** daprd's default for the retries of a command sent when the connection was lost. */
export const DEFAULT_MAX_RETRIES = 3;
/**
 * Bounds on opening a TCP connection, then on Redis answering the handshake (AUTH, SELECT, ready check) over it.
 * Together they stay below the default component init timeout, so start-up never waits it out on a silent server.
 */
const CONNECT_TIMEOUT_MS = 2000;
const HANDSHAKE_TIMEOUT_MS = 2000;
const RECONNECT_STEP_MS = 100;
const RECONNECT_MAX_DELAY_MS = 2000;

function parseHost(raw: string): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(raw);
  if (bracketed !== null) return { host: bracketed[1]!, port: bracketed[2] === undefined ? DEFAULT_PORT : Number(bracketed[2]) };
  const colon = raw.lastIndexOf(':');
  if (colon === -1) return { host: raw, port: DEFAULT_PORT };
  const port = raw.slice(colon + 1);
  if (!/^\d+$/.test(port) || Number(port) > 65535) throw new Error(`metadata "redisHost" has an invalid port: "${raw}"`);
  return { host: raw.slice(0, colon), port: Number(port) };
}

/** The address part of a Redis component's metadata; only a single node is supported (no cluster, no Sentinel). */
export function parseRedisAddress(meta: ComponentMetadata): RedisAddress {
  const address = stringProperty(meta, 'redisHost', '');
  if (address === '') throw new Error('metadata "redisHost" is required (host:port)');
  const redisType = stringProperty(meta, 'redisType', 'node').toLowerCase();
  if (redisType !== 'node') throw new Error(`metadata "redisType" "${redisType}" is not supported; only "node" is`);
  if (booleanProperty(meta, 'failover', false)) throw new Error('metadata "failover" (Sentinel) is not supported');
  const parsed: RedisAddress = {
    ...parseHost(address),
    db: integerProperty(meta, 'redisDB', 0, 0),
    tls: booleanProperty(meta, 'enableTLS', false),
  };
  // Credentials are taken untrimmed: spaces may be part of a password.
  const username = metadataValue(meta, 'redisUsername');
  const password = metadataValue(meta, 'redisPassword');
  if (username !== undefined && username !== '') parsed.username = username;
  if (password !== undefined && password !== '') parsed.password = password;
  return parsed;
}

function describeAddress(address: RedisAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
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

/** What ioredis says when it cannot write a command because the socket went away. */
const SOCKET_GONE_MESSAGES: ReadonlySet<string> = new Set([
  "Stream isn't writeable and enableOfflineQueue options is false",
  'Connection is closed.',
]);

interface ReadyWaiter {
  resolve(): void;
  reject(err: Error): void;
}

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
  private readonly readyWaiters = new Set<ReadyWaiter>();

  private constructor(
    readonly client: Redis,
    readonly address: string,
    private readonly options: RedisConnectionOptions,
  ) {
    const { logger } = options;
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
      for (const waiter of this.readyWaiters) waiter.resolve();
      this.readyWaiters.clear();
    });
  }

  /**
   * Makes the first connection attempt. Resolves once it succeeds, or once it fails for want of a server (which is
   * logged; the client keeps reconnecting in the background). Rejects when Redis answers that the settings are wrong.
   */
  static async open(settings: RedisConnectionSettings, options: RedisConnectionOptions): Promise<RedisConnection> {
    const clientOptions: RedisOptions = {
      host: settings.host,
      port: settings.port,
      db: settings.db,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: options.blocking === true ? 0 : settings.maxRetries,
      autoResendUnfulfilledCommands: options.blocking !== true,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: (attempt) => Math.min(attempt * RECONNECT_STEP_MS, RECONNECT_MAX_DELAY_MS),
    };
    if (settings.username !== undefined) clientOptions.username = settings.username;
    if (settings.password !== undefined) clientOptions.password = settings.password;
    if (settings.tls) clientOptions.tls = {};
    const connection = new RedisConnection(new Redis(clientOptions), describeAddress(settings), options);
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
      options.logger.warn(`Redis at ${connection.address} is unreachable (${cause?.message}); starting without it and reconnecting in the background`);
    }
    return connection;
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  get closed(): boolean {
    return this.closing;
  }

  /** Resolves once the connection is ready (at once if it is); rejects when the connection is closed first. */
  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    if (this.closing) return Promise.reject(this.unavailable());
    return new Promise((resolve, reject) => this.readyWaiters.add({ resolve, reject }));
  }

  /**
   * Whether `err`, the failure of a call, comes from a lost connection. ioredis may fail a call on a socket that has
   * closed before it reports the close (its status still "ready"), with one of its own messages.
   */
  lostBy(err: unknown): boolean {
    return !this.ready || (err instanceof Error && SOCKET_GONE_MESSAGES.has(err.message));
  }

  /** Why a call cannot be served; `err` is the failure of a call already sent, when there was one. */
  unavailable(err?: unknown): Error {
    if (this.closing) return new Error(`the ${this.options.component} component is closed`, { cause: err });
    const cause = err instanceof Error ? err : this.cause;
    const detail = cause === undefined ? `connection ${this.client.status}` : cause.message;
    return new Error(`${this.options.component}: Redis at ${this.address} is unavailable: ${detail} (reconnecting)`, { cause });
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = this.unavailable();
    for (const waiter of this.readyWaiters) waiter.reject(closed);
    this.readyWaiters.clear();
    if (this.client.status === 'ready' && this.options.blocking !== true) {
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
