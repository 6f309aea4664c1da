// One awaited call to the app over the pooled app channel, for the sidecar's own deliveries (events, probes).

import { AppChannelError, type AppRequest, type AppResponse, type AppChannel } from './http-pool.js';

/** Sends `req` to the app; rejects with an AppChannelError when the app cannot be reached or the timeout expires. */
export function callApp(channel: AppChannel, req: AppRequest, timeoutMs: number): Promise<AppResponse> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const pending = channel.request(req, (err, res) => {
      clearTimeout(timer);
      if (err !== null) reject(err);
      else resolve(res!);
    });
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        pending.abort();
        reject(new AppChannelError('timeout', `the app did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
    }
  });
}

export function describeFailure(err: unknown): string {
  return err instanceof AppChannelError ? `the app could not be reached: ${err.message}` : (err as Error).message;
}
