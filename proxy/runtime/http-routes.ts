import type { Router } from '../http/router.js';
import { errors } from './errors.js';
import type { RuntimeMetadata } from './metadata.js';

export interface RuntimeState {
  /** Components and API servers are up: outbound calls work. */
  readonly outboundReady: boolean;
  /** The app is reachable and everything is initialised. */
  readonly ready: boolean;
  readonly appId: string;
  shutdown(reason: string): void;
}

/** Health, metadata and shutdown: the lifecycle endpoints every SDK touches first. */
export function registerRuntimeRoutes(router: Router, state: RuntimeState, metadata: RuntimeMetadata): void {
  router.add(['GET'], '/v1.0/healthz', (req, reply) => {
    const appId = new URLSearchParams(req.query).get('appid');
    if (appId !== null && appId !== state.appId) reply.error(errors.healthAppIdMismatch());
    else if (state.ready) reply.noContent();
    else reply.error(errors.healthNotReady());
  });
  router.add(['GET'], '/v1.0/healthz/outbound', (_req, reply) => {
    if (state.outboundReady) reply.noContent();
    else reply.error(errors.outboundHealthNotReady());
  });
  router.add(['GET'], '/v1.0/metadata', (_req, reply) => {
    reply.json(200, metadata.toJson());
  });
  router.add(['PUT'], '/v1.0/metadata/:key', (req, reply) => {
    metadata.setExtended(req.params[0]!, req.body.toString('utf8'));
    reply.noContent();
  });
  router.add(['POST', 'PUT'], '/v1.0/shutdown', (_req, reply) => {
    reply.noContent();
    setImmediate(() => state.shutdown('shutdown requested through the API'));
  });
}
