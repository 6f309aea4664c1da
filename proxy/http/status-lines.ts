import { STATUS_CODES } from 'node:http';

// uWebSockets.js wants the whole status line ("404 Not Found"); build each one once instead of per response.
const lines: string[] = [];
for (let code = 100; code < 600; code++) {
  lines[code] = `${code} ${STATUS_CODES[code] ?? 'Unknown'}`;
}

export function statusLine(code: number): string {
  return lines[code] ?? `${code} Unknown`;
}
