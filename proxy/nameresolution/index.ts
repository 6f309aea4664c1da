// Chooses the name resolver named by a Configuration's `spec.nameResolution`; `local` when none is named.
import { mdnsResolverOptions, MdnsResolver } from './mdns.js';
import { localResolverOptions, LocalResolver } from './local.js';
import { StaticResolver } from './static.js';
import type { ResolverConfiguration } from './config.js';
import type { NameResolutionSpec, NameResolver } from './types.js';

export type { AppAddress, NameResolutionSpec, NameResolver, SelfRegistration } from './types.js';
export { CachedResolver, type CachedResolverOptions } from './cached.js';
export {
  LocalResolver,
  localResolverOptions,
  REGISTRY_DIR_ENV,
  type LocalRegistryEntry,
  type LocalResolverOptions,
} from './local.js';
export { MdnsResolver, mdnsResolverOptions, mdnsServiceName, type MdnsResolverOptions } from './mdns.js';
export { StaticResolver } from './static.js';
export { DEFAULT_NAMESPACE, parseHostPort } from './names.js';

const SUPPORTED = ['local', 'static', 'mdns'] as const;

/** `null` and `undefined` both mean the Configuration names no resolver. */
export function createNameResolver(spec: NameResolutionSpec | null | undefined): NameResolver {
  const component = spec?.component ?? '';
  const version = spec?.version ?? '';
  if (version !== '' && version !== 'v1') {
    throw new Error(`nameResolution ${component || 'local'}: unsupported version ${JSON.stringify(version)} (only v1)`);
  }
  const raw = spec?.configuration ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new Error(`nameResolution ${component || 'local'}: configuration must be a mapping`);
  }
  const cfg = raw as ResolverConfiguration;
  switch (component) {
    case '':
    case 'local':
      return new LocalResolver(localResolverOptions(cfg));
    case 'static':
      return new StaticResolver(cfg);
    case 'mdns':
      return new MdnsResolver(mdnsResolverOptions(cfg));
    default:
      throw new Error(
        `nameResolution component ${JSON.stringify(component)} is not supported (supported: ${SUPPORTED.join(', ')})`,
      );
  }
}
