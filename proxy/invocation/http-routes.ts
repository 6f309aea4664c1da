import type { ApiRequest } from '../http/request.js';
import type { ApiReply } from '../http/reply.js';
import type { Router, RouteHandler } from '../http/router.js';
import { DaprError, errors } from '../runtime/errors.js';
import type { DirectMessaging } from './direct-messaging.js';
import { invocationHeaders } from './headers.js';
import { isSupportedVerb } from './messages.js';
import { parseTarget } from './target.js';

/**
 * `/v1.0/invoke/{appId}/method/{path}` for every verb, and the fallback form: any unrouted path with a
 * `dapr-app-id` header (or HTTP Basic credentials whose user is `dapr-app-id`).
 */
export function registerInvocationRoutes(router: Router, messaging: DirectMessaging, selfAppId: string): RouteHandler {
  router.add('*', '/v1.0/invoke/:appId/method/*method', (req, reply) => {
    forward(messaging, selfAppId, req.params[0]!, req.params[1]!, req, reply);
  });
  return (req, reply) => {
    const appId = appIdFromHeaders(req);
    if (appId === undefined) {
      reply.error(errors.directInvoke('', 'failed getting app id either from the URL path or the header dapr-app-id', 404));
      return;
    }
    forward(messaging, selfAppId, appId, req.url.slice(1), req, reply);
  };
}

function forward(messaging: DirectMessaging, selfAppId: string, id: string, method: string, req: ApiRequest, reply: ApiReply): void {
  const target = parseTarget(id);
  if (target instanceof DaprError) {
    reply.error(target);
    return;
  }
  if (!isSupportedVerb(req.method)) {
    reply.error(errors.directInvoke(target.appId, `HTTP verb ${req.method} cannot be invoked`, 405));
    return;
  }
  const headers = invocationHeaders(req.headers, { callerAppId: selfAppId, calleeAppId: target.appId });
  const call = messaging.invoke(target, { verb: req.method, method, query: req.query, headers, body: req.body }, (err, res) => {
    if (err !== null) reply.error(err);
    else reply.send(res!.status, res!.headers, res!.body);
  });
  reply.onAbort = () => call.cancel();
}

function appIdFromHeaders(req: ApiRequest): string | undefined {
  const header = req.header('dapr-app-id');
  if (header !== undefined && header !== '') return header;
  const authorization = req.header('authorization');
  if (authorization === undefined || !authorization.startsWith('Basic ')) return undefined;
  const credentials = Buffer.from(authorization.slice(6), 'base64').toString();
  const colon = credentials.indexOf(':');
  if (colon === -1 || credentials.slice(0, colon) !== 'dapr-app-id') return undefined;
  return credentials.slice(colon + 1);
}
