import { connect } from 'node:net';
import { HttpPool, type AppChannel } from '../appchannel/http-pool.js';
import { registerBindingsGrpc } from '../bindings/grpc-api.js';
import { registerBindingsRoutes } from '../bindings/http-routes.js';
import { InputBindings } from '../bindings/input-bindings.js';
import { OutputBindings } from '../bindings/output-bindings.js';
import { GrpcApiServer } from '../grpc/api-server.js';
import { H2UnaryServer } from '../grpc/h2/transport.js';
import { HttpFront } from '../http/front.js';
import { Router } from '../http/router.js';
import { DirectMessaging, type AppCallPolicy } from '../invocation/direct-messaging.js';
import { registerInvocationGrpc } from '../invocation/grpc-api.js';
import { registerInvocationRoutes } from '../invocation/http-routes.js';
import { internalInvocationHandlers } from '../invocation/internal-server.js';
import { PipelinedAppChannel } from '../middleware/app-pipeline.js';
import { pipelineChain } from '../middleware/pipelines.js';
import { CachedResolver, createNameResolver } from '../nameresolution/index.js';
import { appPolicy, loadConfiguration, retryDelay, loadResources, type Configuration, type LoadedResources } from '../resources/index.js';
import { initComponents, type ComponentSet } from '../../components/registry.js';
import '../../components/builtin.js';
import { registerPubSubGrpc } from '../pubsub/grpc-api.js';
import { registerPubSubRoutes } from '../pubsub/http-routes.js';
import { PubSubPublisher } from '../pubsub/publisher.js';
import { SubscriptionManager } from '../pubsub/subscription-manager.js';
import { resolveComponentSecrets } from '../secrets/component-secrets.js';
import { registerSecretsGrpc } from '../secrets/grpc-api.js';
import { registerSecretsRoutes } from '../secrets/http-routes.js';
import { SecretScopes } from '../secrets/scopes.js';
import { SecretsApi } from '../secrets/secrets-api.js';
import { registerStateGrpc } from '../state/grpc-api.js';
import { registerStateRoutes } from '../state/http-routes.js';
import { StateApi } from '../state/state-api.js';
import { registerRuntimeGrpc } from './grpc-api.js';
import { registerRuntimeRoutes, type RuntimeState } from './http-routes.js';
import { createLogger } from './logger.js';
import { RuntimeMetadata } from './metadata.js';
import { MetricsServer } from './metrics.js';
import type { SidecarOptions } from './options.js';

const log = createLogger('runtime');

export interface BoundPorts {
  http: number;
  grpc: number;
  internalGrpc: number;
  metrics: number;
}

// Dapr's built-in policy for calls to other sidecars when no resiliency policy targets the app.
const DEFAULT_APP_POLICY: AppCallPolicy = { timeoutMs: 0, maxRetries: 3, retryDelayMs: () => 1000 };

/**
 * One sidecar's lifecycle, in daprd's order: configuration and components, then the API listeners (metadata and
 * outbound health answer from here on), then the wait for the app port, then ready.
 */
export class Sidecar implements RuntimeState {
  outboundReady = false;
  ready = false;
  ports: BoundPorts = { http: 0, grpc: 0, internalGrpc: 0, metrics: 0 };

  private configuration: Configuration | null = null;
  private components: ComponentSet | null = null;
  private resolver: CachedResolver | null = null;
  private appPool: HttpPool | null = null;
  private subscriptions: SubscriptionManager | null = null;
  private inputBindings: InputBindings | null = null;
  private messaging: DirectMessaging | null = null;
  private httpFront: HttpFront | null = null;
  private grpcApi: GrpcApiServer | null = null;
  private internalServer: H2UnaryServer | null = null;
  private metricsServer: MetricsServer | null = null;
  private shuttingDown: Promise<void> | null = null;
  private appWait: { cancel(): void } | null = null;
  private readonly exitHandlers: Array<() => void> = [];

  constructor(readonly options: SidecarOptions) {}

  get appId(): string {
    return this.options.appId;
  }

  /** Called once the sidecar has shut down, whatever asked for it. */
  onExit(handler: () => void): void {
    this.exitHandlers.push(handler);
  }

