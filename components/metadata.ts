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

/** A Go duration ("30s", "1m30s", "500ms"); a bare integer counts as milliseconds. Returns milliseconds. */
export function durationProperty(meta: ComponentMetadata, name: string, fallbackMs: number): number {
  const raw = present(meta, name);
  if (raw === undefined) return fallbackMs;
  if (/^\d+$/.test(raw)) return Number(raw);
  try {
    const ms = parseGoDuration(raw);
    if (ms < 0) throw new Error('negative');
    return ms;
  } catch {
    throw new Error(`metadata "${name}" must be a duration such as "30s" or "500ms", got "${raw}"`);
  }
}

/**
 * A wait written as whole seconds ("5") or as a Go duration ("5s"), as daprd's `...Seconds` fields accept it; the
 * first of `names` that is set is read. Returns milliseconds.
 */
export function secondsProperty(meta: ComponentMetadata, names: readonly string[], fallbackMs: number): number {
  const name = names.find((candidate) => present(meta, candidate) !== undefined);
  if (name === undefined) return fallbackMs;
  const raw = present(meta, name)!;
  if (/^\d+$/.test(raw)) return Number(raw) * 1000;
  try {
    const ms = parseGoDuration(raw);
    if (ms >= 0) return ms;
  } catch {
    // Reported below with the field's name.
  }
  throw new Error(`metadata "${name}" must be a number of seconds or a duration such as "5s", got "${raw}"`);
}
