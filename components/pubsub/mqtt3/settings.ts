// Component metadata of `pubsub.mqtt3`, with daprd's names and defaults (url, consumerID, qos, retain, cleanSession,
// caCert/clientCert/clientKey). The url may carry credentials, so no message ever repeats it.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { booleanProperty, integerProperty, stringProperty } from '../../metadata.js';
import type { ComponentMetadata } from '../../registry.js';

export interface Mqtt3Settings {
  /** `mqtt://host:port` or `mqtts://host:port`, without credentials. */
  brokerUrl: string;
  /** host:port, for messages. */
  address: string;
  username: string | undefined;
  password: string | undefined;
  /** QoS of publishing and of subscriptions. */
  qos: 0 | 1;
  /** Whether the broker keeps the last message of a topic for later subscribers; a request may override it. */
  retain: boolean;
  /** true: the broker forgets a consumer's subscriptions and messages when it disconnects. */
  cleanSession: boolean;
  /** The component's consumerID ('' when unset); names the publisher's connection. */
  consumerId: string;
  tls: { ca?: string; cert?: string; key?: string };
}

const SCHEMES: Readonly<Record<string, { protocol: 'mqtt' | 'mqtts'; defaultPort: number }>> = {
  'tcp:': { protocol: 'mqtt', defaultPort: 1883 },
  'mqtt:': { protocol: 'mqtt', defaultPort: 1883 },
  'ssl:': { protocol: 'mqtts', defaultPort: 8883 },
  'tls:': { protocol: 'mqtts', defaultPort: 8883 },
  'tcps:': { protocol: 'mqtts', defaultPort: 8883 },
  'mqtts:': { protocol: 'mqtts', defaultPort: 8883 },
};

export function parseSettings(meta: ComponentMetadata): Mqtt3Settings {
  const qos = integerProperty(meta, 'qos', 1, 0);
  // With QoS 2 the client takes a message over (PUBREC) before the app has it: a sidecar dying then loses it.
  if (qos > 1) throw new Error(`metadata "qos" must be 0 or 1 (QoS 2 is not supported), got "${qos}"`);
  return {
    ...brokerAddress(meta),
    qos: qos === 0 ? 0 : 1,
    retain: booleanProperty(meta, 'retain', false),
    cleanSession: booleanProperty(meta, 'cleanSession', false),
    consumerId: stringProperty(meta, 'consumerID', ''),
    tls: tlsMaterial(meta),
  };
}

function brokerAddress(meta: ComponentMetadata): Pick<Mqtt3Settings, 'brokerUrl' | 'address' | 'username' | 'password'> {
  const raw = stringProperty(meta, 'url', '');
  if (raw === '') throw new Error('metadata "url" is required, e.g. "tcp://host:1883"');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('metadata "url" is not a valid URL; expected "tcp://[username][:password]@host[:port]" or "ssl://..."');
  }
  const scheme = SCHEMES[url.protocol];
  if (scheme === undefined) {
    throw new Error(`metadata "url" must start with tcp:// or ssl:// (or mqtt://, mqtts://, tls://, tcps://), got scheme "${url.protocol}"`);
  }
  if (url.hostname === '') throw new Error('metadata "url" has no host');
  const address = `${url.hostname}:${url.port === '' ? scheme.defaultPort : url.port}`;
  return {
    brokerUrl: `${scheme.protocol}://${address}`,
    address,
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
  };
}

function tlsMaterial(meta: ComponentMetadata): Mqtt3Settings['tls'] {
  const ca = stringProperty(meta, 'caCert', '');
  const cert = stringProperty(meta, 'clientCert', '');
  const key = stringProperty(meta, 'clientKey', '');
  if ((cert === '') !== (key === '')) throw new Error('metadata "clientCert" and "clientKey" must be set together');
  // Checked now so that a pasted certificate with a typo stops start-up instead of failing every connection attempt.
  if (ca !== '') checkPem('caCert', () => new X509Certificate(ca));
  if (cert !== '') checkPem('clientCert', () => new X509Certificate(cert));
  if (key !== '') checkPem('clientKey', () => createPrivateKey(key));
  return { ...(ca === '' ? {} : { ca }), ...(cert === '' ? {} : { cert, key }) };
}

function checkPem(name: string, parse: () => unknown): void {
  try {
    parse();
  } catch {
    throw new Error(`metadata "${name}" is not a valid PEM ${name === 'clientKey' ? 'private key' : 'certificate'}`);
  }
}
