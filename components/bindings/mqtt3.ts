// `bindings.mqtt3`: one MQTT 3.1.1 topic as an input and output binding, with daprd's metadata (url, topic,
// consumerID, qos, retain, cleanSession, caCert/clientCert/clientKey, backOffMaxRetries). Connecting, reconnecting
// and acknowledging are pubsub.mqtt3's: `create` is a publish that resolves once the broker acknowledged it (PUBACK
// at QoS 1), and reading is a subscription of the consumer id whose messages are acknowledged only once the app
// accepted them. A message the app failed goes to it again after a back-off until it accepts it, whatever
// `backOffMaxRetries` says: giving up would leave it unacknowledged until the next reconnection at best, and a
// message acknowledged without the app would be lost.

import { integerProperty, stringProperty } from '../metadata.js';
import { Mqtt3PubSub } from '../pubsub/mqtt3/mqtt3-pubsub.js';
import { parseSettings } from '../pubsub/mqtt3/settings.js';
import { metadataIgnoringCase, type Message } from '../pubsub/pubsub.js';
import { registerComponent, type ComponentMetadata } from '../registry.js';
import {
  bindingCapabilities,
  type Binding,
  type BindingEventHandler,
  type InputBinding,
  type InvokeRequest,
  type OutputBinding,
  type ReadOptions,
  type Reading,
} from './bindings.js';

const OPERATIONS = ['create'] as const;

interface TopicSettings {
  /** Published to unless a request names its own; subscribed to (wildcards allowed) when reading. */
  topic: string;
  /** The MQTT client id of the reading connection. */
  consumerId: string;
}

function topicSettings(meta: ComponentMetadata, consumerId: string): TopicSettings {
  const topic = stringProperty(meta, 'topic', '');
  if (topic === '') throw new Error('metadata "topic" is required');
  // daprd requires it for both directions: a binding without it could not read with a stable session.
  if (consumerId === '') throw new Error('metadata "consumerID" is required (it is the MQTT client id of the binding)');
  // Checked as daprd checks it (-1 means retry forever); see the header for why retries never stop.
  integerProperty(meta, 'backOffMaxRetries', 0, -1);
  return { topic, consumerId };
}

export class Mqtt3Binding implements Binding, InputBinding, OutputBinding {
  readonly input: InputBinding = this;
  readonly output: OutputBinding = this;

  private constructor(
    private readonly pubsub: Mqtt3PubSub,
    private readonly settings: TopicSettings,
  ) {}

  /** Connects the publishing side; rejects when the broker cannot be reached or the metadata is bad. */
  static async connect(meta: ComponentMetadata): Promise<Mqtt3Binding> {
    const connection = parseSettings(meta);
    const settings = topicSettings(meta, connection.consumerId);
    return new Mqtt3Binding(await Mqtt3PubSub.connect(connection, meta.name, meta.type), settings);
  }

  operations(): readonly string[] {
    return OPERATIONS;
  }

  /** Request metadata `topic` and `retain` override the component's for this message. */
  async invoke(req: InvokeRequest): Promise<null> {
    if (req.operation !== 'create') throw new Error(`operation "${req.operation}" is not supported; supported: ${OPERATIONS.join(', ')}`);
    const topic = metadataIgnoringCase(req.metadata, 'topic') || this.settings.topic;
    await this.pubsub.publish({ topic, data: req.data, metadata: req.metadata });
    return null;
  }

  /** Events carry metadata `topic`: the topic the message was published to, which a wildcard leaves open. */
  async read(handler: BindingEventHandler, options: ReadOptions): Promise<Reading> {
    const { topic, consumerId } = this.settings;
    const deliver = async (message: Message): Promise<void> => {
      await handler({ data: message.data, metadata: { topic: message.topic } });
    };
    return this.pubsub.subscribe({ topic, consumerId, maxInFlight: options.maxInFlight, metadata: {} }, deliver);
  }

  close(): Promise<void> {
    return this.pubsub.close();
  }
}

registerComponent({
  type: 'bindings.mqtt3',
  versions: ['v1'],
  kind: 'bindings',
  create: (meta) => Mqtt3Binding.connect(meta),
  capabilities: bindingCapabilities,
});
