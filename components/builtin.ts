// Every component Pillion ships. A type's module, and the client library it brings, is imported only when a
// component of that type is declared. The sidecar imports this module once.

import { registerLazyComponent } from './registry.js';

const BUILTIN: readonly (readonly [type: string, load: () => Promise<unknown>])[] = [
  ['state.in-memory', () => import('./state/in-memory.js')],
  ['state.sqlite', () => import('./state/sqlite/store.js')],
  ['state.postgresql', () => import('./state/postgresql/postgresql-store.js')],
  ['state.redis', () => import('./state/redis/store.js')],
  ['pubsub.in-memory', () => import('./pubsub/in-memory.js')],
  ['pubsub.redis', () => import('./pubsub/redis/redis-streams.js')],
  ['pubsub.mqtt3', () => import('./pubsub/mqtt3/mqtt3-pubsub.js')],
  ['pubsub.jetstream', () => import('./pubsub/jetstream/jetstream.js')],
  ['pubsub.rabbitmq', () => import('./pubsub/rabbitmq/rabbitmq.js')],
  ['secretstores.local.env', () => import('./secretstores/local-env.js')],
  ['secretstores.local.file', () => import('./secretstores/local-file.js')],
  ['secretstores.kubernetes', () => import('./secretstores/kubernetes.js')],
  ['bindings.redis', () => import('./bindings/redis.js')],
  ['bindings.postgresql', () => import('./bindings/postgresql/postgresql.js')],
  ['bindings.cron', () => import('./bindings/cron/cron.js')],
  ['bindings.http', () => import('./bindings/http/http-binding.js')],
  ['bindings.localstorage', () => import('./bindings/localstorage/localstorage.js')],
  ['bindings.mqtt3', () => import('./bindings/mqtt3.js')],
  ['bindings.rabbitmq', () => import('./bindings/rabbitmq/rabbitmq.js')],
  ['middleware.http.wasm', () => import('./middleware/wasm.js')],
  ...['uppercase', 'routeralias', 'routerchecker', 'ratelimit', 'apikey'].map(
    (name) => [`middleware.http.${name}`, () => import('./middleware/builtin-wasm.js')] as const,
  ),
];

for (const [type, load] of BUILTIN) registerLazyComponent(type, ['v1'], load);
