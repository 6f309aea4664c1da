// `middleware.http.wasm`: an http-wasm guest named by `url`, as in Dapr. A file:// guest is watched and a rebuilt
// module is swapped in between requests, so a middleware can be developed against a running sidecar.

import {
  loadWasmMiddleware,
  wasmOptionsFromMetadata,
  watchGuestFile,
  type GuestRequest,
  type GuestWatcher,
  type HttpExchange,
  type WasmMiddleware,
} from '../../middleware-wasm/host/index.js';
import { guestFilePath } from '../../middleware-wasm/host/source.js';
import { createLogger } from '../../proxy/runtime/logger.js';
import { registerComponent } from '../registry.js';
import type { HttpMiddleware } from './middleware.js';

class WatchedWasmMiddleware implements HttpMiddleware {
  constructor(
    private readonly guest: WasmMiddleware,
    private readonly watcher: GuestWatcher | null,
  ) {}

  get name(): string {
    return this.guest.name;
  }

  handleRequest(exchange: HttpExchange): GuestRequest {
    return this.guest.handleRequest(exchange);
  }

  handleResponse(request: GuestRequest, isError: boolean): void {
    this.guest.handleResponse(request, isError);
  }

  close(): void {
    this.watcher?.close();
  }
}

registerComponent({
  type: 'middleware.http.wasm',
  versions: ['v1'],
  kind: 'middleware',
  async create(meta) {
    const settings = wasmOptionsFromMetadata(meta);
    const logger = createLogger(`middleware.http.wasm/${meta.name}`);
    const guest = await loadWasmMiddleware(settings.url, { ...settings, logger });
    const watcher =
      guestFilePath(settings.url) === null
        ? null
        : watchGuestFile(guest, settings.url, (err) => logger.error(`reload of ${settings.url} failed; the running module stays: ${err.message}`));
    return new WatchedWasmMiddleware(guest, watcher);
  },
});
