// daprd-compatible command line: one flag table drives parsing, validation, defaults and the help text.
// Syntax follows Go's flag package (daprd's): `-flag value`, `--flag value`, `--flag=value`; booleans take
// `--flag` or `--flag=false` only; `--` ends the flags.

import { readFileSync } from 'node:fs';
import { parseQuantity } from '../resources/quantity.js';
import { LOG_LEVELS, type LogLevel } from '../runtime/logger.js';
import type { SidecarOptions } from '../runtime/options.js';

/**
 * A command line that must not start a sidecar. exitCode 2 (Go's flag convention): a mistake, print the message on
 * stderr. exitCode 0: help or version was requested, print the message on stdout.
 */
export class FlagError extends Error {
  constructor(
    message: string,
    readonly exitCode: 0 | 2 = 2,
  ) {
    super(message);
    this.name = 'FlagError';
  }
}

export interface ParsedCommandLine {
  options: SidecarOptions;
  /** Names (without dashes) of the flags present on the command line. */
  explicit: ReadonlySet<string>;
  /** Arguments after `--`; undefined when there was no `--`. */
  command: string[] | undefined;
}

interface KindValue {
  string: string;
  bool: boolean;
  int: number;
  port: number;
  size: number;
  list: string[];
}
type Kind = keyof KindValue;

interface Codec<V> {
  /** Placeholder in the help text. */
  readonly placeholder: string;
  /** Why a value was rejected, completing `"<raw>" is not ...`. */
  readonly expected: string;
  decode(raw: string): V | undefined;
  /** The value of a flag without a default; a fresh one each time, as lists are handed out. */
  zero(): V;
  /** Folds a repeated occurrence into the earlier ones. */
  merge(prior: V, next: V): V;
}

const lastWins = <V>(_prior: V, next: V): V => next;

const GO_BOOLEANS = new Map<string, boolean>([
  ...['1', 't', 'T', 'true', 'TRUE', 'True'].map((s) => [s, true] as const),
  ...['0', 'f', 'F', 'false', 'FALSE', 'False'].map((s) => [s, false] as const),
]);

