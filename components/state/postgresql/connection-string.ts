// Turns a PostgreSQL connection string, in either form Dapr users write (libpq `key=value` pairs or a
// `postgres://` URL), into node-postgres client settings. Both forms share one keyword table so that, e.g.,
// `sslmode` and `connect_timeout` mean the same thing whichever form carries them.

import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { PoolConfig } from 'pg';

export class ConnectionStringError extends Error {
  constructor(message: string) {
    super(`invalid connectionString: ${message}`);
    this.name = 'ConnectionStringError';
  }
}

/** Keyword/value pairs in the libpq syntax: `host=db port=5432 password='it''s' ...`. */
export function parseKeywordValue(text: string): Map<string, string> {
  const pairs = new Map<string, string>();
  let i = 0;
  const skipSpace = (): void => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  for (skipSpace(); i < text.length; skipSpace()) {
    const start = i;
    while (i < text.length && /\w/.test(text[i]!)) i++;
    const keyword = text.slice(start, i);
    if (keyword === '') throw new ConnectionStringError(`unexpected character ${JSON.stringify(text[i])} at offset ${i}`);
    skipSpace();
    if (text[i] !== '=') throw new ConnectionStringError(`missing "=" after "${keyword}"`);
    i++;
    skipSpace();
    let value = '';
    if (text[i] === "'") {
      i++;
      for (;;) {
        if (i >= text.length) throw new ConnectionStringError(`unterminated quoted value for "${keyword}"`);
        const ch = text[i++]!;
        if (ch === "'") break;
        if (ch === '\\' && i < text.length) value += text[i++];
        else value += ch;
      }
    } else {
      while (i < text.length && !/\s/.test(text[i]!)) {
        const ch = text[i++]!;
        if (ch === '\\' && i < text.length) value += text[i++];
        else value += ch;
      }
    }
    pairs.set(keyword, value);
  }
  return pairs;
}

/** A `postgres://user:password@host:port/dbname?key=value` URL as the same keyword/value pairs. */
export function parseUrl(text: string): Map<string, string> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConnectionStringError('malformed URL (a list of several hosts is not supported)');
  }
  const pairs = new Map<string, string>();
  const decode = (part: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new ConnectionStringError(`malformed percent-encoding in "${part}"`);
    }
  };
  if (url.hostname !== '') pairs.set('host', decode(url.hostname.replace(/^\[(.*)\]$/, '$1')));
  if (url.port !== '') pairs.set('port', url.port);
  if (url.username !== '') pairs.set('user', decode(url.username));
  if (url.password !== '') pairs.set('password', decode(url.password));
  const dbname = url.pathname.replace(/^\//, '');
  if (dbname !== '') pairs.set('dbname', decode(dbname));
  for (const [key, value] of url.searchParams) pairs.set(key, value);
  return pairs;
}

// Client-side settings of libpq or pgx that have no counterpart here; they are accepted and have no effect.
const IGNORED_KEYWORDS = new Set([
  'passfile', 'channel_binding', 'gssencmode', 'gsslib', 'krbsrvname', 'target_session_attrs', 'load_balance_hosts',
  'sslcompression', 'sslcrl', 'sslcrldir', 'sslsni', 'sslpassword', 'ssl_min_protocol_version', 'ssl_max_protocol_version',
  'sslnegotiation', 'requirepeer', 'require_auth', 'service', 'servicefile', 'keepalives', 'keepalives_idle',
  'keepalives_interval', 'keepalives_count', 'tcp_user_timeout', 'client_encoding', 'fallback_application_name',
  'statement_cache_capacity', 'description_cache_capacity', 'default_query_exec_mode', 'min_read_buffer_size',
  'pool_min_conns', 'pool_max_conn_lifetime', 'pool_max_conn_lifetime_jitter', 'pool_health_check_period',
]);

export interface ParsedConnection {
  config: PoolConfig;
  /** Keywords that were accepted but have no effect, for a start-up warning. */
  ignored: string[];
}

/** Parses either connection string form into pool settings. */
export function parseConnectionString(text: string): ParsedConnection {
  const trimmed = text.trim();
  if (trimmed === '') throw new ConnectionStringError('it is empty');
  const pairs = /^postgres(ql)?:\/\//i.test(trimmed) ? parseUrl(trimmed) : parseKeywordValue(trimmed);
  return toPoolConfig(pairs);
}

