// Same-machine discovery without multicast: every sidecar drops a small JSON file into a shared registry directory,
// `{registryDir}/{namespace}/{appId}.{pid}.{nonce}.json`, and peers list that directory to find it.
//
// Entries disappear on close(). Entries of crashed sidecars are skipped and deleted by whoever reads them next:
// either their pid is gone (checked only for entries written on this host), or their owner stopped refreshing the
// file's mtime, which covers reused pids and directories shared between machines.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createLogger } from '../runtime/logger.js';
import { optionalInteger, optionalString, type ResolverConfiguration } from './config.js';
import { checkedRegistration, isPort, isValidName, namespaceOf, pickAny } from './names.js';
import type { AppAddress, NameResolver, SelfRegistration } from './types.js';

const log = createLogger('nameresolution.local');

export const REGISTRY_DIR_ENV = 'PILLION_REGISTRY_DIR';
const DEFAULT_REFRESH_MS = 5_000;
/** An entry whose mtime is older than this many refresh intervals belongs to a sidecar that is gone. */
const STALE_AFTER_REFRESHES = 3;

export interface LocalRegistryEntry {
  appId: string;
  namespace: string;
  host: string;
  port: number;
  pid: number;
  /** Host name of the machine that wrote the entry: pids mean nothing elsewhere. */
  hostname: string;
  /** Epoch milliseconds. */
  startedAt: number;
}

export interface LocalResolverOptions {
  registryDir: string;
  refreshIntervalMs: number;
}

export function localResolverOptions(cfg: ResolverConfiguration = {}): LocalResolverOptions {
  const fromEnv = process.env[REGISTRY_DIR_ENV];
  return {
    registryDir:
      fromEnv !== undefined && fromEnv !== ''
        ? fromEnv
        : (optionalString(cfg, 'registryDir', 'local') ?? join(tmpdir(), 'pillion-registry')),
    refreshIntervalMs: optionalInteger(cfg, 'refreshIntervalMs', 'local', 10, 3_600_000) ?? DEFAULT_REFRESH_MS,
  };
}

interface OwnEntry {
  readonly file: string;
  readonly content: string;
}

export class LocalResolver implements NameResolver {
  readonly kind = 'local';
  readonly registryDir: string;
  private readonly refreshIntervalMs: number;
  private readonly staleAfterMs: number;
  private readonly thisHost = hostname();
  private own: OwnEntry | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private refreshing = false;
  private closed = false;

  constructor(options: LocalResolverOptions) {
    this.registryDir = options.registryDir;
    this.refreshIntervalMs = options.refreshIntervalMs;
    this.staleAfterMs = options.refreshIntervalMs * STALE_AFTER_REFRESHES;
  }

  async register(self: SelfRegistration): Promise<void> {
    if (this.closed) throw new Error('nameResolution local: resolver is closed');
    if (this.own !== undefined) throw new Error('nameResolution local: this sidecar is already registered');
    const reg = checkedRegistration(self, 'local');
    const entry: LocalRegistryEntry = {
      appId: reg.appId,
      namespace: reg.namespace,
      host: reg.host,
      port: reg.port,
      pid: process.pid,
      hostname: this.thisHost,
      startedAt: Date.now(),
    };
    const file = join(this.registryDir, reg.namespace, `${reg.appId}.${process.pid}.${nonce()}.json`);
    const own = { file, content: JSON.stringify(entry) };
    this.own = own;
    try {
      await writeAtomically(own);
    } catch (err) {
      if (this.own === own) this.own = undefined;
      throw err;
    }
    if (this.closed) {
      // close() ran while the file was being written and found nothing to delete yet.
      await removeQuietly(own.file);
      return;
    }
    this.refreshTimer = setInterval(() => void this.refresh(), this.refreshIntervalMs);
    this.refreshTimer.unref();
    log.debug(`registered ${reg.appId}.${reg.namespace} at ${reg.host}:${reg.port} in ${file}`);
  }

