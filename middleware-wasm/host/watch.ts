// Hot reload for file:// guests: rebuilt .wasm files are swapped in between requests.

import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { WasmMiddleware } from './middleware.js';
import { guestFilePath, readGuestBytes } from './source.js';
import { WasmLoadError } from './guest-module.js';

export interface GuestWatcher {
  close(): void;
}

/** Editors and build tools write a file in several steps; events closer together than this become one reload. */
const SETTLE_MS = 50;

/**
 * Reloads `middleware` whenever the file behind `fileUrl` changes. The directory is watched rather than the file,
 * so a build that replaces the file (write to a temporary name, then rename) is seen too. A module that fails to
 * load is reported through `onError` and the running one stays.
 */
export function watchGuestFile(
  middleware: WasmMiddleware,
  fileUrl: string,
  onError: (err: Error) => void,
): GuestWatcher {
  const path = guestFilePath(fileUrl);
  if (path === null) throw new WasmLoadError(`wasm middleware url "${fileUrl}": only file:// URLs can be watched`);
  const file = basename(path);
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  let reloading: Promise<void> = Promise.resolve();
  const reload = (): void => {
    timer = null;
    // Reloads run one after another so the newest file always wins.
    reloading = reloading.then(async () => {
      if (closed) return;
      try {
        await middleware.reload(await readGuestBytes(fileUrl));
      } catch (err) {
        onError(err as Error);
      }
    });
  };
  const watcher: FSWatcher = watch(dirname(path), (_event, changed) => {
    if (changed !== null && changed !== file) return;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(reload, SETTLE_MS);
  });
  watcher.on('error', (err) => onError(err));
  return {
    close() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      watcher.close();
    },
  };
}
