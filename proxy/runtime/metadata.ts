import { create } from '@bufbuild/protobuf';
import {
  ActorRuntime_ActorRuntimeStatus,
  ActorRuntimeSchema,
  AppConnectionPropertiesSchema,
  GetMetadataResponseSchema,
  PubsubSubscriptionRuleSchema,
  PubsubSubscriptionRulesSchema,
  PubsubSubscriptionSchema,
  PubsubSubscriptionType,
  RegisteredComponentsSchema,
  type GetMetadataResponse,
} from '../../gen/proto/dapr/proto/runtime/v1/metadata_pb.js';
import { RUNTIME_VERSION } from './version.js';

export interface ComponentInfo {
  name: string;
  type: string;
  version: string;
  capabilities: string[];
}

export interface SubscriptionInfo {
  pubsubName: string;
  topic: string;
  metadata: Readonly<Record<string, string>>;
  rules: readonly { match: string; path: string }[];
  deadLetterTopic: string;
  type: 'DECLARATIVE' | 'PROGRAMMATIC';
}

export interface AppConnectionInfo {
  port: number;
  protocol: string;
  channelAddress: string;
  maxConcurrency: number;
}

export interface MetadataSources {
  appId: string;
  enabledFeatures: () => string[];
  components: () => ComponentInfo[];
  subscriptions: () => readonly SubscriptionInfo[];
  appConnection: AppConnectionInfo;
}

/**
 * What `/v1.0/metadata` and gRPC `GetMetadata` report. One model, two encodings: the HTTP JSON follows daprd's
 * hand-written shape (empty fields omitted, `actorRuntime` and `appConnectionProperties` always present).
 */
export class RuntimeMetadata {
  private readonly extended = new Map<string, string>([['daprRuntimeVersion', RUNTIME_VERSION]]);

  constructor(private readonly sources: MetadataSources) {}

  /** Values the app stored with PUT /v1.0/metadata/{key} or SetMetadata, and what the runtime adds (ports). */
  setExtended(key: string, value: string): void {
    this.extended.set(key, value);
  }

  toJson(): Record<string, unknown> {
    const { appId, appConnection } = this.sources;
    const body: Record<string, unknown> = { id: appId, runtimeVersion: RUNTIME_VERSION };
    const features = this.sources.enabledFeatures();
    if (features.length > 0) body.enabledFeatures = features;
    const components = this.sources.components().map((c) => {
      const entry: Record<string, unknown> = { name: c.name, type: c.type, version: c.version };
      if (c.capabilities.length > 0) entry.capabilities = c.capabilities;
      return entry;
    });
    if (components.length > 0) body.components = components;
    const subscriptions = this.sources.subscriptions().map(subscriptionJson);
    if (subscriptions.length > 0) body.subscriptions = subscriptions;
    body.extended = Object.fromEntries(this.extended);
    const connection: Record<string, unknown> = {};
    if (appConnection.port > 0) connection.port = appConnection.port;
    if (appConnection.protocol !== '') connection.protocol = appConnection.protocol;
    if (appConnection.channelAddress !== '') connection.channelAddress = appConnection.channelAddress;
    if (appConnection.maxConcurrency > 0) connection.maxConcurrency = appConnection.maxConcurrency;
    body.appConnectionProperties = connection;
    body.actorRuntime = { runtimeStatus: 'DISABLED', hostReady: false };
    return body;
  }

  toProto(): GetMetadataResponse {
    const { appId, appConnection } = this.sources;
    return create(GetMetadataResponseSchema, {
      id: appId,
      runtimeVersion: RUNTIME_VERSION,
      enabledFeatures: this.sources.enabledFeatures(),
      registeredComponents: this.sources.components().map((c) => create(RegisteredComponentsSchema, c)),
      subscriptions: this.sources.subscriptions().map((s) =>
        create(PubsubSubscriptionSchema, {
          pubsubName: s.pubsubName,
          topic: s.topic,
          metadata: { ...s.metadata },
          rules: create(PubsubSubscriptionRulesSchema, { rules: s.rules.map((rule) => create(PubsubSubscriptionRuleSchema, rule)) }),
          deadLetterTopic: s.deadLetterTopic,
          type: PubsubSubscriptionType[s.type],
        }),
      ),
      extendedMetadata: Object.fromEntries(this.extended),
      appConnectionProperties: create(AppConnectionPropertiesSchema, {
        port: appConnection.port,
        protocol: appConnection.protocol,
        channelAddress: appConnection.channelAddress,
        maxConcurrency: Math.max(0, appConnection.maxConcurrency),
      }),
      actorRuntime: create(ActorRuntimeSchema, { runtimeStatus: ActorRuntime_ActorRuntimeStatus.DISABLED, hostReady: false }),
    });
  }
}

/** daprd's JSON of a subscription: empty metadata and rule fields are omitted, deadLetterTopic and type never are. */
function subscriptionJson(s: SubscriptionInfo): Record<string, unknown> {
  const entry: Record<string, unknown> = { pubsubname: s.pubsubName, topic: s.topic };
  if (Object.keys(s.metadata).length > 0) entry.metadata = s.metadata;
  entry.rules = s.rules.map(({ match, path }) => (match === '' ? { path } : { match, path }));
  entry.deadLetterTopic = s.deadLetterTopic;
  entry.type = s.type;
  return entry;
}
