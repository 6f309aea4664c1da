// Typed readers of component metadata, decoding values the way components-contrib does: names match ignoring case,
// an empty value counts as absent, and a bad value stops start-up with a message naming the field.

import { parseGoDuration } from '../proxy/resources/duration.js';
import { metadataValue, type ComponentMetadata } from './registry.js';

const TRUTHY = new Set(['1', 'true', 't', 'y', 'yes', 'on']);
const FALSY = new Set(['0', 'false', 'f', 'n', 'no', 'off']);

/** Dapr's reading of a yes/no value where a bad one is just "no" (e.g. a subscription's `rawPayload`). */
export function isTruthy(value: string | undefined): boolean {
  return value !== undefined && TRUTHY.has(value.trim().toLowerCase());
}

function present(meta: ComponentMetadata, name: string): string | undefined {
  const raw = metadataValue(meta, name)?.trim();
  return raw === undefined || raw === '' ? undefined : raw;
}

export function stringProperty(meta: ComponentMetadata, name: string, fallback: string): string {
  return present(meta, name) ?? fallback;
}

export function integerProperty(meta: ComponentMetadata, name: string, fallback: number, min = Number.MIN_SAFE_INTEGER): number {
  const raw = present(meta, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^[+-]?\d+$/.test(raw) || value < min) throw new Error(`metadata "${name}" must be an integer >= ${min}, got "${raw}"`);
  return value;
}

export function booleanProperty(meta: ComponentMetadata, name: string, fallback: boolean): boolean {
  const raw = present(meta, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (TRUTHY.has(raw)) return true;
  if (FALSY.has(raw)) return false;
  throw new Error(`metadata "${name}" must be a boolean, got "${raw}"`);
}


/**
 * A Go duration ("30s", "1m30s", "500ms") or, as dapr/kit's metadata decoder reads it, a bare integer of seconds.
 * The first of `names` that is set is read (daprd renamed some fields). Returns milliseconds.
 */
export function durationProperty(meta: ComponentMetadata, names: string | readonly string[], fallbackMs: number): number {
  const name = typeof names === 'string' ? names : names.find((candidate) => present(meta, candidate) !== undefined);
  const raw = name === undefined ? undefined : present(meta, name);
  if (raw === undefined) return fallbackMs;
  if (/^\d+$/.test(raw)) return Number(raw) * 1000;
  try {
    const ms = parseGoDuration(raw);
    if (ms >= 0) return ms;
  } catch {
    // Reported below with the field's name.
  }
  throw new Error(`metadata "${name}" must be a duration such as "5s" or "500ms", or a number of seconds, got "${raw}"`);
}