  async start(): Promise<BoundPorts> {
    const o = this.options;
    this.configuration = await loadConfiguration(o.configPaths);
    const resources: LoadedResources = await loadResources(o.resourcesPaths, { appId: o.appId, namespace: o.namespace });
    this.components = await initComponents(resources, createLogger('components'), {
      deniedTypes: this.configuration.components.deny,
      resolveSecrets: resolveComponentSecrets,
    });
    const components = this.components;
    const configuration = this.configuration;

    const metadata = new RuntimeMetadata({
      appId: o.appId,
      enabledFeatures: () => configuration.features.filter((f) => f.enabled).map((f) => f.name),
      components: () => components.list(),
      subscriptions: () => this.subscriptions?.list() ?? [],
      appConnection: {
        port: o.appPort,
        protocol: o.appPort > 0 ? o.appProtocol : '',
        channelAddress: o.appPort > 0 ? o.appChannelAddress : '',
        maxConcurrency: o.appMaxConcurrency,
      },
    });

    const apiPipeline = pipelineChain(configuration.httpPipeline, components, 'spec.httpPipeline');
    const appPipeline = pipelineChain(configuration.appHttpPipeline, components, 'spec.appHttpPipeline');

    this.resolver = new CachedResolver(createNameResolver(configuration.nameResolution));
    let appChannel: AppChannel | null = null;
    if (o.appPort > 0) {
      this.appPool = new HttpPool({
        host: o.appChannelAddress,
        port: o.appPort,
        maxConcurrency: o.appMaxConcurrency,
        requestTimeoutMs: 0,
        maxResponseBytes: o.maxBodySizeBytes,
      });
      appChannel = appPipeline === null ? this.appPool : new PipelinedAppChannel(appPipeline, this.appPool);
      this.subscriptions = new SubscriptionManager({
        appId: o.appId,
        appChannel,
        appApiToken: o.appApiToken,
        appMaxConcurrency: o.appMaxConcurrency,
        components,
        declarative: resources.subscriptions,
        resiliency: resources.resiliency,
      });
      this.inputBindings = new InputBindings({
        appChannel,
        appApiToken: o.appApiToken,
        appMaxConcurrency: o.appMaxConcurrency,
        components,
        resiliency: resources.resiliency,
      });
    }
    const resiliency = resources.resiliency;
    const policies = new Map<string, AppCallPolicy>();
    const messaging = new DirectMessaging({
      appId: o.appId,
      namespace: o.namespace,
      appChannel,
      appApiToken: o.appApiToken,
      resolver: this.resolver,
      maxMessageBytes: o.maxBodySizeBytes,
      policyFor: (appId) => {
        let policy = policies.get(appId);
        if (policy === undefined) {
          policy = callPolicy(appPolicy(resiliency, appId));
          policies.set(appId, policy);
        }
        return policy;
      },
    });
    this.messaging = messaging;

    const state = new StateApi(components, { appId: o.appId, namespace: o.namespace });
    const publisher = new PubSubPublisher(components, o.appId);
    const outputBindings = new OutputBindings(components);
    const secrets = new SecretsApi(components, new SecretScopes(configuration.secrets.scopes));
    const router = new Router();
    registerRuntimeRoutes(router, this, metadata);
    registerStateRoutes(router, state);
    registerPubSubRoutes(router, publisher);
    registerBindingsRoutes(router, outputBindings);
    registerSecretsRoutes(router, secrets);
    const invokeFallback = registerInvocationRoutes(router, messaging, o.appId);
    this.httpFront = new HttpFront(router, { maxBodyBytes: o.maxBodySizeBytes, apiToken: o.apiToken, fallback: invokeFallback,
      pipeline: apiPipeline,
    });

    this.grpcApi = new GrpcApiServer({ maxMessageBytes: o.maxBodySizeBytes, apiToken: o.apiToken });
    registerRuntimeGrpc(this.grpcApi, this, metadata);
    registerInvocationGrpc(this.grpcApi, messaging, o.appId);
    registerStateGrpc(this.grpcApi, state);
    registerPubSubGrpc(this.grpcApi, publisher);
    registerBindingsGrpc(this.grpcApi, outputBindings);
    registerSecretsGrpc(this.grpcApi, secrets);

    this.internalServer = new H2UnaryServer(internalInvocationHandlers(messaging), { maxMessageBytes: o.maxBodySizeBytes });

    this.ports.grpc = await this.grpcApi.listen(o.listenAddress, o.daprGrpcPort);
    this.ports.http = await this.httpFront.listen(o.listenAddress, o.daprHttpPort);
    this.ports.internalGrpc = await this.internalServer.listen(o.listenAddress, o.daprInternalGrpcPort);
    if (o.enableMetrics) {
      this.metricsServer = new MetricsServer(o.appId, () => components.list().length);
      this.ports.metrics = await this.metricsServer.listen(o.listenAddress, o.metricsPort);
    }
    for (const [key, port] of Object.entries(this.ports)) metadata.setExtended(`${key}Port`, String(port));

    await this.resolver.register({ appId: o.appId, namespace: o.namespace, host: o.hostAddress, port: this.ports.internalGrpc });
    this.outboundReady = true;
    log.info(
      `API ports: http=${this.ports.http} grpc=${this.ports.grpc} internal-grpc=${this.ports.internalGrpc} metrics=${this.ports.metrics}`,
    );
    log.info(`try: curl http://127.0.0.1:${this.ports.http}/v1.0/metadata`);

    if (o.appPort > 0) {
      log.info(`waiting for the app on ${o.appChannelAddress}:${o.appPort}`);
      this.appWait = waitForPort(o.appChannelAddress, o.appPort, () => {
        this.appWait = null;
        void Promise.all([this.subscriptions!.start(), this.inputBindings!.start()]).then(() => {
          if (this.shuttingDown === null) this.markReady();
        });
      });
    } else {
      this.markReady();
    }
    return this.ports;
  }

