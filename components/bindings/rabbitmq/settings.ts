// Component and request metadata of `bindings.rabbitmq`, with daprd's names and defaults. The connection may carry
// credentials, so no message ever repeats it.

import { booleanProperty, durationProperty, integerProperty, stringProperty } from '../../metadata.js';
import { parseTtlMs } from '../../pubsub/rabbitmq/metadata.js';
import { MAX_PREFETCH } from '../../rabbitmq/queue-consumer.js';
import type { ComponentMetadata } from '../../registry.js';
import type { BindingMetadata } from '../bindings.js';

export interface RabbitMQBindingSettings {
  /** Where to connect, credentials included. */
  url: string;
  /** The broker's address without credentials, for messages. */
  address: string;
  reconnectWaitMs: number;
  queueName: string;
  /** The queue survives a broker restart. */
  durable: boolean;
  /** The broker deletes the queue once its last consumer is gone. */
  deleteWhenUnused: boolean;
  /** Only this component's connection may use the queue, and the broker deletes it when that connection closes. */
  exclusive: boolean;
  /** The queue's x-message-ttl; undefined: messages wait until consumed. */
  queueTtlMs: number | undefined;
  /** The queue's x-max-priority; undefined: an ordinary queue. */
  maxPriority: number | undefined;
  /** Most unacknowledged messages on the reading channel; 0 leaves the bound to the runtime's maxInFlight. */
  prefetchCount: number;
  /** Of messages published without their own. */
  contentType: string;
}

/** daprd's default wait between connection attempts. */
const DEFAULT_RECONNECT_WAIT_MS = 5000;
/** A broker that is down would otherwise be retried without any pause. */
const MIN_RECONNECT_WAIT_MS = 100;
const MAX_PRIORITY = 255;
/** daprd's names of the TLS material; see parseSettings. */
const TLS_FIELDS = ['caCert', 'clientCert', 'clientKey'] as const;

export function parseSettings(meta: ComponentMetadata): RabbitMQBindingSettings {
  const queueName = stringProperty(meta, 'queueName', '');
  if (queueName === '') throw new Error('metadata "queueName" is required');
  // The shared AMQP connection takes no TLS socket options, so certificates given here could not be used: refusing
  // them beats connecting without them. amqps:// with the system's CAs works.
  for (const field of TLS_FIELDS) {
    if (stringProperty(meta, field, '') !== '') throw new Error(`metadata "${field}" is not supported; use an amqps:// host with a CA the system trusts`);
  }
  if (booleanProperty(meta, 'externalSasl', false)) throw new Error('metadata "externalSasl" is not supported (it needs a TLS client certificate)');
  const prefetchCount = integerProperty(meta, 'prefetchCount', 0, 0);
  if (prefetchCount > MAX_PREFETCH) throw new Error(`metadata "prefetchCount" must be at most ${MAX_PREFETCH}, got "${prefetchCount}"`);
  const maxPriority = integerProperty(meta, 'maxPriority', 0, 1);
  if (maxPriority > MAX_PRIORITY) throw new Error(`metadata "maxPriority" must be between 1 and ${MAX_PRIORITY}, got "${maxPriority}"`);
  const queueTtl = stringProperty(meta, 'ttlInSeconds', '');
  return {
    ...brokerUrl(meta),
    reconnectWaitMs: Math.max(MIN_RECONNECT_WAIT_MS, durationProperty(meta, ['reconnectWaitInSeconds', 'reconnectWait'], DEFAULT_RECONNECT_WAIT_MS)),
    queueName,
    durable: booleanProperty(meta, 'durable', false),
    deleteWhenUnused: booleanProperty(meta, 'deleteWhenUnused', false),
    exclusive: booleanProperty(meta, 'exclusive', false),
    queueTtlMs: queueTtl === '' ? undefined : parseTtlMs(queueTtl),
    maxPriority: maxPriority === 0 ? undefined : maxPriority,
    prefetchCount,
    contentType: stringProperty(meta, 'contentType', 'text/plain'),
  };
}

/** The AMQP properties a request's metadata sets: `ttlInSeconds`, `priority` and `contentType`, names ignoring case. */
export interface MessageOptions {
  expirationMs: number | undefined;
  priority: number | undefined;
  contentType: string | undefined;
}

export function messageOptions(metadata: BindingMetadata): MessageOptions {
  const request: ComponentMetadata = { name: 'request', type: 'bindings.rabbitmq', version: 'v1', properties: metadata };
  const ttl = stringProperty(request, 'ttlInSeconds', '');
  const priority = integerProperty(request, 'priority', -1, 0);
  if (priority > MAX_PRIORITY) throw new Error(`metadata "priority" must be between 0 and ${MAX_PRIORITY}, got "${priority}"`);
  const contentType = stringProperty(request, 'contentType', '');
  return {
    expirationMs: ttl === '' ? undefined : parseTtlMs(ttl),
    priority: priority < 0 ? undefined : priority,
    contentType: contentType === '' ? undefined : contentType,
  };
}

function brokerUrl(meta: ComponentMetadata): { url: string; address: string } {
  const raw = stringProperty(meta, 'host', '');
  if (raw === '') throw new Error('metadata "host" is required, e.g. "amqp://user:password@host:5672"');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('metadata "host" is not a URL such as amqp://user:password@host:5672/vhost');
  }
  if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') throw new Error(`metadata "host" must start with amqp:// or amqps://, got "${url.protocol}"`);
  return { url: url.href, address: `${url.protocol}//${url.host}${url.pathname === '/' || url.pathname === '' ? '' : url.pathname}` };
}

