// Starts the app's subscriptions once the app is up (declarative resources plus `GET /dapr/subscribe`), lists them
// for the metadata API, and stops them first at shutdown so no new message is taken while deliveries drain.

import type { Component } from '../resources/index.js';
import type { ComponentSet } from '../../components/registry.js';
import type { Subscription } from '../../components/pubsub/pubsub.js';
import { AppChannelError, type AppChannel } from '../appchannel/http-pool.js';
import { inboundPolicy } from '../appchannel/inbound-retry.js';
import type { RawResource, Resiliency } from '../resources/index.js';
import { createLogger } from '../runtime/logger.js';
import { callApp, describeFailure } from '../appchannel/call-app.js';
import { CLOUD_EVENT_CONTENT_TYPE } from './cloudevents.js';
import { parseDeclarativeSubscription, parseProgrammaticSubscriptions, type DiscardListener, type TopicSubscription } from './subscriptions.js';
import { TopicSubscriber } from './topic-subscriber.js';

const log = createLogger('pubsub');

/** Handler calls one subscription may have pending when --app-max-concurrency sets no bound. */
const DEFAULT_MAX_IN_FLIGHT = 64;
/** daprd's built-in retries of initialisation calls to the app: 3, exponential from 500 ms. */
const SUBSCRIBE_CALL_RETRIES = 3;
const SUBSCRIBE_CALL_FIRST_DELAY_MS = 500;

export interface SubscriptionManagerOptions {
  appId: string;
  appChannel: AppChannel;
  appApiToken: string;
  /** --app-max-concurrency; <= 0 for unbounded. */
  appMaxConcurrency: number;
  components: ComponentSet;
  declarative: readonly RawResource[];
  resiliency: readonly Resiliency[];
}

interface Active {
  subscriber: TopicSubscriber;
  subscription: Subscription;
}

export class SubscriptionManager {
  private readonly active: Active[] = [];
  private readonly declared: TopicSubscription[];
  private stopping = false;

  /** Reads the declarative subscriptions; a malformed one stops start-up like any bad resource. */
  constructor(private readonly options: SubscriptionManagerOptions) {
    const discard: DiscardListener = (source, reason) => log.warn(`${source}: subscription discarded: ${reason}`);
    this.declared = options.declarative.flatMap((resource) => parseDeclarativeSubscription(resource, discard) ?? []);
  }

  /** What is subscribed, for `/v1.0/metadata`. */
  list(): readonly TopicSubscription[] {
    return this.active.map((a) => a.subscriber.subscription);
  }

  /** Asks the app for its subscriptions and subscribes to every topic. A topic that fails is logged and skipped. */
  async start(): Promise<void> {
    const programmatic = await this.fetchProgrammatic();
    const seen = new Set<string>();
    for (const subscription of [...this.declared, ...programmatic]) {
      if (this.stopping) return;
      const key = `${subscription.pubsubName}\u0000${subscription.topic}`;
      if (seen.has(key)) {
        log.warn(`${subscription.source}: topic "${subscription.topic}" of pubsub "${subscription.pubsubName}" is already subscribed; ignored`);
        continue;
      }
      seen.add(key);
      await this.subscribe(subscription);
    }
  }

  /** Stops taking messages; deliveries in flight end on their own (the app channel drains them). */
  async close(): Promise<void> {
    this.stopping = true;
    for (const { subscriber } of this.active) subscriber.close();
    await Promise.all(
      this.active.map(({ subscriber, subscription }) =>
        subscription.close().catch((err: Error) => log.warn(`closing subscription to "${subscriber.subscription.topic}": ${err.message}`)),
      ),
    );
  }

  private async subscribe(subscription: TopicSubscription): Promise<void> {
    const { components, appId, appMaxConcurrency } = this.options;
    const { pubsubName, topic } = subscription;
    const pubsub = components.get('pubsub', pubsubName);
    if (pubsub === undefined) {
      log.warn(`${subscription.source}: pubsub "${pubsubName}" is not loaded; topic "${topic}" is not subscribed`);
      return;
    }
    const component = components.ofKind('pubsub').find((c) => c.component.name === pubsubName)!.component;
    const subscriber = new TopicSubscriber(subscription, {
      appChannel: this.options.appChannel,
      appApiToken: this.options.appApiToken,
      policy: inboundPolicy(this.options.resiliency, pubsubName, 'Pubsub'),
      publishDeadLetter: (deadLetterTopic, data) =>
        pubsub.publish({ topic: deadLetterTopic, data, contentType: CLOUD_EVENT_CONTENT_TYPE, metadata: {} }),
      logger: log,
    });
    const concurrency = appMaxConcurrency > 0 ? appMaxConcurrency : DEFAULT_MAX_IN_FLIGHT;
    try {
      const handle = await pubsub.subscribe(
        {
          topic,
          metadata: subscription.metadata,
          consumerId: subscription.metadata['consumerID'] || componentConsumerId(component) || appId,
          maxInFlight: Math.max(concurrency, subscription.bulk?.maxMessagesCount ?? 0),
        },
        subscriber.handler,
      );
      this.active.push({ subscriber, subscription: handle });
      log.info(`subscribed to topic "${topic}" on pubsub "${pubsubName}" (${subscription.type.toLowerCase()})`);
    } catch (err) {
      log.error(`subscribing to topic "${topic}" on pubsub "${pubsubName}" failed: ${(err as Error).message}`);
    }
  }

  private async fetchProgrammatic(): Promise<TopicSubscription[]> {
    const headers = this.options.appApiToken === '' ? [] : ['dapr-api-token', this.options.appApiToken];
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await callApp(this.options.appChannel, { method: 'GET', path: '/dapr/subscribe', headers, body: null }, 0);
        if (res.status === 404) return [];
        if (res.status < 200 || res.status > 299) {
          log.warn(`GET /dapr/subscribe answered ${res.status}; no programmatic subscriptions`);
          return [];
        }
        if (res.body.length === 0) return [];
        return parseProgrammaticSubscriptions(JSON.parse(res.body.toString('utf8')), (source, reason) =>
          log.warn(`${source}: subscription discarded: ${reason}`),
        );
      } catch (err) {
        if (!(err instanceof AppChannelError) || attempt >= SUBSCRIBE_CALL_RETRIES || this.stopping) {
          log.error(`GET /dapr/subscribe failed: ${describeFailure(err)}; no programmatic subscriptions`);
          return [];
        }
        await new Promise((resolve) => setTimeout(resolve, SUBSCRIBE_CALL_FIRST_DELAY_MS * 2 ** attempt));
      }
    }
  }
}

function componentConsumerId(component: Component): string {
  return component.metadata.find((item) => item.name.toLowerCase() === 'consumerid')?.value ?? '';
}
