import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeUntil } from './http-probe.js';
import type { ManagedProcess, ProcessGroup } from './processes.js';

export interface NginxProxyOptions {
  readonly nginxPath: string;
  readonly listenPort: number;
  readonly upstreamPort: number;
  /** Private prefix directory for the config, logs and temp files. */
  readonly dir: string;
  readonly cpus: string | undefined;
}

/**
 * The reference proxy: one nginx event loop with a keep-alive upstream pool,
 * no access log. It runs as a single process (master_process off) so that
 * the process measured is the one doing the work, and so that no worker can
 * outlive the benchmark if it is killed.
 */
function renderConfig(options: NginxProxyOptions): string {
  const temp = (name: string): string => join(options.dir, 'temp', name);
  return `worker_processes 1;
error_log ${join(options.dir, 'error.log')} warn;
events {
  worker_connections 1024;
}
http {
  access_log off;
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  upstream app {
    server 127.0.0.1:${options.upstreamPort};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${options.listenPort};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

export async function startNginx(group: ProcessGroup, options: NginxProxyOptions): Promise<ManagedProcess> {
  mkdirSync(join(options.dir, 'temp'), { recursive: true });
  const configPath = join(options.dir, 'nginx.conf');
  writeFileSync(configPath, renderConfig(options));
  const nginx = group.launch({
    name: 'nginx',
    command: options.nginxPath,
    args: [
      '-p', options.dir,
      '-c', configPath,
      '-e', join(options.dir, 'error.log'),
      '-g', `daemon off; master_process off; pid ${join(options.dir, 'nginx.pid')};`,
    ],
    cpus: options.cpus,
  });
  await group.guard(probeUntil(`http://127.0.0.1:${options.listenPort}/healthz`, {}, (res) => res.status === 200, 10_000));
  return nginx;
}
