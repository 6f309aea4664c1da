// `pubsub.redis`: topics as Redis Streams, after daprd's component of the same type, so daprd and Pillion can
// share topics. Publishing appends to the stream named after the topic; each consumer id is a consumer group,
// each subscription a consumer in it. A message is acknowledged (XACK) once its handler resolved; one that was
// rejected, or whose subscriber died holding it, stays pending and is handed out again once it has been pending
// longer than `processingTimeout` (checked every `redeliverInterval`).

import { createLogger } from '../../../proxy/runtime/logger.js';
import { RedisConnection } from '../../redis/connection.js';
import { registerComponent } from '../../registry.js';
import { OpenSubscriptions, type MessageHandler, type PubSub, type PubSubFeature, type PublishRequest, type SubscribeRequest, type Subscription } from '../pubsub.js';
import { pushEntryFields, type CommandArg } from './entries.js';
import { parseRedisStreamsSettings, redeliveryEnabled, type RedisStreamsSettings } from './settings.js';
import { StreamSubscription } from './subscription.js';

const COMPONENT = 'pubsub.redis';
const logger = createLogger(COMPONENT);

export class RedisStreamsPubSub implements PubSub {
  private readonly subscriptions = new OpenSubscriptions();

  private constructor(
    private readonly commands: RedisConnection,
    private readonly settings: RedisStreamsSettings,
  ) {}

  /**
   * A pub/sub over `settings`. Redis being unreachable does not fail it: publishing fails fast and subscriptions
   * wait until the background reconnection succeeds. Only Redis refusing the settings (credentials, database) does.
   */
  static async open(settings: RedisStreamsSettings): Promise<RedisStreamsPubSub> {
    if (!redeliveryEnabled(settings)) {
      logger.info('redelivery is disabled (processingTimeout or redeliverInterval is 0): rejected messages stay pending in Redis');
    }
    return new RedisStreamsPubSub(await RedisConnection.open(settings.connection, { component: COMPONENT, logger }), settings);
  }

  features(): readonly PubSubFeature[] {
    return [];
  }

  async publish(req: PublishRequest): Promise<void> {
    if (!this.commands.ready) throw this.commands.unavailable();
    const args: CommandArg[] = [req.topic];
    if (this.settings.maxLenApprox > 0) args.push('MAXLEN', '~', this.settings.maxLenApprox);
    args.push('*');
    pushEntryFields(args, req);
    try {
      await this.commands.client.callBuffer('XADD', args);
    } catch (err) {
      throw this.commands.ready ? new Error(`${COMPONENT}: publishing to "${req.topic}" failed: ${(err as Error).message}`, { cause: err }) : this.commands.unavailable(err);
    }
  }

  async subscribe(req: SubscribeRequest, handler: MessageHandler): Promise<Subscription> {
    if (this.commands.closed) throw this.commands.unavailable();
    const limit = Math.max(1, Math.min(req.maxInFlight, this.settings.concurrency ?? Number.POSITIVE_INFINITY));
    const reader = await RedisConnection.open(this.settings.connection, { component: COMPONENT, logger, blocking: true });
    if (this.commands.closed) {
      await reader.close();
      throw this.commands.unavailable();
    }
    const subscription = new StreamSubscription({ topic: req.topic, group: req.consumerId, limit }, handler, reader, this.commands, this.settings, logger);
    try {
      await subscription.start();
    } catch (err) {
      await subscription.close();
      throw new Error(`${COMPONENT}: subscribing to "${req.topic}" as "${req.consumerId}" failed: ${(err as Error).message}`, { cause: err });
    }
    return this.subscriptions.track(subscription);
  }

  async close(): Promise<void> {
    await this.subscriptions.closeAll();
    await this.commands.close();
  }
}

registerComponent({
  type: COMPONENT,
  versions: ['v1'],
  kind: 'pubsub',
  create: (meta) => RedisStreamsPubSub.open(parseRedisStreamsSettings(meta)),
});
