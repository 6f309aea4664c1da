#!/usr/bin/env node
import { FlagError, parseSidecarFlags } from './flags.js';
import { createLogger, setLogLevel } from '../runtime/logger.js';

const log = createLogger('cli');

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'run') {
    const { runApp } = await import('./run.js');
    return runApp(argv.slice(1), process.env);
  }
  const options = parseSidecarFlags(argv, process.env);
  setLogLevel(options.logLevel);
  if (options.ignoredFlags !== undefined && options.ignoredFlags.length > 0) {
    log.debug(`accepted for compatibility, no effect yet: ${options.ignoredFlags.map((f) => `--${f}`).join(', ')}`);
  }
  // Loaded only for the sidecar itself: `pillion run` must not pay for the native HTTP front.
  const { Sidecar } = await import('../runtime/sidecar.js');
  const sidecar = new Sidecar(options);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) process.exit(1);
    void sidecar.shutdown(`received ${signal}`);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('uncaughtException', (err) => log.error(`uncaught exception: ${err.stack ?? err.message}`));
  process.on('unhandledRejection', (err) => log.error(`unhandled rejection: ${(err as Error)?.stack ?? String(err)}`));
  const exited = new Promise<number>((resolve) => sidecar.onExit(() => resolve(0)));
  try {
    await sidecar.start();
  } catch (err) {
    log.error(`start-up failed: ${(err as Error).message}`);
    await sidecar.shutdown('start-up failed');
    return 1;
  }
  return exited;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof FlagError) {
      (err.exitCode === 0 ? process.stdout : process.stderr).write(err.message + '\n');
      process.exit(err.exitCode);
    }
    process.stderr.write(`pillion: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
