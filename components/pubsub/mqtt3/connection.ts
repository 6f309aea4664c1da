// One MQTT 3.1.1 connection of the component (the publisher's, or a consumer's): MQTT.js reconnects it on its own
// every second; this wrapper adds the first connection as a promise, bounded waits that end when the connection is
// closed, and a log line when the connection is lost and when it is back.

import { connect, type IConnackPacket, type MqttClient } from 'mqtt';
import type { Logger } from '../../../proxy/runtime/logger.js';
import type { Mqtt3Settings } from './settings.js';

const RECONNECT_PERIOD_MS = 1000;
const CONNECT_TIMEOUT_MS = 10_000;

export interface ConnectionOptions {
  clientId: string;
  /** MQTT's clean-session flag: false keeps the client's subscriptions and unacknowledged messages on the broker. */
  clean: boolean;
  /** Names the connection and its component in log lines and errors, e.g. `consumer "orders" of pubsub.mqtt3`. */
  label: string;
  logger: Logger;
}

export class BrokerConnection {
  readonly client: MqttClient;
  /** The first CONNACK; rejects (and ends the client) if the first attempt fails or the connection is closed first. */
  readonly ready: Promise<IConnackPacket>;
  private isClosed = false;
  /** How each wait in `bounded` ends early when the connection closes. */
  private readonly waits = new Set<() => void>();

  constructor(
    readonly settings: Mqtt3Settings,
    readonly options: ConnectionOptions,
  ) {
    const { brokerUrl, username, password, tls } = settings;
    this.client = connect(brokerUrl, {
      protocolVersion: 4,
      clientId: options.clientId,
      clean: options.clean,
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...tls,
      reconnectPeriod: RECONNECT_PERIOD_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
    });
    this.ready = this.firstConnection();
    // Callers await `ready`; this branch only keeps a failure nobody awaits from counting as unhandled.
    this.ready.catch(() => undefined);
    this.reportState();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Settles as `work` does, unless the connection is closed first or `timeoutMs` passes: MQTT.js keeps a request
   * made while disconnected until it reconnects, and forgets its callback when ended.
   */
  bounded<T>(work: Promise<T>, what: string, timeoutMs?: number): Promise<T> {
    if (this.isClosed) return Promise.reject(this.closedError(what));
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        clearTimeout(timer);
        this.waits.delete(onClose);
      };
      const onClose = (): void => {
        finish();
        reject(this.closedError(what));
      };
      this.waits.add(onClose);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          finish();
          reject(new Error(`${what}: no answer from the MQTT broker at ${this.settings.address} within ${timeoutMs / 1000}s`));
        }, timeoutMs);
      }
      work.then(
        (value) => {
          finish();
          resolve(value);
        },
        (err: unknown) => {
          finish();
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  /**
   * Drops the connection without waiting for anything outstanding: what the broker has not had acknowledged stays
   * with it (in the session, for a persistent one). Requests waiting through `bounded` reject.
   */
  async close(): Promise<void> {
    this.isClosed = true;
    for (const onClose of [...this.waits]) onClose();
    await this.client.endAsync(true);
  }

  private closedError(what: string): Error {
    return new Error(`${what}: ${this.options.label} is closed`);
  }

  private firstConnection(): Promise<IConnackPacket> {
    const { client, settings, options } = this;
    return new Promise<IConnackPacket>((resolve, reject) => {
      const settle = (): void => {
        client.off('connect', onConnect);
        client.off('error', onError);
        client.off('end', onEnd);
      };
      const onConnect = (connack: IConnackPacket): void => {
        settle();
        resolve(connack);
      };
      const onError = (err: Error): void => {
        settle();
        // Without this the client would retry every second for nobody.
        client.end(true);
        reject(new Error(`${options.label}: cannot connect to the MQTT broker at ${settings.address}: ${err.message}`));
      };
      const onEnd = (): void => {
        settle();
        reject(this.closedError('connecting'));
      };
      client.on('connect', onConnect);
      client.on('error', onError);
      client.on('end', onEnd);
    });
  }

  private reportState(): void {
    const { client, settings, options } = this;
    const { logger, label } = options;
    let lost = false;
    client.on('error', (err: Error) => logger.debug(`${label}: MQTT broker at ${settings.address}: ${err.message}`));
    client.on('offline', () => {
      if (this.closed || lost) return;
      lost = true;
      logger.warn(`${label}: connection to the MQTT broker at ${settings.address} lost; reconnecting`);
    });
    client.on('connect', () => {
      if (!lost) return;
      lost = false;
      logger.info(`${label}: reconnected to the MQTT broker at ${settings.address}`);
    });
  }
}

/**
 * PUBACK (MQTT 3.1.1 §3.4) of a QoS 1 message received on `client`'s current connection. MQTT.js sends it only
 * from its handleMessage callback, which also holds back every later packet until called: waiting there for the
 * app would allow one message at a time and stall keep-alive answers behind a slow handler.
 */
export function writePuback(client: MqttClient, packetId: number): void {
  client.stream.write(Buffer.from([0x40, 0x02, packetId >> 8, packetId & 0xff]));
}
