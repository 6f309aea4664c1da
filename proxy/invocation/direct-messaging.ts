import { AppChannelError, type AppChannel, type AppResponse } from '../appchannel/http-pool.js';
import { GrpcCallError, H2UnaryClient } from '../grpc/h2/transport.js';
import type { AppAddress, CachedResolver } from '../nameresolution/index.js';
import { DaprError, errors, GrpcStatus } from '../runtime/errors.js';
import { createLogger } from '../runtime/logger.js';
import {
  CALL_LOCAL_PATH,
  decodeInternalResponse,
  encodeInternalRequest,
  type InvocationRequest,
  type InvocationResponse,
} from './messages.js';
import type { InvocationTarget } from './target.js';

const log = createLogger('invocation');

export type InvocationCallback = (err: DaprError | null, res: InvocationResponse | null) => void;

export interface Cancellable {
  cancel(): void;
}

/** What resiliency says about calls to one app. */
export interface AppCallPolicy {
  /** 0: no timeout. */
  timeoutMs: number;
  /** Retries after a transport failure (the call never reached the app). */
  maxRetries: number;
  /** Wait before retry number `attempt` (1-based). */
  retryDelayMs(attempt: number): number;
}

export interface DirectMessagingOptions {
  appId: string;
  namespace: string;
  /** null when the sidecar has no app port. */
  appChannel: AppChannel | null;
  /** APP_API_TOKEN sent to the app as `dapr-api-token`; '' for none. */
  appApiToken: string;
  resolver: CachedResolver;
  maxMessageBytes: number;
  policyFor(appId: string): AppCallPolicy;
}

const NOOP: Cancellable = { cancel() {} };

/**
 * Service invocation: a call for this sidecar's own app goes straight to the app channel; a call for another
 * app goes to that app's sidecar over the internal gRPC hop, which hands it to its app channel.
 */
export class DirectMessaging {
  private readonly peers = new Map<string, H2UnaryClient>();
  private readonly peerByAddress = new WeakMap<AppAddress, H2UnaryClient>();
  private readonly namespace: string;

  constructor(private readonly options: DirectMessagingOptions) {
    this.namespace = options.namespace === '' ? 'default' : options.namespace;
  }

  invoke(target: InvocationTarget, req: InvocationRequest, done: InvocationCallback): Cancellable {
    const namespace = target.namespace === '' ? this.namespace : target.namespace;
    const policy = this.options.policyFor(target.appId);
    if (target.appId === this.options.appId && namespace === this.namespace) {
      return this.withTimeout(policy.timeoutMs, target.appId, done, (finish) =>
        this.callApp(req, (err, res) => {
          if (err === null) finish(null, res);
          else finish(err instanceof DaprError ? err : errors.directInvoke(target.appId, appChannelCause(err)), null);
        }),
      );
    }
    return this.withTimeout(policy.timeoutMs, target.appId, done, (finish) =>
      this.callRemote(target.appId, namespace, req, policy, finish),
    );
  }

  /** The app channel leg, shared by self-invocation and calls arriving from other sidecars. */
  callApp(req: InvocationRequest, done: (err: AppChannelError | DaprError | null, res: InvocationResponse | null) => void): Cancellable {
    const channel = this.options.appChannel;
    if (channel === null) {
      done(errors.directInvoke(this.options.appId, 'app channel is not initialized: the sidecar has no --app-port'), null);
      return NOOP;
    }
    const headers = this.options.appApiToken === '' ? req.headers : [...req.headers, 'dapr-api-token', this.options.appApiToken];
    const path = req.query === '' ? '/' + req.method : '/' + req.method + '?' + req.query;
    const pending = channel.request({ method: req.verb, path, headers, body: req.body.byteLength === 0 ? null : req.body }, (err, res) => {
      if (err !== null) done(err, null);
      else done(null, res as AppResponse);
    });
    return { cancel: () => pending.abort() };
  }

  close(): void {
    for (const client of this.peers.values()) client.close();
    this.peers.clear();
  }

