// daprd turns resource YAML into JSON and decodes it with Go's encoding/json, so field names match
// case-insensitively (`auth.secretstore` is `auth.secretStore`). Rather than case-folding at every lookup,
// a document is rewritten once against a description of the known schema: recognised keys take their canonical
// spelling, everything else is kept as written.

import { parseGoDuration } from './duration.js';
import { ResourceError } from './errors.js';

/** The known part of a document's schema. */
export interface Shape {
  /** An object with these known keys. */
  readonly fields?: Readonly<Record<string, Shape>>;
  /** A list whose items have this shape. */
  readonly items?: Shape;
  /** A map with user-chosen keys (policy names, app ids) whose values have this shape. */
  readonly entries?: Shape;
}

/** A value whose inner keys are not interpreted. */
export const LEAF: Shape = Object.freeze({});

const foldedKeys = new WeakMap<Readonly<Record<string, Shape>>, Map<string, string>>();

function canonicalKeys(fields: Readonly<Record<string, Shape>>): Map<string, string> {
  let keys = foldedKeys.get(fields);
  if (keys === undefined) {
    keys = new Map(Object.keys(fields).map((key) => [key.toLowerCase(), key]));
    foldedKeys.set(fields, keys);
  }
  return keys;
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// YAML may legitimately use "__proto__" as a key; it must become data, not the object's prototype.
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/** Copies `value`, renaming keys the shape knows to their canonical spelling (later duplicates win, as in Go). */
export function normalizeKeys(value: unknown, shape: Shape): unknown {
  if (Array.isArray(value)) {
    const items = shape.items;
    return items === undefined ? value : value.map((item) => normalizeKeys(item, items));
  }
  if (!isMapping(value)) return value;
  const { fields, entries } = shape;
  if (fields !== undefined) {
    const keys = canonicalKeys(fields);
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      const canonical = keys.get(key.toLowerCase());
      if (canonical === undefined) setOwn(out, key, inner);
      else setOwn(out, canonical, normalizeKeys(inner, fields[canonical]!));
    }
    return out;
  }
  if (entries !== undefined) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) setOwn(out, key, normalizeKeys(inner, entries));
    return out;
  }
  return value;
}

/**
 * Typed reads of normalised documents. Absent and null values take the fallback, as a Go zero value would;
 * a value of the wrong type is a ResourceError naming the field.
 */
export class FieldReader {
  constructor(
    readonly file: string,
    readonly resource: string,
  ) {}

  fail(reason: string, cause?: unknown): never {
    throw new ResourceError(this.file, this.resource, reason, cause === undefined ? undefined : { cause });
  }

  /** Scalars are accepted and stringified, as YAML decoders do for string fields. */
  string(value: unknown, path: string, fallback = ''): string {
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    return this.fail(`${path} must be a string`);
  }

  bool(value: unknown, path: string, fallback = false): boolean {
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'boolean') return value;
    return this.fail(`${path} must be true or false`);
  }

  /** Integers may also be written as numeric strings, as Dapr's weakly typed decoders allow. */
  int(value: unknown, path: string, fallback: number): number {
    if (value === undefined || value === null) return fallback;
    const n = typeof value === 'string' && /^[+-]?\d+$/.test(value.trim()) ? Number(value) : value;
    if (typeof n === 'number' && Number.isSafeInteger(n)) return n;
    return this.fail(`${path} must be an integer`);
  }

  number(value: unknown, path: string, fallback: number): number {
    if (value === undefined || value === null) return fallback;
    const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    if (typeof n === 'number' && Number.isFinite(n)) return n;
    return this.fail(`${path} must be a number`);
  }

  /** A Go duration string such as "5s", in milliseconds. */
  durationMs(value: unknown, path: string, fallbackMs: number): number {
    if (value === undefined || value === null || value === '') return fallbackMs;
    if (typeof value !== 'string') return this.fail(`${path} must be a duration such as "5s"`);
    try {
      return parseGoDuration(value);
    } catch (err) {
      return this.fail(`${path}: ${(err as Error).message}`);
    }
  }

  list(value: unknown, path: string): unknown[] {
    if (value === undefined || value === null) return [];
    if (Array.isArray(value)) return value;
    return this.fail(`${path} must be a list`);
  }

  strings(value: unknown, path: string): string[] {
    return this.list(value, path).map((item, i) => this.string(item, `${path}[${i}]`));
  }

  mapping(value: unknown, path: string): Record<string, unknown> {
    if (value === undefined || value === null) return {};
    if (isMapping(value)) return value;
    return this.fail(`${path} must be a mapping`);
  }
}
