// Rules shared by all resolvers for app ids, namespaces and addresses.
import { isIP } from 'node:net';
import type { AppAddress, SelfRegistration } from './types.js';

export const DEFAULT_NAMESPACE = 'default';

export function namespaceOf(namespace: string): string {
  return namespace === '' ? DEFAULT_NAMESPACE : namespace;
}

// App ids and namespaces become file names in the local registry and DNS labels under mDNS, so each must be a
// single label: no dots (Dapr reserves `appId.namespace` for cross-namespace calls), no path separators, no
// whitespace or control characters, at most one DNS label long.
const NAME_PATTERN = /^[^\s./\\\p{Cc}]+$/u;
const MAX_NAME_BYTES = 63;

export function isValidName(value: string): boolean {
  return value !== '' && NAME_PATTERN.test(value) && Buffer.byteLength(value) <= MAX_NAME_BYTES;
}

export function nameProblem(what: 'app id' | 'namespace', value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return `${what} must be a non-empty string`;
  if (!isValidName(value)) {
    return (
      `${what} ${JSON.stringify(value)} must be at most ${MAX_NAME_BYTES} bytes, ` +
      'without dots, slashes, whitespace or control characters'
    );
  }
  return undefined;
}

export function isPort(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
}

const HOST_PATTERN = /^[^\s/[\]]+$/;

/** Parses `host:port`, `[ipv6]:port`; undefined when malformed. */
export function parseHostPort(text: string): AppAddress | undefined {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return undefined;
  let host = text.slice(0, colon);
  if (host.startsWith('[')) {
    if (!host.endsWith(']')) return undefined;
    host = host.slice(1, -1);
    if (isIP(host) !== 6) return undefined;
  } else if (!HOST_PATTERN.test(host) || host.includes(':')) {
    return undefined;
  }
  const portText = text.slice(colon + 1);
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  return isPort(port) ? { host, port } : undefined;
}

/** Validates what a sidecar is about to advertise, with the namespace made explicit. */
export function checkedRegistration(self: SelfRegistration, component: string): SelfRegistration {
  const namespace = namespaceOf(self.namespace);
  const problem =
    nameProblem('app id', self.appId) ??
    nameProblem('namespace', namespace) ??
    (typeof self.host === 'string' && HOST_PATTERN.test(self.host)
      ? undefined
      : `host ${JSON.stringify(self.host)} is not an address`) ??
    (isPort(self.port) ? undefined : `port ${JSON.stringify(self.port)} is not between 1 and 65535`);
  if (problem !== undefined) throw new Error(`nameResolution ${component}: cannot register: ${problem}`);
  return { appId: self.appId, namespace, host: self.host, port: self.port };
}

/** Spreads load over replicas without per-key state. */
export function pickAny<T>(items: readonly T[]): T | null {
  if (items.length === 0) return null;
  return items.length === 1 ? items[0] : items[Math.floor(Math.random() * items.length)];
}