  /** Drains in-flight requests within the graceful-shutdown period, then releases everything. Idempotent. */
  shutdown(reason: string): Promise<void> {
    this.shuttingDown ??= this.stop(reason);
    return this.shuttingDown;
  }

  private markReady(): void {
    this.ready = true;
    log.info(`sidecar ready: app id "${this.options.appId}"`);
  }

  private async stop(reason: string): Promise<void> {
    log.info(`shutting down: ${reason}`);
    const graceMs = Math.max(0, this.options.gracefulShutdownSeconds) * 1000;
    this.ready = false;
    this.appWait?.cancel();
    // Leave name resolution first, so peers stop sending new calls while in-flight ones drain.
    await this.resolver?.close().catch((err: Error) => log.warn(`name resolution: ${err.message}`));
    await Promise.all([this.subscriptions?.close(), this.inputBindings?.close()]);
    await Promise.all([
      this.httpFront?.close(graceMs),
      this.grpcApi?.close(graceMs),
      this.internalServer?.close(graceMs),
    ]);
    this.messaging?.close();
    await this.appPool?.close();
    await this.metricsServer?.close();
    await this.components?.close().catch((err: Error) => log.warn(`closing components: ${err.message}`));
    log.info('shutdown complete');
    for (const handler of this.exitHandlers) handler();
  }
}

// Retries on the invocation path are bounded even when a policy says "forever": the caller is waiting.
const MAX_INVOCATION_RETRIES = 10;

function callPolicy(policy: ReturnType<typeof appPolicy>): AppCallPolicy {
  const retry = policy.retry;
  if (retry === null) return { ...DEFAULT_APP_POLICY, timeoutMs: policy.timeoutMs };
  const maxRetries = retry.maxRetries < 0 ? MAX_INVOCATION_RETRIES : Math.min(retry.maxRetries, MAX_INVOCATION_RETRIES);
  return { timeoutMs: policy.timeoutMs, maxRetries, retryDelayMs: retryDelay(retry) };
}

/** daprd's app wait: dial the app port every 50 ms until it accepts. */
function waitForPort(host: string, port: number, onOpen: () => void): { cancel(): void } {
  let timer: NodeJS.Timeout | null = null;
  let cancelled = false;
  const attempt = (): void => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      if (!cancelled) onOpen();
    });
    socket.once('error', () => {
      socket.destroy();
      if (!cancelled) timer = setTimeout(attempt, 50);
    });
  };
  attempt();
  return {
    cancel() {
      cancelled = true;
      if (timer !== null) clearTimeout(timer);
    },
  };
}
