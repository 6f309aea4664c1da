// The errors of daprd's secrets API: codes, statuses and wording as daprd reports them (contract §5).

import { DaprError, GrpcStatus } from '../runtime/errors.js';

const { FAILED_PRECONDITION, INTERNAL, INVALID_ARGUMENT, PERMISSION_DENIED } = GrpcStatus;

export const secretErrors = {
  notConfigured: () => new DaprError('ERR_SECRET_STORES_NOT_CONFIGURED', 'secret store is not configured', 500, FAILED_PRECONDITION),
  // daprd answers 401 here, not the 400 its docs give; SDKs have only ever seen the 401.
  storeNotFound: (storeName: string) =>
    new DaprError('ERR_SECRET_STORE_NOT_FOUND', `failed finding secret store with key ${storeName}`, 401, INVALID_ARGUMENT),
  permissionDenied: (key: string, storeName: string) =>
    new DaprError('ERR_PERMISSION_DENIED', `access denied by policy to get ${goQuote(key)} from ${goQuote(storeName)}`, 403, PERMISSION_DENIED),
  get: (key: string, storeName: string, reason: string) =>
    new DaprError('ERR_SECRET_GET', `failed getting secret with key ${key} from secret store ${storeName}: ${reason}`, 500, INTERNAL),
  bulkGet: (storeName: string, reason: string) =>
    new DaprError('ERR_SECRET_GET', `failed getting secrets from secret store ${storeName}: ${reason}`, 500, INTERNAL),
};

/** Go's %q for the printable strings secret names are. */
function goQuote(text: string): string {
  return JSON.stringify(text);
}
