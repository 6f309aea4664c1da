import { DaprError, GrpcStatus } from '../runtime/errors.js';

const SEPARATOR = '||';

/**
 * Dapr's `keyPrefix` component metadata: how app keys become stored keys, so apps sharing a store see what
 * daprd apps would see. `appid` (default) `{appId}||key`; `name` `{store}||key`; `namespace`
 * `{namespace}.{appId}||key` (appid when no namespace); `none` the key itself; anything else `{value}||key`.
 */
export function keyPrefixFor(setting: string | undefined, ctx: { appId: string; namespace: string; storeName: string }): string {
  const mode = (setting ?? 'appid').trim();
  let prefix: string;
  switch (mode.toLowerCase()) {
    case '':
    case 'appid':
      prefix = ctx.appId;
      break;
    case 'name':
      prefix = ctx.storeName;
      break;
    case 'namespace':
      prefix = ctx.namespace === '' ? ctx.appId : `${ctx.namespace}.${ctx.appId}`;
      break;
    case 'none':
      return '';
    default:
      prefix = mode;
  }
  if (prefix.includes(SEPARATOR)) throw new Error(`keyPrefix "${prefix}" must not contain "${SEPARATOR}"`);
  return prefix === '' ? '' : prefix + SEPARATOR;
}

/** The stored key for an app key; keys with `||` would be ambiguous and are refused as daprd does. */
export function storedKey(prefix: string, key: string): string {
  if (key === '') throw illegalKey('key must not be empty');
  if (key.includes(SEPARATOR)) throw illegalKey(`input key/keyPrefix '${key}' can't contain '${SEPARATOR}'`);
  return prefix + key;
}

export function appKey(prefix: string, stored: string): string {
  return prefix !== '' && stored.startsWith(prefix) ? stored.slice(prefix.length) : stored;
}

function illegalKey(message: string): DaprError {
  return new DaprError('ERR_MALFORMED_REQUEST', message, 400, GrpcStatus.INVALID_ARGUMENT);
}
