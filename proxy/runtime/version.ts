import { readFileSync } from 'node:fs';

const packageJson = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

export const PILLION_VERSION: string = packageJson.version;
/** The Dapr runtime API level Pillion answers for; reported as `runtimeVersion` so SDK version checks see a Dapr version. */
export const DAPR_API_VERSION = '1.14.4';
export const RUNTIME_VERSION = `${DAPR_API_VERSION}-pillion.${PILLION_VERSION}`;
