// Component metadata of `bindings.http`, with daprd's names and defaults: url, securityToken/securityTokenHeader,
// errorIfNot2XX, responseTimeout, maxResponseBodySize and the MTLS* fields. The security token never appears in a
// message.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { validateHeaderName } from 'node:http';
import { parseQuantity } from '../../../proxy/resources/quantity.js';
import { booleanProperty, durationProperty, stringProperty } from '../../metadata.js';
import type { ComponentMetadata } from '../../registry.js';

/** daprd's default: 100Mi. */
const DEFAULT_MAX_RESPONSE_BODY_SIZE = 100 * 2 ** 20;

/** Go's tls.RenegotiationSupport names. Node's TLS client always accepts a renegotiation the server starts. */
const RENEGOTIATION_VALUES = ['RenegotiateNever', 'RenegotiateOnceAsClient', 'RenegotiateFreelyAsClient'];

export interface HttpBindingSettings {
  /** The base URL, as configured. */
  url: string;
  /** Sent as a header on every request when configured. */
  securityToken: { header: string; value: string } | undefined;
  /** Whether a non-2xx answer fails the invoke. */
  errorIfNot2XX: boolean;
  /** The longest a whole exchange may take; 0 = no limit. */
  responseTimeoutMs: number;
  /** Larger response bodies fail the invoke. */
  maxResponseBodySize: number;
  /** PEM text for the HTTPS agent; empty for the system's trust store and no client certificate. */
  tls: { ca?: string; cert?: string; key?: string };
}

export function parseHttpSettings(meta: ComponentMetadata): HttpBindingSettings {
  return {
    url: baseUrl(meta),
    securityToken: securityToken(meta),
    errorIfNot2XX: booleanProperty(meta, 'errorIfNot2XX', true),
    responseTimeoutMs: durationProperty(meta, 'responseTimeout', 0),
    maxResponseBodySize: maxResponseBodySize(meta),
    tls: tlsMaterial(meta),
  };
}

function baseUrl(meta: ComponentMetadata): string {
  const raw = stringProperty(meta, 'url', '');
  if (raw === '') throw new Error('metadata "url" is required, e.g. "http://service:8000/api"');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('metadata "url" is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`metadata "url" must start with http:// or https://, got scheme "${url.protocol}"`);
  }
  return raw;
}

function securityToken(meta: ComponentMetadata): HttpBindingSettings['securityToken'] {
  const value = stringProperty(meta, 'securityToken', '');
  const header = stringProperty(meta, 'securityTokenHeader', '');
  if ((value === '') !== (header === '')) throw new Error('metadata "securityToken" and "securityTokenHeader" must be set together');
  if (value === '') return undefined;
  try {
    validateHeaderName(header);
  } catch {
    throw new Error(`metadata "securityTokenHeader" must be a header name such as "Authorization", got "${header}"`);
  }
  return { header, value };
}

function maxResponseBodySize(meta: ComponentMetadata): number {
  const raw = stringProperty(meta, 'maxResponseBodySize', '');
  if (raw === '') return DEFAULT_MAX_RESPONSE_BODY_SIZE;
  const bytes = parseQuantity(raw);
  if (bytes === undefined || bytes <= 0) {
    throw new Error(`metadata "maxResponseBodySize" must be a positive size in bytes or with a unit (100Mi, 512Ki, 10M), got "${raw}"`);
  }
  return bytes;
}

function tlsMaterial(meta: ComponentMetadata): HttpBindingSettings['tls'] {
  const renegotiation = stringProperty(meta, 'MTLSRenegotiation', '');
  if (renegotiation !== '' && !RENEGOTIATION_VALUES.includes(renegotiation)) {
    throw new Error(`metadata "MTLSRenegotiation" must be one of ${RENEGOTIATION_VALUES.join(', ')}, got "${renegotiation}"`);
  }
  const ca = pemOrFile(meta, 'MTLSRootCA');
  const cert = pemOrFile(meta, 'MTLSClientCert');
  const key = pemOrFile(meta, 'MTLSClientKey');
  if ((cert === undefined) !== (key === undefined)) throw new Error('metadata "MTLSClientCert" and "MTLSClientKey" must be set together');
  // Checked now so that a bad certificate stops start-up instead of failing every request.
  if (ca !== undefined) checkPem('MTLSRootCA', 'certificate', () => new X509Certificate(ca));
  if (cert !== undefined) checkPem('MTLSClientCert', 'certificate', () => new X509Certificate(cert));
  if (key !== undefined) checkPem('MTLSClientKey', 'private key', () => createPrivateKey(key));
  return { ...(ca === undefined ? {} : { ca }), ...(cert === undefined || key === undefined ? {} : { cert, key }) };
}

/** daprd takes either the PEM text itself or the path of a file holding it. */
function pemOrFile(meta: ComponentMetadata, name: string): string | undefined {
  const raw = stringProperty(meta, name, '');
  if (raw === '') return undefined;
  if (raw.includes('-----BEGIN')) return raw;
  try {
    return readFileSync(raw, 'utf8');
  } catch (err) {
    throw new Error(`metadata "${name}" is neither PEM text nor a readable file ("${raw}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

function checkPem(name: string, what: string, parse: () => unknown): void {
  try {
    parse();
  } catch {
    throw new Error(`metadata "${name}" is not a valid PEM ${what}`);
  }
}