  /** One HTTP/2 session per peer address, shared by all calls to it. */
  private peerClient(address: AppAddress): H2UnaryClient {
    let client = this.peerByAddress.get(address);
    if (client !== undefined && !client.closed) return client;
    const authority = address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
    client = this.peers.get(authority);
    if (client === undefined || client.closed) {
      client = new H2UnaryClient(authority, { maxMessageBytes: this.options.maxMessageBytes });
      this.peers.set(authority, client);
    }
    // Cached resolver answers are the same objects call after call: skip building the key for them.
    this.peerByAddress.set(address, client);
    return client;
  }

  private callRemote(appId: string, namespace: string, req: InvocationRequest, policy: AppCallPolicy, done: InvocationCallback): Cancellable {
    const message = encodeInternalRequest(req);
    let attempt = 0;
    let current: Cancellable | null = null;
    let retryTimer: NodeJS.Timeout | null = null;
    let cancelled = false;

    const send = (address: AppAddress): void => {
      const client = this.peerClient(address);
      current = client.call(CALL_LOCAL_PATH, message, null, 0, (err, bytes) => {
        current = null;
        if (cancelled) return;
        if (err === null) {
          let res: InvocationResponse;
          try {
            res = decodeInternalResponse(bytes!);
          } catch (decodeErr) {
            done(errors.directInvoke(appId, `malformed response from the target sidecar: ${(decodeErr as Error).message}`), null);
            return;
          }
          done(null, res);
          return;
        }
        if (err.code === GrpcStatus.UNAVAILABLE) {
          // The peer may be gone or moved: forget where it was and look it up again on the next try.
          this.options.resolver.invalidate(appId, namespace);
          if (attempt < policy.maxRetries) {
            attempt++;
            log.debug(`retrying call to ${appId} (attempt ${attempt}): ${err.details}`);
            retryTimer = setTimeout(resolveAndSend, policy.retryDelayMs(attempt));
            return;
          }
        }
        done(remoteError(appId, err), null);
      });
    };

    const resolveAndSend = (): void => {
      retryTimer = null;
      const cached = this.options.resolver.lookupCached(appId, namespace);
      if (cached !== undefined) {
        send(cached);
        return;
      }
      this.options.resolver.resolve(appId, namespace).then(
        (address) => {
          if (cancelled) return;
          if (address === null) done(errors.directInvoke(appId, `no sidecar found for app id "${appId}" in namespace "${namespace}"`, 404, GrpcStatus.NOT_FOUND), null);
          else send(address);
        },
        (resolveErr: Error) => {
          if (!cancelled) done(errors.directInvoke(appId, `name resolution failed: ${resolveErr.message}`), null);
        },
      );
    };

    resolveAndSend();
    return {
      cancel: () => {
        cancelled = true;
        if (retryTimer !== null) clearTimeout(retryTimer);
        current?.cancel();
      },
    };
  }

  private withTimeout(
    timeoutMs: number,
    appId: string,
    done: InvocationCallback,
    start: (finish: InvocationCallback) => Cancellable,
  ): Cancellable {
    if (timeoutMs <= 0) return start(done);
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      call.cancel();
      done(errors.directInvoke(appId, `timeout: no answer within ${timeoutMs}ms`), null);
    }, timeoutMs);
    const call = start((err, res) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done(err, res);
    });
    return {
      cancel: () => {
        settled = true;
        clearTimeout(timer);
        call.cancel();
      },
    };
  }
}

export function appChannelCause(err: AppChannelError): string {
  return `error invoking app channel (${err.kind}): ${err.message}`;
}

function remoteError(appId: string, err: GrpcCallError): DaprError {
  const cause = `rpc error: code = ${grpcCodeName(err.code)} desc = ${err.details}`;
  if (err.code === GrpcStatus.PERMISSION_DENIED) return errors.directInvoke(appId, cause, 403, GrpcStatus.PERMISSION_DENIED);
  return errors.directInvoke(appId, cause);
}

const grpcCodeNames = Object.fromEntries(Object.entries(GrpcStatus).map(([name, code]) => [code, name]));

function grpcCodeName(code: number): string {
  const name = grpcCodeNames[code];
  return name === undefined ? String(code) : name.toLowerCase().replace(/(^|_)(\w)/g, (_m, _s, c: string) => c.toUpperCase());
}