function decodeInt(raw: string): number | undefined {
  if (!/^[+-]?\d+$/.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : undefined;
}

const codecs: { [K in Kind]: Codec<KindValue[K]> } = {
  string: { placeholder: 'string', expected: 'a string', decode: (raw) => raw, zero: () => '', merge: lastWins },
  bool: {
    placeholder: '',
    expected: 'a valid boolean',
    decode: (raw) => GO_BOOLEANS.get(raw),
    zero: () => false,
    merge: lastWins,
  },
  int: { placeholder: 'int', expected: 'a valid integer', decode: decodeInt, zero: () => 0, merge: lastWins },
  port: {
    placeholder: 'port',
    expected: 'a valid port (0-65535)',
    decode: (raw) => {
      const n = /^\d+$/.test(raw) ? Number(raw) : -1;
      return n >= 0 && n <= 65535 ? n : undefined;
    },
    zero: () => 0,
    merge: lastWins,
  },
  size: {
    placeholder: 'quantity',
    expected: 'a valid size (e.g. 4Mi, 512Ki, 10M, 1048576)',
    decode: parseQuantity,
    zero: () => 0,
    merge: lastWins,
  },
  list: {
    placeholder: 'string',
    expected: 'a string',
    decode: (raw) => [raw],
    zero: () => [],
    merge: (prior, next) => prior.concat(next),
  },
};

interface FlagSpec<K extends Kind> {
  name: string;
  kind: K;
  usage: string;
  /** Default in command-line form; absent = zero value. */
  default?: string;
  /** Default computed from the flags applied before this one. */
  derive?: (o: SidecarOptions) => KindValue[K];
  /** Reason to reject a given value (defaults are trusted). */
  check?: (value: KindValue[K]) => string | undefined;
  /** Absent: the flag is honoured by validation alone, or is `ignored`. */
  apply?: (o: SidecarOptions, value: KindValue[K]) => void;
  /** Accepted for daprd compatibility, without effect yet. */
  ignored?: true;
  /** Older spelling of another flag; used only when that flag is absent. */
  legacyOf?: string;
}

/** One parse's state for one flag. */
interface FlagValue {
  readonly given: boolean;
  set(raw: string): void;
  applyTo(o: SidecarOptions): void;
}

interface Flag {
  readonly name: string;
  readonly kind: Kind;
  readonly usage: string;
  readonly defaultRaw: string | undefined;
  readonly ignored: boolean;
  readonly legacyOf: string | undefined;
  start(): FlagValue;
}

function define<K extends Kind>(spec: FlagSpec<K>): Flag {
  const codec: Codec<KindValue[K]> = codecs[spec.kind];
  const decodeOrThrow = (raw: string): KindValue[K] => {
    const value = codec.decode(raw);
    if (value === undefined) throw new FlagError(`--${spec.name}: ${JSON.stringify(raw)} is not ${codec.expected}`);
    return value;
  };
  const declaredDefault = spec.default === undefined ? undefined : decodeOrThrow(spec.default);
  return {
    name: spec.name,
    kind: spec.kind,
    usage: spec.usage,
    defaultRaw: spec.default,
    ignored: spec.ignored === true,
    legacyOf: spec.legacyOf,
    start() {
      let value: KindValue[K] | undefined;
      return {
        get given() {
          return value !== undefined;
        },
        set(raw) {
          const next = decodeOrThrow(raw);
          const problem = spec.check?.(next);
          if (problem) throw new FlagError(`--${spec.name}: ${problem}`);
          value = value === undefined ? next : codec.merge(value, next);
        },
        applyTo(o) {
          spec.apply?.(o, value ?? spec.derive?.(o) ?? declaredDefault ?? codec.zero());
        },
      };
    },
  };
}

const INTERNAL_PORT_BASE = 47300;
const INTERNAL_PORT_SPAN = 2048;

/**
 * daprd's self-hosted default for the internal gRPC port: stable for an app id, so restarts keep the address
 * peers resolved. FNV-1a over the UTF-8 bytes. No app id, no identity to keep stable: 0 (a free port).
 */
export function stableInternalGrpcPort(appId: string): number {
  if (appId === '') return 0;
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(appId, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return INTERNAL_PORT_BASE + (hash % INTERNAL_PORT_SPAN);
}

const notSupportedYet = (what: string): string => `${what} is not supported yet`;

/** Check for an enumeration: `supported` pass, `later` (daprd's other values) are not supported yet. */
function oneOf(what: string, supported: readonly string[], later: readonly string[] = []) {
  const all = [...supported, ...later].join(', ');
  return (v: string): string | undefined =>
    supported.includes(v)
      ? undefined
      : later.includes(v)
        ? notSupportedYet(`${what} ${JSON.stringify(v)}`)
        : `${JSON.stringify(v)} is not a valid ${what} (${all})`;
}

function atLeast(min: number, what: string) {
  return (v: number): string | undefined => (v < min ? `"${v}" is not a valid ${what} (${min} or more)` : undefined);
}

const FLAGS: readonly Flag[] = [
  define({
    name: 'app-id',
    kind: 'string',
    usage: 'A unique ID for the app; used for service invocation, state key prefixes and pub/sub consumer ids',
    check: (v) =>
      v.includes('.') ? `${JSON.stringify(v)} must not contain "." (dots separate the namespace)` : undefined,
    apply: (o, v) => (o.appId = v),
  }),
  define({
    name: 'app-port',
    kind: 'port',
    usage: 'The port the app listens on; without it the sidecar has no app channel',
    check: atLeast(1, 'app port'),
    apply: (o, v) => (o.appPort = v),
  }),
  define({
    name: 'app-protocol',
    kind: 'string',
    default: 'http',
    usage: 'Protocol the sidecar uses to talk to the app: http (https, grpc, grpcs, h2c not supported yet)',
    check: oneOf('app protocol', ['http'], ['https', 'grpc', 'grpcs', 'h2c']),
    // The check lets only http through.
    apply: (o) => (o.appProtocol = 'http'),
  }),
  define({
    name: 'app-channel-address',
    kind: 'string',
    default: '127.0.0.1',
    usage: 'Network address the app listens on',
    apply: (o, v) => (o.appChannelAddress = v),
  }),
  define({
    name: 'dapr-http-port',
    kind: 'port',
    default: '3500',
    usage: 'HTTP port for the Dapr API (0: a free port)',
    apply: (o, v) => (o.daprHttpPort = v),
  }),
  define({
    name: 'dapr-grpc-port',
    kind: 'port',
    default: '50001',
    usage: 'gRPC port for the Dapr API (0: a free port)',
    apply: (o, v) => (o.daprGrpcPort = v),
  }),
  define({
    name: 'dapr-internal-grpc-port',
    kind: 'port',
    usage: `gRPC port for sidecar-to-sidecar calls (default: derived from --app-id, ${INTERNAL_PORT_BASE}-${
      INTERNAL_PORT_BASE + INTERNAL_PORT_SPAN - 1
    }; a free port when --app-id is empty)`,
    derive: (o) => stableInternalGrpcPort(o.appId),
    apply: (o, v) => (o.daprInternalGrpcPort = v),
  }),
  define({
    name: 'metrics-port',
    kind: 'port',
    default: '9090',
    usage: 'Port for the Prometheus metrics endpoint',
    apply: (o, v) => (o.metricsPort = v),
  }),
  define({
    name: 'enable-metrics',
    kind: 'bool',
    default: 'true',
    usage: 'Serve Prometheus metrics',
    apply: (o, v) => (o.enableMetrics = v),
  }),
  define({
    name: 'dapr-listen-addresses',
    kind: 'string',
    default: '0.0.0.0',
    usage: 'Address the API listeners bind to (one address; several are not supported yet)',
    check: (v) =>
      v.includes(',')
        ? notSupportedYet(`more than one listen address (${JSON.stringify(v)})`)
        : v === ''
          ? '"" is not a valid address'
          : undefined,
    apply: (o, v) => (o.listenAddress = v.replace(/^\[(.*)\]$/, '$1')),
  }),
  define({
    name: 'resources-path',
    kind: 'list',
    usage: 'Directory of resource YAML files (components, subscriptions, resiliency); repeatable',
    apply: (o, v) => (o.resourcesPaths = v),
  }),
  define({
    name: 'components-path',
    kind: 'list',
    usage: 'Deprecated alias of --resources-path, which wins when both are given',
    legacyOf: 'resources-path',
    apply: (o, v) => (o.resourcesPaths = v),
  }),
  define({
    name: 'config',
    kind: 'list',
    usage: 'Path of a Configuration YAML file; repeatable',
    apply: (o, v) => (o.configPaths = v),
  }),
  define({
    name: 'log-level',
    kind: 'string',
    default: 'info',
    usage: `Log level: ${LOG_LEVELS.join(', ')}`,
    check: oneOf('log level', LOG_LEVELS),
    apply: (o, v) => (o.logLevel = v as LogLevel),
  }),
  define({ name: 'log-as-json', kind: 'bool', usage: 'Write logs as JSON', ignored: true }),
  define({
    name: 'app-max-concurrency',
    kind: 'int',
    default: '-1',
    usage: 'Most requests the sidecar sends to the app at once (-1: unlimited)',
    check: atLeast(-1, 'concurrency'),
    apply: (o, v) => (o.appMaxConcurrency = v),
  }),
  define({
    name: 'max-body-size',
    kind: 'size',
    default: '4Mi',
    usage: 'Largest request body accepted, as a quantity (4Mi, 512Ki, 10M, bytes)',
    check: atLeast(1, 'size in bytes'),
    apply: (o, v) => (o.maxBodySizeBytes = v),
  }),
  define({
    name: 'dapr-http-max-request-size',
    kind: 'int',
    usage: 'Deprecated: largest request body in MB (default 4); --max-body-size wins when both are given',
    legacyOf: 'max-body-size',
    check: atLeast(1, 'size in MB'),
    apply: (o, v) => (o.maxBodySizeBytes = v * 2 ** 20),
  }),
  define({
    name: 'read-buffer-size',
    kind: 'size',
    default: '4Ki',
    usage: 'Largest header block accepted, as a quantity',
    check: atLeast(1, 'size in bytes'),
    apply: (o, v) => (o.readBufferSizeBytes = v),
  }),
  define({
    name: 'dapr-http-read-buffer-size',
    kind: 'int',
    usage: 'Deprecated: largest header block in KB (default 4); --read-buffer-size wins when both are given',
    legacyOf: 'read-buffer-size',
    check: atLeast(1, 'size in KB'),
    apply: (o, v) => (o.readBufferSizeBytes = v * 2 ** 10),
  }),
  define({
    name: 'dapr-graceful-shutdown-seconds',
    kind: 'int',
    default: '5',
    usage: 'Seconds to drain in-flight requests on shutdown (negative: the default)',
    apply: (o, v) => (o.gracefulShutdownSeconds = v < 0 ? 5 : v),
  }),
  define({
    name: 'mode',
    kind: 'string',
    default: 'standalone',
    usage: 'Runtime mode: standalone (kubernetes not supported yet)',
    check: oneOf('mode', ['standalone'], ['kubernetes']),
  }),
  define({
    name: 'placement-host-address',
    kind: 'string',
    usage: 'Placement service addresses, CSV (actors)',
    ignored: true,
  }),
  define({ name: 'scheduler-host-address', kind: 'string', usage: 'Scheduler service addresses, CSV', ignored: true }),
  define({ name: 'enable-api-logging', kind: 'bool', usage: 'Log every API call', ignored: true }),
  define({ name: 'enable-app-health-check', kind: 'bool', usage: 'Probe the app for health', ignored: true }),
  define({
    name: 'app-health-check-path',
    kind: 'string',
    default: '/healthz',
    usage: 'Path of the app health probe (HTTP)',
    ignored: true,
  }),
  define({
    name: 'app-health-probe-interval',
    kind: 'int',
    default: '5',
    usage: 'Seconds between app health probes',
    check: atLeast(1, 'interval'),
    ignored: true,
  }),
  define({
    name: 'app-health-probe-timeout',
    kind: 'int',
    default: '500',
    usage: 'Milliseconds an app health probe may take',
    check: atLeast(1, 'timeout'),
    ignored: true,
  }),
  define({
    name: 'app-health-threshold',
    kind: 'int',
    default: '3',
    usage: 'Failed probes before the app counts as unhealthy',
    check: atLeast(1, 'threshold'),
    ignored: true,
  }),
  define({
    name: 'enable-mtls',
    kind: 'bool',
    usage: 'Mutual TLS between sidecars (not supported yet)',
    // Accepting true while talking plaintext would fake a security guarantee.
    check: (v) => (v ? notSupportedYet('mTLS') : undefined),
  }),
  define({ name: 'sentry-address', kind: 'string', usage: 'Sentry (certificate authority) address', ignored: true }),
  define({
    name: 'dapr-public-port',
    kind: 'port',
    usage: 'Port serving only health and metadata endpoints',
    ignored: true,
  }),
  define({ name: 'enable-profiling', kind: 'bool', usage: 'Serve profiling data', ignored: true }),
  define({ name: 'profile-port', kind: 'port', default: '7777', usage: 'Port for profiling', ignored: true }),
  define({
    name: 'unix-domain-socket',
    kind: 'string',
    usage: 'Directory for Unix domain sockets instead of TCP ports (not supported yet)',
    // Apps given this flag connect to the socket; pretending would leave them unable to reach the sidecar.
    check: (v) => (v === '' ? undefined : notSupportedYet('listening on a Unix domain socket')),
  }),
  define({ name: 'allowed-origins', kind: 'string', default: '*', usage: 'CORS allowed origins', ignored: true }),
];

const FLAG_BY_NAME = new Map(FLAGS.map((f) => [f.name, f]));

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

function closestFlag(name: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const flag of FLAGS) {
    const d = flag.name.includes(name) && name.length >= 4 ? 1 : editDistance(name, flag.name);
    if (d < bestDistance) [best, bestDistance] = [flag.name, d];
  }
  return best;
}

function unknownFlag(name: string): FlagError {
  const near = closestFlag(name);
  return new FlagError(`unknown flag: --${name}${near ? ` (did you mean --${near}?)` : ''}`);
}

function unexpectedArgument(arg: string, previous: Flag | undefined, after: string): FlagError {
  const boolHint =
    previous?.kind === 'bool' && GO_BOOLEANS.has(arg)
      ? `; boolean flags take their value as --${previous.name}=${arg}`
      : '';
  return new FlagError(`unexpected argument ${JSON.stringify(arg)}${boolHint}${after}`);
}

function pillionVersion(): string {
  const packageJson = new URL('../../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
}

export interface CommandLineShape {
  /** `pillion run`: the command after `--` is the app; a positional argument before it is a mistake. */
  allowCommand: boolean;
}

/** Parses flags and environment; also reports which flags were explicit and what followed `--`. */
export function parseSidecarCommandLine(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  shape: CommandLineShape = { allowCommand: false },
): ParsedCommandLine {
  const values = new Map(FLAGS.map((f) => [f.name, f.start()]));
  let command: string[] | undefined;
  let previousBool: Flag | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      command = argv.slice(i + 1);
      break;
    }
    if (arg.length < 2 || arg[0] !== '-') {
      throw unexpectedArgument(arg, previousBool, shape.allowCommand ? ' (put -- before the app command)' : '');
    }
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    if (body === '' || body[0] === '-' || body[0] === '=') throw new FlagError(`bad flag syntax: ${arg}`);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    if (name === 'h' || name === 'help') throw new FlagError(sidecarHelp(), 0);
    if (name === 'version') throw new FlagError(pillionVersion(), 0);
    const flag = FLAG_BY_NAME.get(name);
    if (!flag) throw unknownFlag(name);
    let raw = eq < 0 ? undefined : body.slice(eq + 1);
    if (raw === undefined) {
      if (flag.kind === 'bool') raw = 'true';
      else if (i + 1 < argv.length) raw = argv[++i]!;
      else throw new FlagError(`flag needs an argument: --${name}`);
    }
    values.get(name)!.set(raw);
    previousBool = flag.kind === 'bool' && eq < 0 ? flag : undefined;
  }
  if (!shape.allowCommand && command !== undefined && command.length > 0) {
    throw unexpectedArgument(command[0]!, undefined, '');
  }

  const explicit = new Set<string>();
  const ignoredFlags: string[] = [];
  // Every field is assigned below: each option has a flag with a default, or comes from the environment.
  const options = {} as SidecarOptions;
  for (const flag of FLAGS) {
    const value = values.get(flag.name)!;
    if (value.given) explicit.add(flag.name);
    if (flag.ignored && value.given) ignoredFlags.push(`--${flag.name}`);
    const unusedLegacy = flag.legacyOf !== undefined && (!value.given || values.get(flag.legacyOf)!.given);
    if (!unusedLegacy) value.applyTo(options);
  }
  options.namespace = env.NAMESPACE ?? '';
  options.hostAddress = env.DAPR_HOST_IP || '127.0.0.1';
  options.apiToken = env.DAPR_API_TOKEN ?? '';
  options.appApiToken = env.APP_API_TOKEN ?? '';
  options.ignoredFlags = ignoredFlags;
  return { options, explicit, command };
}

