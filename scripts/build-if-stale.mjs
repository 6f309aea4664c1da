// `npm start` builds first when the compiled sidecar is missing or older than any source file.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const output = 'dist/proxy/cli/main.js';
// tsc rewrites its build info on every build that changed anything, unlike outputs of unchanged files.
const buildInfo = 'dist/.tsbuildinfo';
const sourceRoots = ['proxy', 'components', 'middleware-wasm', 'package.json', 'tsconfig.json'];

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((newest, name) => Math.max(newest, newestMtime(join(path, name))), 0);
}

const builtAt = existsSync(output) && existsSync(buildInfo) ? statSync(buildInfo).mtimeMs : 0;
const changedAt = Math.max(...sourceRoots.map(newestMtime));
if (builtAt === 0 || changedAt > builtAt) {
  execSync('npm run build', { stdio: 'inherit' });
}
