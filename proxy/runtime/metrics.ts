import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/**
 * The Prometheus endpoint on --metrics-port, served on every path as daprd does (`/` and `/metrics`).
 * Process metrics are sampled only when scraped, so they cost the request path nothing.
 */
export class MetricsServer {
  readonly registry = new Registry();
  private server: Server | null = null;

  constructor(appId: string, componentCount: () => number) {
    this.registry.setDefaultLabels({ app_id: appId });
    collectDefaultMetrics({ register: this.registry, prefix: 'dapr_process_' });
    new Gauge({
      name: 'dapr_runtime_component_loaded',
      help: 'The number of successfully loaded components.',
      registers: [this.registry],
      collect() {
        this.set(componentCount());
      },
    });
  }

  listen(host: string, port: number): Promise<number> {
    const server = createServer((_req, res) => {
      this.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': this.registry.contentType });
          res.end(text);
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(err.message);
        },
      );
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`cannot listen on ${host}:${port} for metrics: ${err.message}`)));
      server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return Promise.resolve();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
