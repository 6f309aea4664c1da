// The AMQP connection of one RabbitMQ component (pubsub.rabbitmq, bindings.rabbitmq). amqplib's recovering
// connection opens it again every reconnectWait after it is lost; channels do not survive that, so their owners
// re-create them on every `connect`.

import { connect, type Channel, type ChannelModel, type RecoveringChannelModel } from 'amqplib';
import type { Logger } from '../../proxy/runtime/logger.js';

export interface ConnectionSettings {
  /** The AMQP URL, credentials included. */
  url: string;
  /** The URL without credentials, for messages. */
  address: string;
  reconnectWaitMs: number;
}

/** Bound on opening the TCP connection and the AMQP handshake; below the default component init timeout. */
const CONNECT_TIMEOUT_MS = 4000;

/** Socket failures: the broker is not there (yet). Waiting for it can help, unlike a refused login or vhost. */
const BROKER_AWAY_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
const BROKER_AWAY_MESSAGES = /^connect ETIMEDOUT$|^Socket closed abruptly/;

function brokerAway(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return (code !== undefined && BROKER_AWAY_CODES.has(code)) || BROKER_AWAY_MESSAGES.test(err.message);
}

export type ConnectListener = (model: ChannelModel) => void;

/** Resolves once an amqplib channel or connection has closed. */
function closeEvent(target: Channel | ChannelModel): Promise<void> {
  return new Promise((resolve) => target.once('close', () => resolve()));
}

/**
 * Closes an amqplib channel. Its close() settles on the broker's close-ok only, so never when the connection dies
 * first; the 'close' event comes either way.
 */
export async function closeChannel(channel: Channel): Promise<void> {
  await Promise.race([channel.close().catch(() => undefined), closeEvent(channel)]);
}

export class BrokerConnection {
  private model: ChannelModel | undefined;
  /** Why the last connection attempt failed or the connection was lost. */
  private cause: Error | undefined;
  private readonly connectListeners = new Set<ConnectListener>();

  private constructor(
    private readonly recovering: RecoveringChannelModel,
    private readonly settings: ConnectionSettings,
    logger: Logger,
  ) {
    recovering.on('connect', (model: ChannelModel) => {
      if (this.cause !== undefined) logger.info(`connected to RabbitMQ at ${settings.address}`);
      this.model = model;
      this.cause = undefined;
      for (const listener of this.connectListeners) listener(model);
    });
    recovering.on('disconnect', (err: Error) => {
      this.model = undefined;
      this.cause = err;
      logger.warn(`connection to RabbitMQ at ${settings.address} lost (${err.message}); reconnecting every ${settings.reconnectWaitMs} ms`);
    });
    recovering.on('connect-failed', (err: Error) => {
      this.cause = err;
      logger.debug(`connecting to RabbitMQ at ${settings.address} failed: ${err.message}`);
    });
    // Connection errors are followed by `disconnect`; without a listener, an 'error' event would crash the process.
    recovering.on('error', (err: Error) => logger.debug(`RabbitMQ at ${settings.address}: ${err.message}`));
  }

  /**
   * Makes the first connection attempt. Resolves once it succeeds, or once it fails for want of a broker (which is
   * then retried in the background, as after a loss); rejects when the broker refuses the settings.
   */
  static async open(settings: ConnectionSettings, logger: Logger): Promise<BrokerConnection> {
    const recovering = await connect(settings.url, {
      timeout: CONNECT_TIMEOUT_MS,
      recovery: { calculateDelay: () => settings.reconnectWaitMs, waitForConnect: false },
    });
    const connection = new BrokerConnection(recovering, settings, logger);
    const failure = await new Promise<Error | undefined>((resolve) => {
      recovering.once('connect', () => resolve(undefined));
      recovering.once('connect-failed', resolve);
    });
    if (failure === undefined) return connection;
    if (!brokerAway(failure)) {
      await recovering.close();
      throw new Error(`RabbitMQ at ${settings.address} refused the connection: ${failure.message}`);
    }
    logger.warn(`RabbitMQ at ${settings.address} is unreachable (${failure.message}); retrying every ${settings.reconnectWaitMs} ms`);
    return connection;
  }

  /** The open connection, if any. */
  get current(): ChannelModel | undefined {
    return this.model;
  }

  /** Why there is no open connection, for callers that need one now. */
  unavailable(): Error {
    const reason = this.cause === undefined ? '' : ` (${this.cause.message})`;
    return new Error(`not connected to RabbitMQ at ${this.settings.address}${reason}; reconnecting`);
  }

  /** Calls `listener` after every (re)connection; returns the function that removes it. */
  onConnect(listener: ConnectListener): () => void {
    this.connectListeners.add(listener);
    return () => this.connectListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.connectListeners.clear();
    const model = this.model;
    this.model = undefined;
    const closing = this.recovering.close();
    // As with channels: a connection dying before the broker's close-ok would leave close() pending.
    await (model === undefined ? closing : Promise.race([closing, closeEvent(model)]));
  }
}
