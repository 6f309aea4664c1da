// Component metadata of `pubsub.rabbitmq`, with daprd's names and defaults. A few of daprd's switches would weaken
// the pub/sub contract (a rejected message always comes back, publishing resolves once the broker has the message),
// so they are read and checked but cannot turn that off: see IGNORED_SWITCHES.

import { parseGoDuration } from '../../../proxy/resources/duration.js';
import { booleanProperty, durationProperty, integerProperty, stringProperty } from '../../metadata.js';
import { MAX_PREFETCH } from '../../rabbitmq/queue-consumer.js';
import { metadataValue, type ComponentMetadata } from '../../registry.js';

const EXCHANGE_KINDS = ['fanout', 'topic', 'direct', 'headers'] as const;
export type ExchangeKind = (typeof EXCHANGE_KINDS)[number];

export interface RabbitMQSettings {
  /** Where to connect, credentials included. */
  url: string;
  /** The broker's address without credentials, for messages. */
  address: string;
  /** Queues survive a broker restart. */
  durable: boolean;
  /** The broker deletes a queue once its last consumer is gone (and with it the messages waiting in it). */
  deleteWhenUnused: boolean;
  /** deliveryMode 2: the broker writes messages to disk. */
  persistent: boolean;
  /** Most unacknowledged messages per subscription; 0 leaves the bound to the subscription's maxInFlight. */
  prefetchCount: number;
  /** `concurrencyMode: single`: one handler call at a time per subscription. */
  singleConcurrency: boolean;
  reconnectWaitMs: number;
  /** Queue length limits (x-max-length, x-max-length-bytes); 0 for none. */
  maxLen: number;
  maxLenBytes: number;
  exchangeKind: ExchangeKind;
  /** Messages that expire or overflow a queue go to `dlq-{queue}` through the exchange `dlx-{queue}`. */
  enableDeadLetter: boolean;
  /** Expiration of messages published without their own `ttlInSeconds`; undefined for none. */
  defaultTtlMs: number | undefined;
  /** Switches set to a value this component does not honour, for a warning at start-up. */
  ignored: string[];
}

const DEFAULT_RECONNECT_WAIT_MS = 3000;
/** daprd's examples set `reconnectWait: 0`; retrying a broker that is down without any pause would spin. */
const MIN_RECONNECT_WAIT_MS = 100;
const PROTOCOLS = ['amqp', 'amqps'];

/**
 * daprd switches, with the value that would weaken the contract. Rejected messages are always requeued, messages
 * are acknowledged only once their handler resolved, and every publish waits for the broker's confirm.
 */
const IGNORED_SWITCHES: ReadonlyArray<readonly [name: string, weakening: boolean]> = [
  ['autoAck', true],
  ['requeueInFailure', false],
  ['publisherConfirm', false],
];

export function parseSettings(meta: ComponentMetadata): RabbitMQSettings {
  const { url, address } = brokerUrl(meta);
  const deliveryMode = integerProperty(meta, 'deliveryMode', 0, 0);
  if (deliveryMode > 2) throw new Error(`metadata "deliveryMode" must be 0, 1 or 2 (2 is persistent), got "${deliveryMode}"`);
  const prefetchCount = integerProperty(meta, 'prefetchCount', 0, 0);
  if (prefetchCount > MAX_PREFETCH) throw new Error(`metadata "prefetchCount" must be at most ${MAX_PREFETCH}, got "${prefetchCount}"`);
  const ignored = IGNORED_SWITCHES.filter(([name, weakening]) => booleanProperty(meta, name, !weakening) === weakening).map(
    ([name, weakening]) => `${name}: ${weakening}`,
  );
  const defaultTtl = stringProperty(meta, 'ttlInSeconds', '');
  return {
    url,
    address,
    durable: booleanProperty(meta, 'durable', true),
    deleteWhenUnused: booleanProperty(meta, 'deletedWhenUnused', true),
    persistent: deliveryMode === 2,
    prefetchCount,
    singleConcurrency: concurrencyMode(meta) === 'single',
    reconnectWaitMs: Math.max(MIN_RECONNECT_WAIT_MS, durationProperty(meta, ['reconnectWaitSeconds', 'reconnectWait'], DEFAULT_RECONNECT_WAIT_MS)),
    maxLen: integerProperty(meta, 'maxLen', 0, 0),
    maxLenBytes: integerProperty(meta, 'maxLenBytes', 0, 0),
    exchangeKind: exchangeKind(meta),
    enableDeadLetter: booleanProperty(meta, 'enableDeadLetter', false),
    defaultTtlMs: defaultTtl === '' ? undefined : parseTtlMs(defaultTtl),
    ignored,
  };
}

