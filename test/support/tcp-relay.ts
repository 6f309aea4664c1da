import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP relay to a server on 127.0.0.1 that can be cut (port closed, every live connection dropped) and restored on
 * the same port: the outage a healthy local server never has.
 */
export class TcpRelay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private listenPort: number;

  /** `port` 0 picks a free port on the first start; later starts reuse it. */
  constructor(
    private readonly targetPort: number,
    port = 0,
  ) {
    this.listenPort = port;
  }

  /** A relay on a free port that is known before the relay first listens. */
  static async reserve(targetPort: number): Promise<TcpRelay> {
    const probe = createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(0, '127.0.0.1', resolve);
    });
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return new TcpRelay(targetPort, port);
  }

  /** The port the relay listens on (0 until a free port has been picked). */
  get port(): number {
    return this.listenPort;
  }

  async start(): Promise<void> {
    if (this.server !== undefined) throw new Error(`relay on 127.0.0.1:${this.listenPort} is already started`);
    const server = createServer((downstream) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const socket of [downstream, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        // A reset on either side ends both through their 'close' handlers below.
        socket.on('error', () => undefined);
      }
      downstream.on('close', () => upstream.destroy());
      upstream.on('close', () => downstream.destroy());
      downstream.pipe(upstream).pipe(downstream);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listenPort, '127.0.0.1', () => resolve());
    });
    this.listenPort = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Closes the port and drops every relayed connection; safe to call when already stopped. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
