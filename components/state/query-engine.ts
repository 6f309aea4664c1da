// Evaluates the state query language (filter, sort, page) over decoded JSON values, for stores whose backend
// cannot run the query itself. Validation follows components-contrib's parser: every filter unit has exactly one
// operator, EQ/IN name exactly one path, AND/OR hold at least two clauses.

import type { StateQuery } from './store.js';

/** A malformed query (the runtime answers ERR_STATE_QUERY). */
export class QueryError extends Error {
  constructor(message: string) {
    super(`invalid state query: ${message}`);
    this.name = 'QueryError';
  }
}

/** One candidate: its stored key and its value decoded from JSON. */
export interface QueryRow {
  key: string;
  value: unknown;
}

export interface QueryPage<R extends QueryRow> {
  results: R[];
  /** The offset of the next page; absent on the last page. */
  token?: string;
}

export interface CompiledQuery {
  matches(value: unknown): boolean;
  /** Filters, orders (by the sort keys, then by key) and pages the candidates. */
  select<R extends QueryRow>(rows: Iterable<R>): QueryPage<R>;
}

type Predicate = (value: unknown) => boolean;
type Path = readonly string[];

interface SortKey {
  path: Path;
  descending: boolean;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Validates the query once; the result can be applied to any number of candidate sets. */
export function compileQuery(query: StateQuery): CompiledQuery {
  // Queries arrive as client JSON, so every part is checked as if untyped.
  const raw: unknown = query;
  if (!isRecord(raw)) throw new QueryError('the query must be an object');
  const matches = raw['filter'] === undefined ? () => true : compileFilter(raw['filter']);
  const sortKeys = compileSort(raw['sort']);
  const { offset, limit } = compilePage(raw['page']);
  return {
    matches,
    select<R extends QueryRow>(rows: Iterable<R>): QueryPage<R> {
      const selected: R[] = [];
      for (const row of rows) if (matches(row.value)) selected.push(row);
      selected.sort((a, b) => compareRows(a, b, sortKeys));
      const end = limit === undefined ? selected.length : offset + limit;
      const page: QueryPage<R> = { results: selected.slice(offset, end) };
      if (end < selected.length) page.token = String(end);
      return page;
    },
  };
}

function compileFilter(filter: unknown): Predicate {
  if (!isRecord(filter)) throw new QueryError('a filter must be an object');
  const operators = Object.keys(filter);
  if (operators.length !== 1) throw new QueryError(`a filter must have exactly one operator, found ${operators.length}`);
  const operator = operators[0]!;
  const operand = filter[operator];
  switch (operator) {
    case 'EQ': {
      const [path, expected] = singleEntry('EQ', operand);
      return (value) => jsonEqual(valueAt(value, path), expected);
    }
    case 'IN': {
      const [path, candidates] = singleEntry('IN', operand);
      if (!Array.isArray(candidates)) throw new QueryError('the IN filter value must be an array');
      return (value) => {
        const actual = valueAt(value, path);
        return actual !== undefined && candidates.some((candidate) => jsonEqual(actual, candidate));
      };
    }
    case 'AND':
    case 'OR': {
      if (!Array.isArray(operand) || operand.length < 2) throw new QueryError(`the ${operator} filter must be an array of at least two filters`);
      const clauses = operand.map(compileFilter);
      return operator === 'AND' ? (value) => clauses.every((clause) => clause(value)) : (value) => clauses.some((clause) => clause(value));
    }
    default:
      throw new QueryError(`unsupported filter operator "${operator}"`);
  }
}

function singleEntry(operator: string, operand: unknown): [Path, unknown] {
  if (!isRecord(operand)) throw new QueryError(`the ${operator} filter must be an object`);
  const entries = Object.entries(operand);
  if (entries.length !== 1) throw new QueryError(`the ${operator} filter must hold exactly one key/value pair`);
  const [key, expected] = entries[0]!;
  return [parsePath(key), expected];
}

function parsePath(key: unknown): Path {
  if (typeof key !== 'string' || key === '') throw new QueryError('a query key must be a non-empty string');
  const path = key.split('.');
  if (path.includes('')) throw new QueryError(`malformed query key "${key}"`);
  return path;
}

function compileSort(sort: unknown): SortKey[] {
  if (sort === undefined) return [];
  if (!Array.isArray(sort)) throw new QueryError('sort must be an array');
  return sort.map((entry: unknown) => {
    if (!isRecord(entry)) throw new QueryError('a sort entry must be an object');
    const order = entry['order'];
    if (order !== undefined && order !== 'ASC' && order !== 'DESC') throw new QueryError(`sort order must be ASC or DESC, not ${JSON.stringify(order)}`);
    return { path: parsePath(entry['key']), descending: order === 'DESC' };
  });
}

function compilePage(page: unknown): { offset: number; limit: number | undefined } {
  if (page === undefined) return { offset: 0, limit: undefined };
  if (!isRecord(page)) throw new QueryError('page must be an object');
  const { limit, token } = page;
  if (limit !== undefined && (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0)) throw new QueryError(`page limit must be a non-negative integer, not ${JSON.stringify(limit)}`);
  let offset = 0;
  if (token !== undefined && token !== '') {
    if (typeof token !== 'string' || !/^\d+$/.test(token) || !Number.isSafeInteger(Number(token))) throw new QueryError(`malformed page token ${JSON.stringify(token)}`);
    offset = Number(token);
  }
  return { offset, limit: limit === undefined || limit === 0 ? undefined : limit };
}

/** The value at a dotted path into nested objects; undefined when any step is missing. */
function valueAt(value: unknown, path: Path): unknown {
  let current = value;
  for (const step of path) {
    if (!isRecord(current) || !Object.hasOwn(current, step)) return undefined;
    current = current[step];
  }
  return current;
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  if (isRecord(a) && isRecord(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key], b[key]));
  }
  return false;
}

function compareRows(a: QueryRow, b: QueryRow, sortKeys: readonly SortKey[]): number {
  for (const { path, descending } of sortKeys) {
    const order = compareValues(valueAt(a.value, path), valueAt(b.value, path));
    if (order !== 0) return descending ? -order : order;
  }
  // Ties (and unsorted queries) fall back to the key, so pages of the same data never overlap or skip rows.
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

// A total order over JSON values: by type, then within the type. Missing values rank above everything, so they
// come last in ascending order and first in descending order, as NULLs do in SQL.
const TYPE_RANK: Readonly<Record<string, number>> = { null: 0, boolean: 1, number: 2, string: 3, array: 4, object: 5, missing: 6 };

function typeOf(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function compareValues(a: unknown, b: unknown): number {
  const typeA = typeOf(a);
  const typeB = typeOf(b);
  if (typeA !== typeB) return TYPE_RANK[typeA]! - TYPE_RANK[typeB]!;
  switch (typeA) {
    case 'boolean':
    case 'number':
    case 'string':
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
    case 'array': {
      const left = a as unknown[];
      const right = b as unknown[];
      for (let i = 0; i < Math.min(left.length, right.length); i++) {
        const order = compareValues(left[i], right[i]);
        if (order !== 0) return order;
      }
      return left.length - right.length;
    }
    case 'object': {
      // Objects have no natural order; their canonical text keeps the sort deterministic.
      const left = JSON.stringify(a);
      const right = JSON.stringify(b);
      return left < right ? -1 : left > right ? 1 : 0;
    }
    default:
      return 0;
  }
}
