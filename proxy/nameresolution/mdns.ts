// LAN discovery over multicast DNS (RFC 6762), shaped after DNS-SD (RFC 6763). A registered sidecar answers for
//
//   SRV  {appId}.{namespace}._dapr._tcp.local  -> port + target host name
//   TXT  {appId}.{namespace}._dapr._tcp.local  -> appid=…, namespace=…
//   A / AAAA  pillion-{nonce}.local            -> the advertised IP (only when the host is an IP literal;
//                                                 a host name is used as the SRV target directly)
//
// Replicas of one app all answer the same SRV question, so a lookup keeps collecting answers for a short moment
// after the first one. DNS names are case-insensitive, so app ids differing only in case share a name here.
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import multicastDns, { type MdnsPacket, type MdnsRecord, type MulticastDns } from 'multicast-dns';
import { createLogger } from '../runtime/logger.js';
import { optionalInteger, optionalString, type ResolverConfiguration } from './config.js';
import { checkedRegistration, isPort, isValidName, namespaceOf, pickAny } from './names.js';
import type { AppAddress, NameResolver, SelfRegistration } from './types.js';

const log = createLogger('nameresolution.mdns');

const SERVICE_SUFFIX = '._dapr._tcp.local';
const RECORD_TTL_SECONDS = 120;

export interface MdnsResolverOptions {
  /** UDP port, 5353 for real mDNS. */
  port: number;
  /** IPv4 address of the one interface to use; all interfaces when unset. */
  interface?: string;
  /**
   * Address the socket binds to. Linux drops group traffic to a socket bound to a unicast address, hence 0.0.0.0
   * by default when `interface` is set; the group address itself also works there.
   */
  bind?: string;
  /** How long a lookup waits for the first answer before reporting the app id as unknown. */
  timeoutMs: number;
  /** How long a lookup keeps collecting other replicas' answers after the first. */
  gatherMs: number;
}

export function mdnsResolverOptions(cfg: ResolverConfiguration = {}): MdnsResolverOptions {
  const iface = optionalString(cfg, 'interface', 'mdns');
  if (iface !== undefined && isIP(iface) !== 4) {
    throw new Error('nameResolution mdns: configuration.interface must be an IPv4 address');
  }
  return {
    port: optionalInteger(cfg, 'port', 'mdns', 1, 65535) ?? 5353,
    interface: iface,
    bind: optionalString(cfg, 'bind', 'mdns') ?? (iface !== undefined ? '0.0.0.0' : undefined),
    timeoutMs: optionalInteger(cfg, 'timeoutMs', 'mdns', 1, 60_000) ?? 1_000,
    gatherMs: optionalInteger(cfg, 'gatherMs', 'mdns', 0, 10_000) ?? 25,
  };
}

export function mdnsServiceName(appId: string, namespace: string): string {
  return `${appId}.${namespace}${SERVICE_SUFFIX}`.toLowerCase();
}

interface Advertisement {
  readonly name: string;
  readonly target: string;
  readonly response: MdnsPacket;
}

export class MdnsResolver implements NameResolver {
  readonly kind = 'mdns';
  private readonly options: MdnsResolverOptions;
  private socket: Promise<MulticastDns> | undefined;
  private readonly lookups = new Map<string, PendingLookup>();
  private advertised: Advertisement | undefined;
  private closed = false;

  constructor(options: MdnsResolverOptions) {
    this.options = options;
  }

  async register(self: SelfRegistration): Promise<void> {
    if (this.closed) throw new Error('nameResolution mdns: resolver is closed');
    if (this.advertised !== undefined) throw new Error('nameResolution mdns: this sidecar is already registered');
    const reg = checkedRegistration(self, 'mdns');
    const name = mdnsServiceName(reg.appId, reg.namespace);
    const family = isIP(reg.host);
    const target = family === 0 ? reg.host : `pillion-${randomBytes(6).toString('hex')}.local`;
    const answers: MdnsRecord[] = [
      { name, type: 'SRV', ttl: RECORD_TTL_SECONDS, data: { port: reg.port, target, priority: 0, weight: 0 } },
      { name, type: 'TXT', ttl: RECORD_TTL_SECONDS, data: [`appid=${reg.appId}`, `namespace=${reg.namespace}`] },
    ];
    const additionals: MdnsRecord[] =
      family === 0
        ? []
        : [{ name: target, type: family === 4 ? 'A' : 'AAAA', ttl: RECORD_TTL_SECONDS, data: reg.host }];
    const response: MdnsPacket = { answers, additionals };
    this.advertised = { name, target: target.toLowerCase(), response };
    try {
      const socket = await this.open();
      // Unsolicited announcement: completes lookups already waiting for this app.
      await send((done) => socket.respond(response, done));
    } catch (err) {
      this.advertised = undefined;
      throw err;
    }
  }

  async resolve(appId: string, namespace: string): Promise<AppAddress | null> {
    return pickAny(await this.resolveAll(appId, namespace));
  }

