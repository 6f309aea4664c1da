import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bulkResults, eventResult } from '../proxy/pubsub/app-delivery.js';
import { compileRoutes } from '../proxy/pubsub/routing.js';
import { parseDeclarativeSubscription, parseProgrammaticSubscriptions } from '../proxy/pubsub/subscriptions.js';
import type { RawResource } from '../proxy/resources/index.js';

const noDiscard = (source: string, reason: string): never => assert.fail(`unexpected discard from ${source}: ${reason}`);

function resource(apiVersion: string, spec: Record<string, unknown>): RawResource {
  return { file: 'subs.yaml', apiVersion, kind: 'Subscription', name: 'orders-sub', namespace: '', scopes: [], document: { spec } };
}

describe('programmatic subscriptions', () => {
  test('reads v1 route, v2 routes, metadata, dead-letter topic and bulk options, matching names ignoring case', () => {
    const [v1, v2] = parseProgrammaticSubscriptions(
      [
        { PubSubName: 'pubsub', Topic: 'a', Route: 'a-route', Metadata: { rawPayload: 'true' }, DEADLETTERTOPIC: 'poison' },
        {
          pubsubname: 'pubsub',
          topic: 'b',
          routes: { rules: [{ match: 'event.type == "x"', path: '/x' }], default: '/b' },
          bulkSubscribe: { enabled: true, maxMessagesCount: 5 },
        },
      ],
      noDiscard,
    );
    assert.deepEqual(v1!.rules, [{ match: '', path: 'a-route' }]);
    assert.deepEqual(v1!.metadata, { rawPayload: 'true' });
    assert.equal(v1!.deadLetterTopic, 'poison');
    assert.equal(v1!.bulk, null);
    assert.equal(v1!.type, 'PROGRAMMATIC');
    assert.deepEqual(v2!.rules, [
      { match: 'event.type == "x"', path: '/x' },
      { match: '', path: '/b' },
    ]);
    assert.deepEqual(v2!.bulk, { maxMessagesCount: 5, maxAwaitDurationMs: 1000 });
  });

  test('discards a subscription without any route, keeps the others', () => {
    const discarded: string[] = [];
    const subs = parseProgrammaticSubscriptions(
      [
        { pubsubname: 'pubsub', topic: 'no-route' },
        { pubsubname: 'pubsub', topic: 'ok', route: '/ok' },
      ],
      (_source, reason) => discarded.push(reason),
    );
    assert.deepEqual(subs.map((s) => s.topic), ['ok']);
    assert.match(discarded[0]!, /no-route.*has no route/);
  });

  test('rejects a malformed answer and an invalid CEL expression', () => {
    assert.throws(() => parseProgrammaticSubscriptions({ not: 'a list' }, noDiscard), /must be a list/);
    assert.throws(
      () => parseProgrammaticSubscriptions([{ pubsubname: 'p', topic: 't', routes: { rules: [{ match: 'event.type ==', path: '/x' }] } }], noDiscard),
      /invalid CEL expression/,
    );
  });
});

describe('declarative subscriptions', () => {
  test('v2alpha1 routes and v1alpha1 route', () => {
    const v2 = parseDeclarativeSubscription(
      resource('dapr.io/v2alpha1', { pubsubname: 'pubsub', topic: 'orders', routes: { rules: [{ match: 'event.data.n > 1', path: '/big' }], default: '/orders' }, deadLetterTopic: 'dlq' }),
      noDiscard,
    );
    assert.equal(v2!.type, 'DECLARATIVE');
    assert.deepEqual(v2!.rules.map((r) => r.path), ['/big', '/orders']);
    assert.equal(v2!.deadLetterTopic, 'dlq');
    const v1 = parseDeclarativeSubscription(resource('dapr.io/v1alpha1', { pubsubname: 'pubsub', topic: 'orders', route: '/orders' }), noDiscard);
    assert.deepEqual(v1!.rules, [{ match: '', path: '/orders' }]);
  });

  test('a wrong field type names the file and resource', () => {
    assert.throws(() => parseDeclarativeSubscription(resource('dapr.io/v2alpha1', { pubsubname: 'p', topic: 't', routes: 'nope' }), noDiscard), /subs\.yaml.*orders-sub.*spec\.routes/);
  });
});

describe('routing', () => {
  const table = compileRoutes([
    { match: 'event.type == "order.created"', path: '/created' },
    { match: 'event.data.amount >= 100', path: '/big' },
    { match: '', path: '/default' },
  ]);

  test('first matching rule wins, default last', () => {
    assert.equal(table.pathFor({ type: 'order.created', data: { amount: 500 } }), '/created');
    assert.equal(table.pathFor({ type: 'order.updated', data: { amount: 500 } }), '/big');
    assert.equal(table.pathFor({ type: 'order.updated', data: { amount: 5 } }), '/default');
  });

  test('an expression failing on an event (missing field) does not match it', () => {
    assert.equal(table.pathFor({ type: 'x', data: 'a string' }), '/default');
    assert.equal(compileRoutes([{ match: 'event.data.amount > 1', path: '/x' }]).pathFor({}), null);
  });

  test('a table without expressions does not inspect events', () => {
    assert.equal(compileRoutes([{ match: '', path: '/a' }]).inspectsEvent, false);
    assert.equal(table.inspectsEvent, true);
  });
});

describe("the app's answer", () => {
  const answer = (status: number, body = ''): { status: number; headers: string[]; body: Buffer } => ({ status, headers: [], body: Buffer.from(body) });

  test('maps statuses as daprd does', () => {
    assert.equal(eventResult(answer(200)).outcome, 'success');
    assert.equal(eventResult(answer(204)).outcome, 'success');
    assert.equal(eventResult(answer(200, 'not json')).outcome, 'success');
    assert.equal(eventResult(answer(200, '{"status":"SUCCESS"}')).outcome, 'success');
    assert.equal(eventResult(answer(200, '{"status":""}')).outcome, 'success');
    assert.equal(eventResult(answer(200, '{"status":"RETRY"}')).outcome, 'retry');
    assert.equal(eventResult(answer(200, '{"status":"DROP"}')).outcome, 'drop');
    assert.equal(eventResult(answer(200, '{"status":"drop"}')).outcome, 'retry', 'statuses are upper-case and exact');
    assert.equal(eventResult(answer(404)).outcome, 'drop');
    assert.equal(eventResult(answer(500)).outcome, 'retry');
    assert.equal(eventResult(answer(302)).outcome, 'retry');
  });

  test('bulk: per-entry statuses, missing entries retry, 404 drops all', () => {
    const results = bulkResults(answer(200, JSON.stringify({ statuses: [{ entryId: 'a', status: 'SUCCESS' }, { entryId: 'b', status: 'DROP' }, { entryId: 'zz', status: 'SUCCESS' }] })), ['a', 'b', 'c']);
    assert.deepEqual([...results].map(([id, r]) => [id, r.outcome]), [
      ['a', 'success'],
      ['b', 'drop'],
      ['c', 'retry'],
    ]);
    assert.deepEqual([...bulkResults(answer(404), ['a']).values()].map((r) => r.outcome), ['drop']);
    assert.deepEqual([...bulkResults(answer(503), ['a']).values()].map((r) => r.outcome), ['retry']);
    assert.deepEqual([...bulkResults(answer(200, 'garbage'), ['a']).values()].map((r) => r.outcome), ['retry']);
  });
});
