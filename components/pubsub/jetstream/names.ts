// Names the component gives to streams and durable consumers, and NATS subject matching.

import { createHash } from 'node:crypto';

/** What a stream or consumer name may hold everywhere (no '.', '*', '>', path separators or white space). */
const UNSAFE = /[^A-Za-z0-9_-]+/g;
/** Keeps names well below file name limits: the server stores each stream and consumer in a directory. */
const MAX_READABLE_PART = 40;

/**
 * A stable, valid stream or consumer name for `parts`: their readable form, then a digest of the exact parts so
 * that different inputs never meet on one name (topics "a.b" and "a_b", or parts that split differently).
 */
export function natsName(...parts: readonly string[]): string {
  const readable = parts.map((part) => part.replace(UNSAFE, '_').slice(0, MAX_READABLE_PART)).join('_');
  const digest = createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 8);
  return `${readable}_${digest}`;
}

/** Whether a stream subject (which may hold the wildcards `*` and `>`) takes messages published to `subject`. */
export function subjectCovers(pattern: string, subject: string): boolean {
  const wanted = pattern.split('.');
  const tokens = subject.split('.');
  for (let i = 0; i < wanted.length; i++) {
    if (wanted[i] === '>') return tokens.length > i;
    if (i >= tokens.length || (wanted[i] !== '*' && wanted[i] !== tokens[i])) return false;
  }
  return wanted.length === tokens.length;
}
