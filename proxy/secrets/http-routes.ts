import { answer } from '../http/reply.js';
import type { Router } from '../http/router.js';
import type { SecretsApi } from './secrets-api.js';

const JSON_TYPE = ['content-type', 'application/json'];

/** `GET /v1.0/secrets/{store}/bulk` and `/v1.0/secrets/{store}/{name}`, request metadata from `metadata.*`. */
export function registerSecretsRoutes(router: Router, api: SecretsApi): void {
  router.add(['GET'], '/v1.0/secrets/:store/bulk', (req, reply) =>
    answer(reply, async () => {
      reply.send(200, JSON_TYPE, JSON.stringify(await api.bulk(req.params[0]!, req.queryMetadata())));
    }),
  );
  router.add(['GET'], '/v1.0/secrets/:store/:name', (req, reply) =>
    answer(reply, async () => {
      const secret = await api.get(req.params[0]!, req.params[1]!, req.queryMetadata());
      if (Object.keys(secret).length === 0) reply.noContent();
      else reply.send(200, JSON_TYPE, JSON.stringify(secret));
    }),
  );
}