  resolveAll(appId: string, namespace: string): Promise<readonly AppAddress[]> {
    if (this.closed) return Promise.reject(new Error('nameResolution mdns: resolver is closed'));
    const ns = namespaceOf(namespace);
    if (!isValidName(appId) || !isValidName(ns)) return Promise.resolve([]);
    const name = mdnsServiceName(appId, ns);
    const pending = this.lookups.get(name);
    if (pending !== undefined) return pending.promise;
    const lookup = new PendingLookup(this.options, () => this.lookups.delete(name));
    this.lookups.set(name, lookup);
    this.open()
      .then((socket) => lookup.start(() => send((done) => socket.query({ questions: [{ name, type: 'SRV' }] }, done))))
      .catch((err: unknown) => lookup.fail(asError(err)));
    return lookup.promise;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.advertised = undefined;
    const closedError = new Error('nameResolution mdns: resolver is closed');
    for (const lookup of this.lookups.values()) lookup.fail(closedError);
    const socket = await this.socket?.catch(() => undefined);
    this.socket = undefined;
    if (socket !== undefined) await new Promise<void>((resolve) => socket.destroy(() => resolve()));
  }

  private open(): Promise<MulticastDns> {
    if (this.socket !== undefined) return this.socket;
    const opening = new Promise<MulticastDns>((resolve, reject) => {
      const { port, interface: iface, bind } = this.options;
      const socket = multicastDns({ port, interface: iface, bind, reuseAddr: true, loopback: true });
      socket.on('ready', () => resolve(socket));
      // Only binding failures arrive as 'error'; a later open() tries again.
      socket.on('error', (err) => {
        if (this.socket === opening) this.socket = undefined;
        socket.destroy();
        reject(new Error(`nameResolution mdns: cannot listen on UDP port ${port}: ${err.message}`));
      });
      socket.on('warning', (err) => log.debug(`mdns socket: ${err.message}`));
      socket.on('query', (packet) => this.answer(socket, packet.questions));
      socket.on('response', (packet) => this.collect(packet.answers, packet.additionals));
    });
    this.socket = opening;
    return opening;
  }

  private answer(socket: MulticastDns, questions: readonly { name: string; type: string }[]): void {
    const ad = this.advertised;
    if (ad === undefined) return;
    for (const q of questions) {
      const name = q.name.toLowerCase();
      if (name === ad.name || name === ad.target) {
        socket.respond(ad.response);
        return;
      }
    }
  }

  private collect(answers: readonly MdnsRecord[], additionals: readonly MdnsRecord[]): void {
    if (this.lookups.size === 0) return;
    for (const record of answers) {
      if (record.type !== 'SRV') continue;
      const lookup = this.lookups.get(record.name.toLowerCase());
      const srv = record.data as { port?: unknown; target?: unknown } | undefined;
      if (lookup === undefined || typeof srv !== 'object' || !isPort(srv.port) || typeof srv.target !== 'string') {
        continue;
      }
      lookup.add({ host: addressOf(srv.target, answers, additionals), port: srv.port });
    }
  }
}

/** One outstanding question: resends once halfway through the timeout, since multicast UDP may drop it. */
class PendingLookup {
  readonly promise: Promise<readonly AppAddress[]>;
  private readonly found: AppAddress[] = [];
  private settle!: (addresses: readonly AppAddress[]) => void;
  private reject!: (err: Error) => void;
  private timer: NodeJS.Timeout | undefined;
  private resendTimer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private readonly options: MdnsResolverOptions,
    private readonly onDone: () => void,
  ) {
    this.promise = new Promise((resolve, reject) => {
      this.settle = resolve;
      this.reject = reject;
    });
  }

  start(sendQuery: () => Promise<void>): void {
    if (this.done) return;
    const ask = (): void => void sendQuery().catch((err: unknown) => this.fail(asError(err)));
    ask();
    this.timer = setTimeout(() => this.finish(), this.options.timeoutMs);
    this.resendTimer = setTimeout(ask, this.options.timeoutMs / 2);
  }

  add(address: AppAddress): void {
    if (this.done || this.found.some((a) => a.host === address.host && a.port === address.port)) return;
    this.found.push(address);
    if (this.found.length === 1) {
      this.clearTimers();
      this.timer = setTimeout(() => this.finish(), this.options.gatherMs);
    }
  }

  fail(err: Error): void {
    if (this.end()) this.reject(err);
  }

  private finish(): void {
    if (this.end()) this.settle(this.found);
  }

  private end(): boolean {
    if (this.done) return false;
    this.done = true;
    this.clearTimers();
    this.onDone();
    return true;
  }

  private clearTimers(): void {
    clearTimeout(this.timer);
    clearTimeout(this.resendTimer);
  }
}

function addressOf(target: string, answers: readonly MdnsRecord[], additionals: readonly MdnsRecord[]): string {
  if (isIP(target) !== 0) return target;
  const wanted = target.toLowerCase();
  let ipv6: string | undefined;
  for (const records of [answers, additionals]) {
    for (const r of records) {
      if (typeof r.data !== 'string' || r.name.toLowerCase() !== wanted) continue;
      if (r.type === 'A' && isIP(r.data) === 4) return r.data;
      if (r.type === 'AAAA' && isIP(r.data) === 6) ipv6 ??= r.data;
    }
  }
  // No address record: leave the name to the system resolver.
  return ipv6 ?? target;
}

function send(action: (done: (err: Error | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => action((err) => (err ? reject(err) : resolve())));
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
