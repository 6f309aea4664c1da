// HTTP/2 tuning shared by both ends of the sidecar-to-sidecar hop.

import type { Http2Session, Settings } from 'node:http2';

// The 64 KiB defaults would make a multi-MiB message wait for a WINDOW_UPDATE round trip every 64 KiB.
const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
const CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;
// Larger DATA frames cut per-frame work for big messages; small messages are unaffected.
const MAX_FRAME_BYTES = 256 * 1024;

export const LOCAL_SETTINGS: Settings = {
  enablePush: false,
  initialWindowSize: STREAM_WINDOW_BYTES,
  maxFrameSize: MAX_FRAME_BYTES,
};

/** Raises the connection-level receive window, which SETTINGS cannot change. */
export function widenConnectionWindow(session: Http2Session): void {
  session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
}

/**
 * Node refuses new streams once a session buffers more than this many MB; leave room for a few
 * maximum-size messages in each direction on top of the receive window.
 */
export function sessionMemoryMb(maxMessageBytes: number): number {
  return Math.max(10, Math.ceil((CONNECTION_WINDOW_BYTES + 4 * maxMessageBytes) / (1024 * 1024)));
}