/**
 * A `ttlInSeconds` value as daprd reads it: whole seconds, or a Go duration ("90s", "1m30s"); it must be positive.
 * Returns milliseconds, the unit of an AMQP expiration.
 */
export function parseTtlMs(raw: string): number {
  let ms: number;
  if (/^[+-]?\d+$/.test(raw)) ms = Number(raw) * 1000;
  else {
    try {
      ms = parseGoDuration(raw);
    } catch {
      throw new Error(`"ttlInSeconds" must be a number of seconds or a duration such as "90s", got "${raw}"`);
    }
  }
  if (!(ms >= 1)) throw new Error(`"ttlInSeconds" must be positive, got "${raw}"`);
  return Math.round(ms);
}

function brokerUrl(meta: ComponentMetadata): { url: string; address: string } {
  // `host` is daprd's deprecated name of the connection string.
  const connectionString = stringProperty(meta, 'connectionString', stringProperty(meta, 'host', ''));
  const protocol = stringProperty(meta, 'protocol', '');
  if (protocol !== '' && !PROTOCOLS.includes(protocol)) throw new Error(`metadata "protocol" must be "amqp" or "amqps", got "${protocol}"`);
  let url: URL;
  if (connectionString !== '') {
    try {
      url = new URL(connectionString);
    } catch {
      throw new Error('metadata "connectionString" is not a URL such as amqp://user:password@host:5672/vhost');
    }
    const scheme = url.protocol.slice(0, -1);
    if (!PROTOCOLS.includes(scheme)) throw new Error(`metadata "connectionString" must start with amqp:// or amqps://, got "${scheme}:"`);
    if (protocol !== '' && protocol !== scheme) throw new Error(`metadata "protocol" "${protocol}" does not match the connection string's "${scheme}"`);
  } else {
    const hostname = stringProperty(meta, 'hostname', 'localhost');
    try {
      url = new URL(`${protocol || 'amqp'}://${hostname}`);
    } catch {
      throw new Error(`metadata "hostname" is not a host name, got "${hostname}"`);
    }
    // Assigned, not interpolated: the URL setters escape what a user name or password may contain.
    url.username = stringProperty(meta, 'username', '');
    url.password = stringProperty(meta, 'password', '');
  }
  return { url: url.href, address: `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}` };
}


function concurrencyMode(meta: ComponentMetadata): string {
  // daprd reads `concurrencyMode`; its component manifest calls it `concurrency`.
  const name = metadataValue(meta, 'concurrencyMode') === undefined ? 'concurrency' : 'concurrencyMode';
  const mode = stringProperty(meta, name, 'parallel').toLowerCase();
  if (mode !== 'parallel' && mode !== 'single') throw new Error(`metadata "${name}" must be "parallel" or "single", got "${mode}"`);
  return mode;
}

function exchangeKind(meta: ComponentMetadata): ExchangeKind {
  const kind = stringProperty(meta, 'exchangeKind', 'fanout').toLowerCase();
  const known = EXCHANGE_KINDS.find((k) => k === kind);
  if (known === undefined) throw new Error(`metadata "exchangeKind" must be one of ${EXCHANGE_KINDS.join(', ')}, got "${kind}"`);
  return known;
}