  async resolve(appId: string, namespace: string): Promise<AppAddress | null> {
    return pickAny(await this.resolveAll(appId, namespace));
  }

  async resolveAll(appId: string, namespace: string): Promise<readonly AppAddress[]> {
    const ns = namespaceOf(namespace);
    // Also keeps a hostile app id such as `../x` from reaching the file system.
    if (!isValidName(appId) || !isValidName(ns)) return [];
    const dir = join(this.registryDir, ns);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return [];
      throw err;
    }
    const prefix = `${appId}.`;
    const reads: Promise<AppAddress | undefined>[] = [];
    for (const name of names) {
      if (name.startsWith(prefix) && name.endsWith('.json')) reads.push(this.readLive(join(dir, name), appId, ns));
    }
    if (reads.length === 0) return [];
    const found = await Promise.all(reads);
    return found.filter((address): address is AppAddress => address !== undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.refreshTimer);
    this.refreshTimer = undefined;
    const own = this.own;
    this.own = undefined;
    if (own !== undefined) await removeQuietly(own.file);
  }

  private async readLive(file: string, appId: string, namespace: string): Promise<AppAddress | undefined> {
    let mtimeMs: number;
    let text: string;
    try {
      mtimeMs = (await stat(file)).mtimeMs;
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    const entry = parseEntry(text);
    if (Date.now() - mtimeMs > this.staleAfterMs || (entry !== undefined && !this.ownerMayBeAlive(entry))) {
      await removeQuietly(file);
      return undefined;
    }
    if (entry === undefined || entry.appId !== appId || entry.namespace !== namespace) return undefined;
    return { host: entry.host, port: entry.port };
  }

  private ownerMayBeAlive(entry: LocalRegistryEntry): boolean {
    if (entry.hostname !== this.thisHost) return true;
    try {
      process.kill(entry.pid, 0);
      return true;
    } catch (err) {
      // EPERM: the process exists but belongs to another user.
      return errorCode(err) !== 'ESRCH';
    }
  }

  private async refresh(): Promise<void> {
    const own = this.own;
    if (own === undefined || this.refreshing) return;
    this.refreshing = true;
    try {
      const now = new Date();
      await utimes(own.file, now, now);
    } catch (err) {
      if (errorCode(err) === 'ENOENT' && this.own === own) {
        // A reader took us for dead (e.g. after a long pause of this process) or the directory was wiped.
        await writeAtomically(own).catch((writeErr: unknown) =>
          log.warn(`cannot rewrite ${own.file}: ${String(writeErr)}`),
        );
      } else if (this.own === own) {
        log.warn(`cannot refresh ${own.file}: ${String(err)}`);
      }
    } finally {
      this.refreshing = false;
    }
  }
}

function parseEntry(text: string): LocalRegistryEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const e = value as Partial<Record<keyof LocalRegistryEntry, unknown>>;
  if (
    typeof e.appId !== 'string' ||
    typeof e.namespace !== 'string' ||
    typeof e.host !== 'string' ||
    e.host === '' ||
    !isPort(e.port) ||
    !Number.isInteger(e.pid) ||
    (e.pid as number) <= 0 ||
    typeof e.hostname !== 'string'
  ) {
    return undefined;
  }
  return e as LocalRegistryEntry;
}

async function writeAtomically(own: OwnEntry): Promise<void> {
  const dir = dirname(own.file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // The leading dot keeps readers, which match `{appId}.*.json`, away from half-written files.
  const temp = join(dir, `.${basename(own.file)}.${nonce()}.tmp`);
  try {
    await writeFile(temp, own.content, { mode: 0o600 });
    await rename(temp, own.file);
  } catch (err) {
    await removeQuietly(temp);
    throw err;
  }
}

async function removeQuietly(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') log.warn(`cannot remove ${file}: ${String(err)}`);
  }
}

function nonce(): string {
  return randomBytes(4).toString('hex');
}

function errorCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}
