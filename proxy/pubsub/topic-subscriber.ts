// One subscription's message path: decode the CloudEvent (or wrap a raw payload), drop it if expired, pick the route,
// deliver it to the app (alone with the inbound retry policy, or in a bulk batch), then decide its fate: acknowledge,
// send to the dead-letter topic, or reject so the broker delivers it again. Rejecting is the only way a message is
// given back, so an event is acknowledged only once the app took it, dropped it, or the dead-letter topic has it.

import { randomUUID } from 'node:crypto';
import { isTruthy } from '../../components/metadata.js';
import type { Message, MessageHandler } from '../../components/pubsub/pubsub.js';
import type { AppChannel } from '../appchannel/http-pool.js';
import { deliverWithRetries, type InboundPolicy } from '../appchannel/inbound-retry.js';
import { isWritableHeader } from '../http/header-safety.js';
import type { Logger } from '../runtime/logger.js';
import { callApp, describeFailure } from '../appchannel/call-app.js';
import { eventResult, type DeliveryResult } from './app-delivery.js';
import { BulkBatcher } from './bulk-batcher.js';
import { CLOUD_EVENT_CONTENT_TYPE, rawPayloadEvent, serializeCloudEvent } from './cloudevents.js';
import type { TopicSubscription } from './subscriptions.js';

export interface TopicSubscriberOptions {
  appChannel: AppChannel;
  /** APP_API_TOKEN, sent as `dapr-api-token`; '' for none. */
  appApiToken: string;
  policy: InboundPolicy | null;
  /** Publishes the message's event, unchanged, to `topic` on the subscription's pub/sub. */
  publishDeadLetter(topic: string, data: Uint8Array): Promise<void>;
  logger: Logger;
}

interface DecodedEvent {
  event: Record<string, unknown>;
  /** What the app receives: the message's own bytes, or the envelope made for a raw payload. */
  body: Uint8Array;
}

const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'host', 'connection', 'transfer-encoding', 'traceparent', 'tracestate', 'pubsubname', 'dapr-api-token']);

export class TopicSubscriber {
  private readonly rawPayload: boolean;
  private readonly bulk: BulkBatcher | null;
  private closed = false;

  constructor(
    readonly subscription: TopicSubscription,
    private readonly options: TopicSubscriberOptions,
  ) {
    this.rawPayload = isTruthy(subscription.metadata['rawPayload']);
    this.bulk =
      subscription.bulk === null
        ? null
        : new BulkBatcher(subscription.bulk, {
            appChannel: options.appChannel,
            headers: this.baseHeaders('application/json'),
            pubsubName: subscription.pubsubName,
            topic: subscription.topic,
            timeoutMs: options.policy?.timeoutMs ?? 0,
          });
  }

  readonly handler: MessageHandler = async (message) => {
    const logger = this.options.logger;
    let decoded: DecodedEvent;
    try {
      decoded = this.decode(message);
    } catch (err) {
      return this.settle(message.data, { outcome: 'retry', reason: (err as Error).message }, false);
    }
    const { event, body } = decoded;
    if (isExpired(event)) {
      logger.warn(`dropping expired event ${String(event['id'])} on topic "${this.subscription.topic}" (expiration ${String(event['expiration'])})`);
      return;
    }
    const path = this.subscription.routes.pathFor(event);
    if (path === null) {
      logger.debug(`no route matches event ${String(event['id'])} on topic "${this.subscription.topic}"`);
      return this.settle(body, { outcome: 'drop', reason: 'no route matched' }, false);
    }
    const target = path.startsWith('/') ? path : `/${path}`;
    if (this.bulk !== null) {
      const entry = this.rawPayload
        ? { entryId: randomUUID(), event: Buffer.from(message.data).toString('base64'), contentType: 'application/octet-stream', metadata: message.metadata }
        : { entryId: randomUUID(), event, contentType: CLOUD_EVENT_CONTENT_TYPE, metadata: message.metadata };
      return this.settle(body, await this.bulk.add(target, entry), true);
    }
    return this.settle(body, await this.deliver(target, this.eventHeaders(event, message), body), true);
  };

