// Component metadata of `state.sqlite`, with the names and defaults of Dapr's SQLite state store. The connection
// string is a file path, `:memory:`, or a `file:` URI whose query may carry `mode` and `_pragma=name(value)` items.

import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseGoDuration } from '../../../proxy/resources/index.js';
import { metadataValue, type ComponentMetadata } from '../../registry.js';

export interface SqliteOptions {
  /** A file path, or ':memory:'. */
  path: string;
  readonly: boolean;
  /** Open only an existing file (URI `mode=rw`). */
  mustExist: boolean;
  /** From the URI's `_pragma` items, applied after the store's own settings; names and values are validated. */
  pragmas: readonly (readonly [name: string, value: string])[];
  tableName: string;
  metadataTableName: string;
  busyTimeoutMs: number;
  /** 0 disables the background removal of expired rows. */
  cleanupIntervalMs: number;
  wal: boolean;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const PRAGMA = /^([a-z_]+)\(([A-Za-z0-9_.+-]+)\)$/;
const IN_MEMORY = ':memory:';
const DEFAULT_TIMEOUT = '20s';
const DEFAULT_CLEANUP_INTERVAL = '1h';

export function parseSqliteOptions(meta: ComponentMetadata): SqliteOptions {
  const connectionString = metadataValue(meta, 'connectionString')?.trim() ?? '';
  if (connectionString === '') throw new Error('state.sqlite: metadata "connectionString" is required');
  const timeoutMs = duration(meta, 'timeout', DEFAULT_TIMEOUT);
  if (timeoutMs <= 0) throw new Error('state.sqlite: metadata "timeout" must be positive');
  // Statements run synchronously, so the only time an operation can spend waiting is on another writer's lock.
  const busyTimeoutMs = duration(meta, 'busyTimeout', metadataValue(meta, 'timeout') || DEFAULT_TIMEOUT);
  if (busyTimeoutMs < 0) throw new Error('state.sqlite: metadata "busyTimeout" must not be negative');
  return {
    ...parseConnectionString(connectionString),
    tableName: identifier(meta, 'tableName', 'state'),
    metadataTableName: identifier(meta, 'metadataTableName', 'metadata'),
    busyTimeoutMs: Math.round(busyTimeoutMs),
    cleanupIntervalMs: Math.max(0, duration(meta, 'cleanupInterval', DEFAULT_CLEANUP_INTERVAL)),
    wal: !flag(meta, 'disableWAL'),
  };
}

type Location = Pick<SqliteOptions, 'path' | 'readonly' | 'mustExist' | 'pragmas'>;

function parseConnectionString(connectionString: string): Location {
  if (connectionString === IN_MEMORY) return { path: IN_MEMORY, readonly: false, mustExist: false, pragmas: [] };
  if (!connectionString.startsWith('file:')) return { path: existingDirectory(connectionString), readonly: false, mustExist: false, pragmas: [] };

  const queryAt = connectionString.indexOf('?');
  let path: string;
  try {
    path = decodeURIComponent(connectionString.slice('file:'.length, queryAt < 0 ? undefined : queryAt));
  } catch {
    throw new Error(`state.sqlite: connectionString "${connectionString}" has a malformed %-escape`);
  }
  // `file:///abs/path` and `file://localhost/abs/path` name the local host; any other authority is not a file here.
  if (path.startsWith('//')) {
    const slash = path.indexOf('/', 2);
    const authority = path.slice(2, slash < 0 ? undefined : slash);
    if (authority !== '' && authority !== 'localhost') throw new Error(`state.sqlite: connectionString "${connectionString}" names a remote host`);
    path = slash < 0 ? '' : path.slice(slash);
  }
  const pragmas: [string, string][] = [];
  let mode = 'rwc';
  for (const [name, value] of new URLSearchParams(queryAt < 0 ? '' : connectionString.slice(queryAt + 1))) {
    if (name === 'mode') {
      if (!['ro', 'rw', 'rwc', 'memory'].includes(value)) throw new Error(`state.sqlite: unsupported connectionString mode "${value}"`);
      mode = value;
    } else if (name === '_pragma') {
      const pragma = PRAGMA.exec(value.trim());
      if (pragma === null) throw new Error(`state.sqlite: malformed connectionString _pragma "${value}"; expected name(value)`);
      pragmas.push([pragma[1]!, pragma[2]!]);
    } else if (name !== '_txlock' && name !== 'cache' && name !== 'vfs') {
      // _txlock: every write transaction here is IMMEDIATE already; cache/vfs only tune the Go driver's connection.
      throw new Error(`state.sqlite: unsupported connectionString option "${name}"`);
    }
  }
  if (mode === 'memory' || path === IN_MEMORY) return { path: IN_MEMORY, readonly: false, mustExist: false, pragmas };
  if (path === '') throw new Error(`state.sqlite: connectionString "${connectionString}" names no file`);
  return { path: existingDirectory(path), readonly: mode === 'ro', mustExist: mode === 'ro' || mode === 'rw', pragmas };
}

/** SQLite would only say it cannot open the file; naming the missing directory makes the mistake obvious. */
function existingDirectory(path: string): string {
  const directory = dirname(resolve(path));
  if (!existsSync(directory)) throw new Error(`state.sqlite: cannot open database "${path}": directory "${directory}" does not exist`);
  return path;
}

function identifier(meta: ComponentMetadata, name: string, fallback: string): string {
  const value = metadataValue(meta, name) || fallback;
  if (!IDENTIFIER.test(value)) throw new Error(`state.sqlite: metadata "${name}" must be a plain SQL identifier (letters, digits, _), not "${value}"`);
  return value;
}

function duration(meta: ComponentMetadata, name: string, fallback: string): number {
  const raw = metadataValue(meta, name) || fallback;
  try {
    return parseGoDuration(raw);
  } catch {
    throw new Error(`state.sqlite: metadata "${name}" must be a duration such as "30s" or "1h", not "${raw}"`);
  }
}

const TRUTHY = new Set(['1', 'true', 't', 'y', 'yes', 'on']);

/** Dapr's reading of boolean metadata: a few spellings of yes, anything else is no. */
function flag(meta: ComponentMetadata, name: string): boolean {
  return TRUTHY.has((metadataValue(meta, name) ?? '').trim().toLowerCase());
}
