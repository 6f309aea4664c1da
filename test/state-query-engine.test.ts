import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { QueryError, compileQuery, type QueryRow } from '../components/state/query-engine.js';
import type { StateQuery } from '../components/state/store.js';

const ROWS: readonly QueryRow[] = [
  { key: 'app||1', value: { person: { org: 'Dev Ops', id: 1036 }, state: 'WA', tags: ['a', 'b'] } },
  { key: 'app||2', value: { person: { org: 'Hardware', id: 1028 }, state: 'OR', tags: ['b'] } },
  { key: 'app||3', value: { person: { org: 'Finance', id: 1071 }, state: 'CA' } },
  { key: 'app||4', value: { person: { org: 'Dev Ops', id: 1042 }, state: 'WA', active: true } },
  { key: 'app||5', value: { person: { org: 'Hardware', id: 7 }, state: 'CA', active: false } },
  { key: 'app||6', value: 'just a string' },
  { key: 'app||7', value: null },
  { key: 'app||8', value: { person: null, state: 'WA' } },
];

const keysOf = (query: StateQuery, rows: readonly QueryRow[] = ROWS): string[] => compileQuery(query).select(rows).results.map((row) => row.key);

describe('state query engine', () => {
  it('without a filter selects every row, ordered by key', () => {
    const shuffled = [ROWS[4]!, ROWS[0]!, ROWS[7]!, ROWS[2]!];
    assert.deepEqual(keysOf({}, shuffled), ['app||1', 'app||3', 'app||5', 'app||8']);
  });

  it('EQ compares JSON values at dotted paths', () => {
    assert.deepEqual(keysOf({ filter: { EQ: { 'person.org': 'Dev Ops' } } }), ['app||1', 'app||4']);
    assert.deepEqual(keysOf({ filter: { EQ: { 'person.id': 1071 } } }), ['app||3']);
    assert.deepEqual(keysOf({ filter: { EQ: { 'person.id': '1071' } } }), [], 'a string never equals a number');
    assert.deepEqual(keysOf({ filter: { EQ: { active: false } } }), ['app||5']);
    assert.deepEqual(keysOf({ filter: { EQ: { person: null } } }), ['app||8']);
    assert.deepEqual(keysOf({ filter: { EQ: { tags: ['a', 'b'] } } }), ['app||1'], 'arrays compare element by element');
    assert.deepEqual(keysOf({ filter: { EQ: { person: { id: 1028, org: 'Hardware' } } } }), ['app||2'], 'objects compare by members');
    assert.deepEqual(keysOf({ filter: { EQ: { 'person.org.name': 'x' } } }), [], 'a path through a string finds nothing');
    assert.deepEqual(keysOf({ filter: { EQ: { 'person.constructor': 'x' } } }), [], 'inherited members are not values');
  });

  it('IN matches any of the listed values; missing paths never match', () => {
    assert.deepEqual(keysOf({ filter: { IN: { state: ['CA', 'OR'] } } }), ['app||2', 'app||3', 'app||5']);
    assert.deepEqual(keysOf({ filter: { IN: { state: [] } } }), []);
    assert.deepEqual(keysOf({ filter: { IN: { active: [true, false] } } }), ['app||4', 'app||5']);
  });

  it('AND and OR combine and nest', () => {
    assert.deepEqual(keysOf({ filter: { AND: [{ EQ: { state: 'WA' } }, { EQ: { 'person.org': 'Dev Ops' } }] } }), ['app||1', 'app||4']);
    assert.deepEqual(keysOf({ filter: { OR: [{ EQ: { state: 'OR' } }, { EQ: { 'person.id': 7 } }] } }), ['app||2', 'app||5']);
    const nested: StateQuery = {
      filter: {
        OR: [
          { AND: [{ EQ: { state: 'WA' } }, { EQ: { active: true } }] },
          { AND: [{ IN: { state: ['CA'] } }, { EQ: { 'person.org': 'Finance' } }] },
        ],
      },
    };
    assert.deepEqual(keysOf(nested), ['app||3', 'app||4']);
  });

  it('sorts ascending and descending, missing values last ascending, ties by key', () => {
    assert.deepEqual(keysOf({ filter: { EQ: { state: 'WA' } }, sort: [{ key: 'person.id' }] }), ['app||1', 'app||4', 'app||8']);
    assert.deepEqual(keysOf({ filter: { EQ: { state: 'WA' } }, sort: [{ key: 'person.id', order: 'DESC' }] }), ['app||8', 'app||4', 'app||1']);
    assert.deepEqual(keysOf({ filter: { IN: { state: ['CA', 'OR'] } }, sort: [{ key: 'person.id', order: 'ASC' }] }), ['app||5', 'app||2', 'app||3']);
    assert.deepEqual(
      keysOf({ sort: [{ key: 'state', order: 'DESC' }, { key: 'person.org' }], filter: { IN: { state: ['WA', 'CA'] } } }),
      ['app||1', 'app||4', 'app||8', 'app||3', 'app||5'],
      'later sort keys break ties of earlier ones; a missing org sorts after present ones',
    );
    const mixed: QueryRow[] = [
      { key: 'a', value: { v: 'text' } },
      { key: 'b', value: { v: 10 } },
      { key: 'c', value: { v: null } },
      { key: 'd', value: { v: 2 } },
      { key: 'e', value: { v: true } },
      { key: 'f', value: {} },
      { key: 'g', value: { v: [1, 2] } },
      { key: 'h', value: { v: [1] } },
      { key: 'i', value: { v: { z: 1 } } },
    ];
    assert.deepEqual(keysOf({ sort: [{ key: 'v' }] }, mixed), ['c', 'e', 'd', 'b', 'a', 'h', 'g', 'i', 'f'], 'a total order across JSON types');
  });

  it('pages with limit and an offset token, ending without a token', () => {
    const query = compileQuery({ filter: { EQ: { state: 'WA' } }, page: { limit: 2 } });
    const first = query.select(ROWS);
    assert.deepEqual(first.results.map((row) => row.key), ['app||1', 'app||4']);
    assert.equal(first.token, '2');
    const second = compileQuery({ filter: { EQ: { state: 'WA' } }, page: { limit: 2, token: first.token } }).select(ROWS);
    assert.deepEqual(second.results.map((row) => row.key), ['app||8']);
    assert.equal(second.token, undefined);
    const exact = compileQuery({ page: { limit: 8 } }).select(ROWS);
    assert.equal(exact.results.length, 8);
    assert.equal(exact.token, undefined, 'no token when the page ends exactly at the last row');
    assert.deepEqual(compileQuery({ page: { limit: 3, token: '100' } }).select(ROWS), { results: [] });
    assert.equal(compileQuery({ page: { limit: 0 } }).select(ROWS).results.length, 8, 'limit 0 means no limit');
    assert.equal(compileQuery({ page: { token: '' } }).select(ROWS).results.length, 8);
  });

  it('consumes candidates lazily and exposes the filter on its own', () => {
    const query = compileQuery({ filter: { EQ: { n: 2 } } });
    assert.equal(query.matches({ n: 2 }), true);
    assert.equal(query.matches({ n: 3 }), false);
    function* generated(): Generator<QueryRow> {
      for (let n = 0; n < 5; n++) yield { key: `k${n}`, value: { n } };
    }
    assert.deepEqual(query.select(generated()).results, [{ key: 'k2', value: { n: 2 } }]);
  });

  it('rejects malformed queries with QueryError', () => {
    const malformed: unknown[] = [
      null,
      [],
      { filter: {} },
      { filter: { EQ: { a: 1 }, IN: { b: [1] } } },
      { filter: { NE: { a: 1 } } },
      { filter: { EQ: {} } },
      { filter: { EQ: { a: 1, b: 2 } } },
      { filter: { EQ: 'a' } },
      { filter: { IN: { a: 'not-an-array' } } },
      { filter: { AND: [{ EQ: { a: 1 } }] } },
      { filter: { OR: { EQ: { a: 1 } } } },
      { filter: { AND: [{ EQ: { a: 1 } }, { XOR: {} }] } },
      { filter: { EQ: { 'a..b': 1 } } },
      { filter: { EQ: { '': 1 } } },
      { sort: { key: 'a' } },
      { sort: [{ key: 'a', order: 'UP' }] },
      { sort: [{ order: 'ASC' }] },
      { sort: ['a'] },
      { page: 5 },
      { page: { limit: -1 } },
      { page: { limit: 1.5 } },
      { page: { limit: '10' } },
      { page: { token: 'abc' } },
      { page: { token: '-1' } },
      { page: { token: 5 } },
    ];
    for (const query of malformed) {
      assert.throws(() => compileQuery(query as StateQuery), QueryError, JSON.stringify(query));
    }
  });
});