  /** Stops retrying: pending deliveries end with a rejection, and bulk batches go out now. */
  close(): void {
    this.closed = true;
    this.bulk?.flushAll();
  }

  private decode(message: Message): DecodedEvent {
    if (this.rawPayload) {
      const event = rawPayloadEvent(message.data, this.subscription.topic, this.subscription.pubsubName);
      return { event, body: serializeCloudEvent(event) };
    }
    let event: unknown;
    try {
      event = JSON.parse(Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength).toString('utf8'));
    } catch (err) {
      throw new Error(`error deserializing cloud event on topic "${this.subscription.topic}": ${(err as Error).message}`);
    }
    if (typeof event !== 'object' || event === null || Array.isArray(event)) {
      throw new Error(`error deserializing cloud event on topic "${this.subscription.topic}": not a JSON object`);
    }
    return { event: event as Record<string, unknown>, body: message.data };
  }

  private deliver(path: string, headers: string[], body: Uint8Array): Promise<DeliveryResult> {
    const { appChannel, policy, logger } = this.options;
    return deliverWithRetries<DeliveryResult>(policy, {
      attempt: () =>
        callApp(appChannel, { method: 'POST', path, headers, body }, policy?.timeoutMs ?? 0).then(eventResult, (err: unknown) => ({
          outcome: 'retry',
          reason: describeFailure(err),
        })),
      failed: (result) => result.outcome === 'retry',
      stopped: () => this.closed,
      onRetry: (result) => logger.debug(`retrying delivery on topic "${this.subscription.topic}" (${result.reason})`),
    });
  }

  /** Acknowledges (returns), dead-letters, or rejects (throws) according to the delivery's result. */
  private async settle(body: Uint8Array, result: DeliveryResult, reachedApp: boolean): Promise<void> {
    const { topic, deadLetterTopic } = this.subscription;
    if (result.outcome === 'success') return;
    // Retries cut short by shutdown are not exhausted: the broker delivers the message again, to whoever is next.
    if (result.outcome === 'retry' && this.closed) throw new Error(`delivery on topic "${topic}" stopped by shutdown: ${result.reason}`);
    if (deadLetterTopic !== '') {
      try {
        await this.options.publishDeadLetter(deadLetterTopic, body);
      } catch (err) {
        throw new Error(`event on topic "${topic}" could not go to dead-letter topic "${deadLetterTopic}": ${(err as Error).message}`, { cause: err });
      }
      this.options.logger.warn(`event on topic "${topic}" sent to dead-letter topic "${deadLetterTopic}": ${result.reason}`);
      return;
    }
    if (result.outcome === 'drop') {
      if (reachedApp) this.options.logger.warn(`dropping event on topic "${topic}": ${result.reason}`);
      return;
    }
    throw new Error(`delivery on topic "${topic}" failed: ${result.reason}`);
  }

  private baseHeaders(contentType: string): string[] {
    const headers = ['content-type', contentType, 'pubsubname', this.subscription.pubsubName];
    if (this.options.appApiToken !== '') headers.push('dapr-api-token', this.options.appApiToken);
    return headers;
  }

  private eventHeaders(event: Record<string, unknown>, message: Message): string[] {
    const headers = this.baseHeaders(CLOUD_EVENT_CONTENT_TYPE);
    const traceparent = event['traceparent'] ?? event['traceid'];
    if (typeof traceparent === 'string' && traceparent !== '') headers.push('traceparent', traceparent);
    const tracestate = event['tracestate'];
    if (typeof tracestate === 'string' && tracestate !== '') headers.push('tracestate', tracestate);
    for (const name of Object.keys(message.metadata)) {
      const value = message.metadata[name]!;
      if (isWritableHeader(name, value) && !RESERVED_HEADERS.has(name.toLowerCase())) headers.push(name, value);
    }
    return headers;
  }
}

function isExpired(event: Record<string, unknown>): boolean {
  const expiration = event['expiration'];
  if (typeof expiration !== 'string' || expiration === '') return false;
  const at = Date.parse(expiration);
  return Number.isFinite(at) && at < Date.now();
}