function toPoolConfig(pairs: Map<string, string>): ParsedConnection {
  const config: PoolConfig = {};
  const ignored: string[] = [];
  const serverSettings: string[] = [];
  let sslmode: string | undefined;
  const tlsFiles: { ca?: string; cert?: string; key?: string } = {};
  for (const [keyword, value] of pairs) {
    switch (keyword) {
      case 'host':
      case 'hostaddr':
        if (value.includes(',')) throw new ConnectionStringError('a list of several hosts is not supported');
        if (keyword === 'hostaddr' || config.host === undefined) config.host = value;
        break;
      case 'port':
        config.port = integerValue(keyword, value, 1, 65535);
        break;
      case 'dbname':
      case 'database':
        config.database = value;
        break;
      case 'user':
        config.user = value;
        break;
      case 'password':
        config.password = value;
        break;
      case 'connect_timeout': {
        const seconds = integerValue(keyword, value, 0, 86400);
        // libpq treats 0 as "wait forever" and enforces at least 2 seconds otherwise.
        if (seconds > 0) config.connectionTimeoutMillis = Math.max(seconds, 2) * 1000;
        break;
      }
      case 'sslmode':
        sslmode = value;
        break;
      case 'sslrootcert':
        tlsFiles.ca = value;
        break;
      case 'sslcert':
        tlsFiles.cert = value;
        break;
      case 'sslkey':
        tlsFiles.key = value;
        break;
      case 'application_name':
        config.application_name = value;
        break;
      case 'options':
        config.options = value;
        break;
      case 'pool_max_conns':
        config.max = integerValue(keyword, value, 1, 100000);
        break;
      case 'pool_max_conn_idle_time':
        config.idleTimeoutMillis = parseDurationMs(value, keyword);
        break;
      default:
        if (IGNORED_KEYWORDS.has(keyword)) ignored.push(keyword);
        // Like libpq and pgx, any other keyword is a server setting sent at connection start.
        else serverSettings.push(`-c ${keyword}=${escapeOption(value)}`);
    }
  }
  if (serverSettings.length > 0) config.options = [config.options, ...serverSettings].filter(Boolean).join(' ');
  const ssl = tlsSettings(sslmode, tlsFiles);
  if (ssl !== undefined) config.ssl = ssl;
  return { config, ignored };
}

function tlsSettings(sslmode: string | undefined, files: { ca?: string; cert?: string; key?: string }): ConnectionOptions | false | undefined {
  const read = (path: string | undefined): Buffer | undefined => {
    if (path === undefined || path === '') return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConnectionStringError(`cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const withFiles = (base: ConnectionOptions): ConnectionOptions => {
    const ca = read(files.ca);
    const cert = read(files.cert);
    const key = read(files.key);
    return { ...base, ...(ca && { ca }), ...(cert && { cert }), ...(key && { key }) };
  };
  switch (sslmode) {
    case undefined:
      return undefined;
    // node-postgres cannot fall back from TLS to plain text, so the optional modes connect in plain text.
    case 'disable':
    case 'allow':
    case 'prefer':
      return false;
    case 'require':
      return withFiles({ rejectUnauthorized: false });
    case 'verify-ca':
      return withFiles({ rejectUnauthorized: true, checkServerIdentity: () => undefined });
    case 'verify-full':
      return withFiles({ rejectUnauthorized: true });
    default:
      throw new ConnectionStringError(`unknown sslmode "${sslmode}"`);
  }
}

function integerValue(keyword: string, value: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw new ConnectionStringError(`${keyword} must be an integer from ${min} to ${max}, not "${value}"`);
  return n;
}

/** Inside libpq's `options`, backslash escapes spaces and itself. */
function escapeOption(value: string): string {
  return value.replace(/[\\\s]/g, '\\$&');
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration (`90s`, `1h30m`, `500ms`), or a bare number of seconds. */
export function parseDurationMs(value: string, name: string): number {
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) throw new Error(`${name} must be a duration such as "5m" or "30s", not "${value}"`);
  let total = 0;
  for (const [, amount, , unit] of text.matchAll(/(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(amount) * DURATION_UNITS_MS[unit!]!;
  return Math.round(total);
}