/** `pillion [flags]`: the sidecar's options. Throws FlagError for a bad command line, help or version. */
export function parseSidecarFlags(argv: readonly string[], env: NodeJS.ProcessEnv): SidecarOptions {
  return parseSidecarCommandLine(argv, env).options;
}

function defaultSuffix(flag: Flag): string {
  const raw = flag.defaultRaw;
  if (raw === undefined || raw === '' || raw === '0' || raw === 'false') return '';
  return flag.kind === 'string' ? ` (default ${JSON.stringify(raw)})` : ` (default ${raw})`;
}

export const USAGE = `Usage:
  pillion [flags]                               run a sidecar
  pillion run [flags] -- <command> [args...]    run <command> with a sidecar beside it`;

export function sidecarHelp(): string {
  const lines = [USAGE, '', 'Flags:'];
  for (const flag of FLAGS) {
    const placeholder = codecs[flag.kind].placeholder;
    lines.push(`  --${flag.name}${placeholder ? ` ${placeholder}` : ''}`);
    const note = flag.ignored ? ' [accepted; no effect yet]' : '';
    lines.push(`        ${flag.usage}${defaultSuffix(flag)}${note}`);
  }
  lines.push('  -h, --help', '        Show this help', '  --version', '        Print the version');
  lines.push(
    '',
    'Environment: NAMESPACE, DAPR_HOST_IP (default 127.0.0.1), DAPR_API_TOKEN, APP_API_TOKEN.',
    'Flags take Go syntax: -flag value, --flag value, --flag=value; booleans --flag or --flag=false.',
  );
  return lines.join('\n');
}
