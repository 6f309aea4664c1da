// Text logs in the spirit of daprd's: one line per event, level filtered once at start-up.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const severity: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

let threshold = severity.info;

export function setLogLevel(level: LogLevel): void {
  threshold = severity[level];
}

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  enabled(level: LogLevel): boolean;
}

export function createLogger(scope: string): Logger {
  const write = (level: LogLevel, msg: string): void => {
    if (severity[level] < threshold) return;
    process.stdout.write(`time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(msg)} scope=pillion.${scope}\n`);
  };
  return {
    debug: (msg) => write('debug', msg),
    info: (msg) => write('info', msg),
    warn: (msg) => write('warn', msg),
    error: (msg) => write('error', msg),
    enabled: (level) => severity[level] >= threshold,
  };
}
