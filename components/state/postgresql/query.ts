// Translates the state query language into one parameterised SELECT over the jsonb `value` column. The query is
// first validated by the shared query engine, so the translation below may assume a well-formed query. Paths step
// only through object members (`->` with a text key), as the engine's evaluation does.

import { compileQuery } from '../query-engine.js';
import type { QueryFilter, QueryRequest } from '../store.js';
import { LIVE, ROW_COLUMNS } from './sql.js';

export interface SqlQuery {
  text: string;
  values: unknown[];
  offset: number;
  /** Page size, or undefined for every match. One row more than this is fetched to learn whether a next page exists. */
  limit: number | undefined;
}

export function translateQuery(table: string, req: QueryRequest): SqlQuery {
  const { query } = req;
  compileQuery(query);
  const values: unknown[] = [];
  const param = (value: unknown, cast: string): string => {
    values.push(value);
    return `$${values.length}::${cast}`;
  };
  const path = (dotted: string): string => {
    let expr = 'value';
    for (const step of dotted.split('.')) expr += ` -> ${param(step, 'text')}`;
    return `(${expr})`;
  };
  const filter = (f: QueryFilter): string => {
    if ('EQ' in f) {
      const [key, expected] = Object.entries(f.EQ)[0]!;
      return `${path(key)} = ${param(JSON.stringify(expected), 'jsonb')}`;
    }
    if ('IN' in f) {
      const [key, candidates] = Object.entries(f.IN)[0]!;
      return `${path(key)} = ANY(${param(candidates.map((candidate) => JSON.stringify(candidate)), 'jsonb[]')})`;
    }
    if ('AND' in f) return `(${f.AND.map(filter).join(' AND ')})`;
    return `(${f.OR.map(filter).join(' OR ')})`;
  };

  let text = `SELECT ${ROW_COLUMNS} FROM ${table} WHERE key LIKE ${param(escapeLike(req.keyPrefix) + '%', 'text')} AND ${LIVE}`;
  if (query.filter !== undefined) text += ` AND ${filter(query.filter)}`;
  const order = (query.sort ?? []).map((s) => `${path(s.key)} ${s.order === 'DESC' ? 'DESC' : 'ASC'}`);
  // Ties (and unsorted queries) fall back to the key, so pages of the same data never overlap or skip rows.
  order.push('key COLLATE "C" ASC');
  text += ` ORDER BY ${order.join(', ')}`;

  const limit = query.page?.limit === undefined || query.page.limit === 0 ? undefined : query.page.limit;
  const offset = query.page?.token ? Number(query.page.token) : 0;
  if (limit !== undefined) text += ` LIMIT ${param(limit + 1, 'bigint')}`;
  if (offset > 0) text += ` OFFSET ${param(offset, 'bigint')}`;
  return { text, values, offset, limit };
}

/** LIKE treats `%`, `_` and its escape character `\` specially; a key prefix must match literally. */
function escapeLike(prefix: string): string {
  return prefix.replace(/[\\%_]/g, '\\$&');
}
