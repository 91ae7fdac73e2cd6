import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config.js';
import { asyncApiFiles } from './asyncapi/files.js';

// `npm run docs:asyncapi`: writes docs/asyncapi.yaml and docs/schemas/<message>.json from the zod contracts.
// test/unit/docs/asyncapi.test.ts fails when the committed files differ from what this writes.

const HELP = `Usage: npm run docs:asyncapi [-- --out <dir>]

Writes the AsyncAPI 3.0 document of the worker's Kafka API (<dir>/asyncapi.yaml) and one JSON Schema per
message (<dir>/schemas/<message>.json), generated from the zod contracts of packages/client. Topic names are the
worker's defaults. Files in <dir>/schemas/ that no message has any more are removed.

Options:
  --out <dir>  where to write (default: docs/ of the repository)
  -h, --help   this text`;

export async function main(args: string[]): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    console.log(HELP);
    return 0;
  }
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  let out = join(root, 'docs');
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out' && args[i + 1]) out = resolve(args[++i]!);
    else {
      console.error(`unknown argument "${args[i]}"\n\n${HELP}`);
      return 2;
    }
  }
  // The defaults, whatever this shell has configured: the document describes the worker as shipped.
  const files = asyncApiFiles(loadConfig({}, { requireCommandKeys: false }));
  await mkdir(join(out, 'schemas'), { recursive: true });
  const wanted = new Set(Object.keys(files));
  for (const name of await readdir(join(out, 'schemas'))) if (!wanted.has(`schemas/${name}`)) await rm(join(out, 'schemas', name));
  for (const [path, text] of Object.entries(files)) await writeFile(join(out, path), text);
  console.log(`wrote ${join(out, 'asyncapi.yaml')} and ${wanted.size - 1} schemas under ${join(out, 'schemas')}`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
