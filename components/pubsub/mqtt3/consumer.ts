// The connection of one consumer id. MQTT keeps one session per client id (a second connection with the same id
// pushes the first off), so every subscription of a consumer id shares this connection, whose client id is the
// consumer id itself, as daprd's mqtt3 uses it. Without a clean session the broker keeps the subscriptions and
// queues QoS 1 messages while the consumer is away.
//
// A message is acknowledged (PUBACK) only once its handler resolved. Until then it holds one of the broker's
// in-flight slots for this client (Mosquitto: max_inflight_messages, 20 by default), which bounds what waits here
// and, above it, the subscriptions' maxInFlight. Handlers finish in any order and so do the PUBACKs: MQTT 3.1.1
// §4.6 asks for the order of receipt, but brokers (Mosquitto among them) match a PUBACK by its packet id, and
// acknowledging in order would let one message in back-off hold up every topic of the consumer.
// A message for a topic no subscription takes yet (right after connecting, the session's messages arrive before
// the subscriptions are re-made) is parked until one does.

import type { IConnackPacket, IPublishPacket } from 'mqtt';
import type { Logger } from '../../../proxy/runtime/logger.js';
import type { MessageHandler } from '../pubsub.js';
import { BrokerConnection, writePuback } from './connection.js';
import { Dispatcher, type Received, type ReceivedOwner } from './dispatcher.js';
import type { Mqtt3Settings } from './settings.js';
import type { TopicFilter } from './topic-filter.js';

/** Passed to MQTT.js's handleMessage callback so that it does not send the PUBACK itself. */
const ACKNOWLEDGED_LATER = new Error('acknowledged once handled');

export class ConsumerConnection implements ReceivedOwner {
  private readonly connection: BrokerConnection;
  private readonly dispatchers: Dispatcher[] = [];
  private parked: Received[] = [];
  /** The current connection of the client: 1 for the first, one more for every reconnection. */
  private generation = 0;
  /** The last generation that started without a stored session; nothing received before it comes back. */
  private freshSince = 0;

  constructor(
    readonly consumerId: string,
    private readonly settings: Mqtt3Settings,
    private readonly logger: Logger,
    componentType: string,
  ) {
    const label = `consumer "${consumerId}" of ${componentType}`;
    this.connection = new BrokerConnection(settings, { clientId: consumerId, clean: settings.cleanSession, label, logger });
    const client = this.connection.client;
    client.handleMessage = (packet, callback) => {
      this.route(packet);
      callback(ACKNOWLEDGED_LATER);
    };
    // Not 'connect': MQTT.js emits it only after re-sending its own stored packets, when the session's messages
    // may already be arriving on the new connection.
    client.on('packetreceive', (packet) => {
      if (packet.cmd === 'connack' && packet.returnCode === 0) this.connected(packet);
    });
  }

  get ready(): Promise<unknown> {
    return this.connection.ready;
  }

  get closed(): boolean {
    return this.connection.closed;
  }

  get idle(): boolean {
    return this.dispatchers.length === 0;
  }

  /** Adds a subscription's dispatcher; it takes the parked messages of its topic. */
  add(filter: TopicFilter, handler: MessageHandler, maxInFlight: number): Dispatcher {
    if (this.dispatchers.some((d) => d.filter.subscribed === filter.subscribed)) {
      throw new Error(`topic "${filter.subscribed}" is already subscribed with consumer id "${this.consumerId}"`);
    }
    const dispatcher = new Dispatcher(filter, handler, maxInFlight, this);
    this.dispatchers.push(dispatcher);
    const parked = this.parked;
    this.parked = [];
    for (const received of parked) {
      if (filter.matches(received.message.topic)) dispatcher.push(received);
      else this.parked.push(received);
    }
    return dispatcher;
  }

  /** Resolves once the broker granted the subscription (MQTT.js rejects a refused one, and an invalid filter). */
  async subscribe(filter: TopicFilter): Promise<void> {
    const subscribing = this.connection.client.subscribeAsync(filter.subscribed, { qos: this.settings.qos });
    await this.connection.bounded(subscribing, `subscribing to "${filter.subscribed}"`);
  }

  /** The broker forgets the subscription (and what it queued for it). */
  async unsubscribe(filter: TopicFilter, timeoutMs: number): Promise<void> {
    await this.connection.bounded(this.connection.client.unsubscribeAsync(filter.subscribed), `unsubscribing from "${filter.subscribed}"`, timeoutMs);
  }

  /** Stops a dispatcher; what it had not handed out yet is parked. */
  remove(dispatcher: Dispatcher): void {
    const index = this.dispatchers.indexOf(dispatcher);
    if (index >= 0) this.dispatchers.splice(index, 1);
    for (const received of dispatcher.close()) this.park(received);
  }

  /** Ends the connection; handler calls still pending can no longer acknowledge, so the broker keeps their messages. */
  async close(): Promise<void> {
    for (const dispatcher of this.dispatchers.splice(0)) dispatcher.close();
    this.parked = [];
    await this.connection.close();
  }

  acknowledge(received: Received): void {
    const client = this.connection.client;
    if (received.packetId === undefined || this.closed || received.generation !== this.generation || !client.connected) return;
    writePuback(client, received.packetId);
  }

  redelivers(received: Received): boolean {
    return received.packetId !== undefined && received.generation < this.generation && received.generation >= this.freshSince;
  }

  park(received: Received): void {
    if (!this.closed) this.parked.push(received);
  }

  private connected(connack: IConnackPacket): void {
    this.generation++;
    if (connack.sessionPresent !== true) {
      this.freshSince = this.generation;
      // MQTT.js subscribes again by itself when the session is gone.
      if (this.generation > 1 && !this.settings.cleanSession) {
        this.logger.warn(`consumer "${this.consumerId}": the MQTT broker no longer had its session; messages published while disconnected are lost`);
      }
    }
    this.parked = this.parked.filter((received) => !this.redelivers(received));
  }

  private route(packet: IPublishPacket): void {
    const topic = packet.topic;
    const received: Received = {
      message: {
        topic,
        data: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
        metadata: { retained: String(packet.retain) },
      },
      packetId: packet.qos > 0 ? packet.messageId : undefined,
      generation: this.generation,
    };
    const dispatcher = this.dispatchers.find((d) => d.filter.matches(topic));
    if (dispatcher === undefined) this.parked.push(received);
    else dispatcher.push(received);
  }
}
