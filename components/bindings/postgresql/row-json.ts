// Query results as daprd's PostgreSQL binding answers them: a JSON array of rows, each an array of column values
// encoded the way Go's encoding/json prints what pgx decodes: numbers and booleans as JSON literals, json/jsonb as
// the document itself, timestamps and dates as RFC3339 strings, bytea as base64, NULL as null, arrays as arrays;
// any other type as its text. Each value is turned into its JSON text straight from PostgreSQL's text, so int8
// and numeric values keep every digit instead of passing through a JavaScript number.

import pg from 'pg';
import type { CustomTypesConfig } from 'pg';

/** A value's PostgreSQL text form to its JSON text. */
type Fragment = (text: string) => string;

const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)$/;
const TIMESTAMPTZ = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{2})(?::(\d{2}))?$/;

const text: Fragment = (value) => JSON.stringify(value);
// NaN and the infinities have no JSON literal.
const number: Fragment = (value) => (JSON_NUMBER.test(value) ? value : text(value));
const boolean: Fragment = (value) => (value === 't' ? 'true' : 'false');
const document: Fragment = (value) => value;
const parseBytea = pg.types.getTypeParser(pg.types.builtins.BYTEA, 'text') as (value: string) => Buffer;
const bytea: Fragment = (value) => text(parseBytea(value).toString('base64'));
// pgx decodes a date to midnight UTC; special values (infinity) and BC dates stay text.
const date: Fragment = (value) => text(DATE.test(value) ? `${value}T00:00:00Z` : value);
const timestamp: Fragment = (value) => {
  const parts = TIMESTAMP.exec(value);
  return text(parts === null ? value : `${parts[1]}T${parts[2]}Z`);
};
/** Needs the ISO DateStyle (the server default); other styles stay text. */
const timestamptz: Fragment = (value) => {
  const parts = TIMESTAMPTZ.exec(value);
  if (parts === null) return text(value);
  const [, day, time, hours, minutes = '00'] = parts;
  const offset = hours!.slice(1) === '00' && minutes === '00' ? 'Z' : `${hours}:${minutes}`;
  return text(`${day}T${time}${offset}`);
};

const { builtins } = pg.types;
const SCALARS = new Map<number, Fragment>([
  [builtins.INT2, number],
  [builtins.INT4, number],
  [builtins.INT8, number],
  [builtins.OID, number],
  [builtins.FLOAT4, number],
  [builtins.FLOAT8, number],
  [builtins.NUMERIC, number],
  [builtins.BOOL, boolean],
  [builtins.JSON, document],
  [builtins.JSONB, document],
  [builtins.BYTEA, bytea],
  [builtins.DATE, date],
  [builtins.TIMESTAMP, timestamp],
  [builtins.TIMESTAMPTZ, timestamptz],
]);

/** Array type OID -> element type OID, for the array types whose elements are not plain text. */
const ARRAY_ELEMENTS = new Map<number, number>([
  [1000, builtins.BOOL],
  [1001, builtins.BYTEA],
  [1005, builtins.INT2],
  [1007, builtins.INT4],
  [1016, builtins.INT8],
  [1021, builtins.FLOAT4],
  [1022, builtins.FLOAT8],
  [1028, builtins.OID],
  [1231, builtins.NUMERIC],
  [1182, builtins.DATE],
  [1115, builtins.TIMESTAMP],
  [1185, builtins.TIMESTAMPTZ],
  [199, builtins.JSON],
  [3807, builtins.JSONB],
]);
/** Array types of text-like elements (text, varchar, bpchar, name, uuid). */
const TEXT_ARRAYS = new Set([1009, 1015, 1014, 1003, 2951]);

/**
 * An array literal as PostgreSQL prints it (`{1,NULL,{"a b","c\"d"}}`, with a `[0:1]=` prefix when the lower
 * bound is not 1) as a JSON array of `element` fragments; nested arrays stay nested.
 */
function arrayOf(element: Fragment): Fragment {
  return (literal) => {
    let json = '';
    let i = literal.startsWith('[') ? literal.indexOf('=') + 1 : 0;
    while (i < literal.length) {
      const ch = literal[i]!;
      if (ch === '{' || ch === '}' || ch === ',') {
        json += ch === '{' ? '[' : ch === '}' ? ']' : ',';
        i++;
      } else if (ch === '"') {
        let value = '';
        for (i++; i < literal.length && literal[i] !== '"'; i++) {
          if (literal[i] === '\\') i++;
          value += literal[i];
        }
        i++;
        json += element(value);
      } else {
        let end = i;
        while (end < literal.length && literal[end] !== ',' && literal[end] !== '}') end++;
        const value = literal.slice(i, end);
        json += value === 'NULL' ? 'null' : element(value);
        i = end;
      }
    }
    return json;
  };
}

function fragmentFor(oid: number): Fragment {
  const scalar = SCALARS.get(oid);
  if (scalar !== undefined) return scalar;
  const element = ARRAY_ELEMENTS.get(oid);
  if (element !== undefined) return arrayOf(SCALARS.get(element)!);
  return TEXT_ARRAYS.has(oid) ? arrayOf(text) : text;
}

/** Makes node-postgres turn every non-NULL column value into its JSON text; NULL stays null. */
export const JSON_FRAGMENTS: CustomTypesConfig = { getTypeParser: fragmentFor as CustomTypesConfig['getTypeParser'] };

/** Rows read with `rowMode: 'array'` and JSON_FRAGMENTS, as the JSON array of row arrays. */
export function rowsJson(rows: readonly (readonly (string | null)[])[]): string {
  return `[${rows.map((row) => `[${row.map((value) => value ?? 'null').join(',')}]`).join(',')}]`;
}
