// Failures of a call from the sidecar to its app, classified so callers can map them to Dapr errors
// and decide on retries.

/**
 * - `connect`: no connection could be opened (refused, unknown host, unreachable).
 * - `timeout`: no complete response within the pool's request timeout.
 * - `reset`: the connection broke after it was opened and before the response was complete.
 * - `protocol`: the request could not be framed safely, or the app's response was malformed.
 * - `too-large`: the response body exceeds the pool's limit.
 * - `closed`: the pool was closed before the request could be sent.
 * - `aborted`: the request was in flight when a closing pool ran out of grace time.
 */
export type AppChannelErrorKind = 'connect' | 'timeout' | 'reset' | 'protocol' | 'too-large' | 'closed' | 'aborted';

export class AppChannelError extends Error {
  readonly kind: AppChannelErrorKind;

  constructor(kind: AppChannelErrorKind, message: string) {
    super(message);
    this.name = 'AppChannelError';
    this.kind = kind;
  }
}
