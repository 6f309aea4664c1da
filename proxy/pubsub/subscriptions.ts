// What the app subscribes to: declarative `Subscription` resources (v1alpha1 `route`, v2alpha1 `routes`) and the
// programmatic answer of `GET /dapr/subscribe`, read into one model. Both are decoded like daprd decodes them: field
// names match ignoring case, a subscription without any route is discarded.

import { FieldReader, LEAF, normalizeKeys, type RawResource, type Shape } from '../resources/index.js';
import { compileRoutes, type RouteTable } from './routing.js';

export type SubscriptionType = 'DECLARATIVE' | 'PROGRAMMATIC';

export interface RouteRule {
  /** CEL over `event`; '' for the unconditional default route. */
  match: string;
  path: string;
}

export interface BulkSubscribeOptions {
  maxMessagesCount: number;
  maxAwaitDurationMs: number;
}

export interface TopicSubscription {
  pubsubName: string;
  topic: string;
  metadata: Readonly<Record<string, string>>;
  /** In evaluation order; the default route, when there is one, is last with match ''. */
  rules: readonly RouteRule[];
  routes: RouteTable;
  /** '' when none. */
  deadLetterTopic: string;
  /** null unless bulkSubscribe.enabled. */
  bulk: BulkSubscribeOptions | null;
  type: SubscriptionType;
  /** Where it was declared, for messages: a resource file or `GET /dapr/subscribe`. */
  source: string;
}

const DEFAULT_BULK_MAX_MESSAGES = 100;
const DEFAULT_BULK_MAX_AWAIT_MS = 1000;

const subscriptionFields = {
  pubsubname: LEAF,
  topic: LEAF,
  route: LEAF,
  routes: { fields: { rules: { items: { fields: { match: LEAF, path: LEAF } } }, default: LEAF } },
  metadata: LEAF,
  deadLetterTopic: LEAF,
  bulkSubscribe: { fields: { enabled: LEAF, maxMessagesCount: LEAF, maxAwaitDurationMs: LEAF } },
} as const satisfies Record<string, Shape>;

const programmaticShape: Shape = { items: { fields: subscriptionFields } };
const declarativeSpecShape: Shape = { fields: subscriptionFields };

/** Subscriptions are discarded, not fatal, when they name no route: daprd logs and goes on. */
export type DiscardListener = (source: string, reason: string) => void;

function readSubscription(
  spec: Record<string, unknown>,
  fields: FieldReader,
  path: string,
  type: SubscriptionType,
  source: string,
): TopicSubscription | string {
  const pubsubName = fields.string(spec['pubsubname'], `${path}pubsubname`);
  const topic = fields.string(spec['topic'], `${path}topic`);
  if (pubsubName === '') return 'no pubsubname';
  if (topic === '') return 'no topic';
  const routes = fields.mapping(spec['routes'], `${path}routes`);
  const rules: RouteRule[] = fields.list(routes['rules'], `${path}routes.rules`).map((raw, i) => {
    const rule = fields.mapping(raw, `${path}routes.rules[${i}]`);
    return { match: fields.string(rule['match'], `${path}routes.rules[${i}].match`), path: fields.string(rule['path'], `${path}routes.rules[${i}].path`) };
  });
  const fallback = fields.string(routes['default'], `${path}routes.default`) || fields.string(spec['route'], `${path}route`);
  if (fallback !== '') rules.push({ match: '', path: fallback });
  if (rules.length === 0) return `topic "${topic}" of pubsub "${pubsubName}" has no route`;
  const metadata = Object.fromEntries(
    Object.entries(fields.mapping(spec['metadata'], `${path}metadata`)).map(([key, value]) => [key, fields.string(value, `${path}metadata.${key}`)]),
  );
  const bulkSpec = fields.mapping(spec['bulkSubscribe'], `${path}bulkSubscribe`);
  const bulk = fields.bool(bulkSpec['enabled'], `${path}bulkSubscribe.enabled`)
    ? {
        maxMessagesCount: Math.max(1, fields.int(bulkSpec['maxMessagesCount'], `${path}bulkSubscribe.maxMessagesCount`, DEFAULT_BULK_MAX_MESSAGES)),
        maxAwaitDurationMs: Math.max(0, fields.int(bulkSpec['maxAwaitDurationMs'], `${path}bulkSubscribe.maxAwaitDurationMs`, DEFAULT_BULK_MAX_AWAIT_MS)),
      }
    : null;
  let compiled: RouteTable;
  try {
    compiled = compileRoutes(rules);
  } catch (err) {
    return fields.fail(`${path}routes: ${(err as Error).message}`, err);
  }
  return {
    pubsubName,
    topic,
    metadata,
    rules,
    routes: compiled,
    deadLetterTopic: fields.string(spec['deadLetterTopic'], `${path}deadLetterTopic`),
    bulk,
    type,
    source,
  };
}

/** A `Subscription` resource; a bad field or CEL expression is a ResourceError, a missing route a discard. */
export function parseDeclarativeSubscription(resource: RawResource, onDiscard: DiscardListener): TopicSubscription | null {
  const fields = new FieldReader(resource.file, `Subscription "${resource.name}"`);
  const spec = normalizeKeys(fields.mapping(resource.document['spec'], 'spec'), declarativeSpecShape) as Record<string, unknown>;
  const parsed = readSubscription(spec, fields, 'spec.', 'DECLARATIVE', `${resource.file}: Subscription "${resource.name}"`);
  if (typeof parsed === 'string') {
    onDiscard(`${resource.file}: Subscription "${resource.name}"`, parsed);
    return null;
  }
  return parsed;
}

/** The JSON array the app answered `GET /dapr/subscribe` with. Throws a ResourceError on a malformed answer. */
export function parseProgrammaticSubscriptions(body: unknown, onDiscard: DiscardListener): TopicSubscription[] {
  const source = 'GET /dapr/subscribe';
  const fields = new FieldReader(source, 'the app\'s answer');
  if (body === null) return [];
  const items = fields.list(normalizeKeys(body, programmaticShape), 'body');
  const subscriptions: TopicSubscription[] = [];
  items.forEach((raw, i) => {
    const parsed = readSubscription(fields.mapping(raw, `[${i}]`), fields, `[${i}].`, 'PROGRAMMATIC', source);
    if (typeof parsed === 'string') onDiscard(source, parsed);
    else subscriptions.push(parsed);
  });
  return subscriptions;
}
