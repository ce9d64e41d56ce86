// Bundles the extension (dist/extension.js) or, with --tests, the unit tests (out/test/).
import * as esbuild from 'esbuild';
import { readdirSync } from 'node:fs';

const args = new Set(process.argv.slice(2));
const production = args.has('--production');

/** @type {import('esbuild').BuildOptions} */
const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: production ? false : 'linked',
  logLevel: 'warning',
};

if (args.has('--tests')) {
  const tests = readdirSync('test')
    .filter((name) => name.endsWith('.test.ts'))
    .map((name) => `test/${name}`);
  // The unit tests cover modules without a `vscode` import; marking it external makes a
  // test that pulls one in fail loudly at run time instead of silently bundling nothing.
  await esbuild.build({ ...common, entryPoints: tests, outdir: 'out/test', external: ['vscode'] });
} else {
  const options = {
    ...common,
    entryPoints: ['src/extension.ts'],
    outfile: 'dist/extension.js',
    external: ['vscode'],
    minify: production,
  };
  if (args.has('--watch')) {
    const context = await esbuild.context(options);
    await context.watch();
  } else {
    await esbuild.build(options);
  }
}
