import { errors, type DaprError } from '../runtime/errors.js';

export interface InvocationTarget {
  appId: string;
  /** '' means the caller's own namespace. */
  namespace: string;
}

/** `myapp` or `myapp.prod` (app `myapp` in namespace `prod`); anything with more dots is not an app id. */
export function parseTarget(id: string): InvocationTarget | DaprError {
  const dot = id.indexOf('.');
  if (dot === -1) return id.length > 0 ? { appId: id, namespace: '' } : errors.directInvoke(id, 'app id is empty', 400);
  if (id.indexOf('.', dot + 1) !== -1 || dot === 0 || dot === id.length - 1) {
    return errors.directInvoke(id, 'invalid app id: expected "app" or "app.namespace"', 400);
  }
  return { appId: id.slice(0, dot), namespace: id.slice(dot + 1) };
}
