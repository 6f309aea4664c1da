import { ProcessCrashError } from './processes.js';

/** The msg="..." of every error or fatal log line in a sidecar's output, unescaped, oldest first. */
function loggedErrors(output: string): string[] {
  const messages: string[] = [];
  for (const line of output.split('\n')) {
    if (!line.includes('level=error') && !line.includes('level=fatal')) continue;
    const logged = /msg="((?:[^"\\]|\\.)*)"/.exec(line);
    if (logged !== null) messages.push(logged[1]!.replace(/\\(.)/g, '$1'));
  }
  return messages;
}

/** Why a sidecar did not start: its own last error log line when it crashed after logging one, else the error's first line. */
export function sidecarStartFailure(error: unknown): string {
  if (error instanceof ProcessCrashError) {
    const last = loggedErrors(error.message).at(-1);
    if (last !== undefined) return last;
  }
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
