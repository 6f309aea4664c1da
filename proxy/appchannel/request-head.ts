import type { AppRequest } from './http-pool.js';

/**
 * The request line and header block for `req`, or null when a line feed inside the method, path or a
 * header would split the head (the path and metadata may come from a remote peer).
 * Strings are sent as UTF-8, the encoding the HTTP front decodes headers with.
 */
export function buildRequestHead(req: AppRequest, hostHeader: string): string | null {
  let head = req.method + ' ' + req.path + ' HTTP/1.1\r\nHost: ' + hostHeader + '\r\n';
  const headers = req.headers;
  for (let k = 0; k + 1 < headers.length; k += 2) head += headers[k] + ': ' + headers[k + 1] + '\r\n';
  let lines = 3 + (headers.length >> 1);
  if (req.body !== null) {
    head += 'Content-Length: ' + req.body.length + '\r\n';
    lines++;
  } else if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') {
    // Servers may insist on a length for these methods even when there is nothing to send.
    head += 'Content-Length: 0\r\n';
    lines++;
  }
  head += '\r\n';
  return countLineFeeds(head) === lines ? head : null;
}

function countLineFeeds(text: string): number {
  let count = 0;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) count++;
  return count;
}
