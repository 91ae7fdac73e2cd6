#!/usr/bin/env node
// Launcher of the `expctl` bin (`npx expctl …`): runs the compiled CLI when the package has been built
// (dist/src/cli/expctl.js), else the TypeScript source through tsx (a dependency), in this same process,
// so stdio, signals and the exit code are the CLI's own. EXPCTL_FROM_SOURCE=1 forces the source; it resolves the
// workspace package @experimentation-worker/client to its source too (the condition scripts/tsx.sh sets).
import { existsSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'src', 'cli', 'expctl.js');

let entry;
if (existsSync(built) && process.env.EXPCTL_FROM_SOURCE !== '1') {
  entry = built;
} else {
  const condition = 'experimentation-worker-source';
  registerHooks({
    resolve: (specifier, context, nextResolve) =>
      nextResolve(specifier, context.conditions.includes(condition) ? context : { ...context, conditions: [...context.conditions, condition] }),
  });
  const { register } = await import('tsx/esm/api');
  register();
  entry = join(root, 'src', 'cli', 'expctl.ts');
}

const { main } = await import(pathToFileURL(entry).href);
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Connections are closed by now; do not let a straggling socket timer keep the caller waiting.
setTimeout(() => process.exit(code), 2000).unref();
