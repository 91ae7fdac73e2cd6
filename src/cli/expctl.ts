import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { CliContext, CliError, ENVIRONMENT_HELP, EXIT, EXIT_CODES_HELP, type CliIO } from './commands/context.js';
import { registerSend } from './commands/send.js';
import { registerJobs } from './commands/jobs.js';
import { registerDlq } from './commands/dlq.js';
import { registerParked } from './commands/parked.js';
import { registerResults } from './commands/results.js';
import { dropKafkajsTimeoutWarning } from '../transport/kafka.js';

// expctl: the operator CLI of the experimentation worker (package bin; `npm run cli -- <command>`).
// buildProgram/runCli take their output and environment from `io`, so tests can run it in-process.

export type { CliIO };

/** A fresh commander program wired to `io`; actions report their exit code through `ctx.exitCode`. */
export function buildProgram(io: CliIO, ctx: CliContext = new CliContext(io)): Command {
  const program = new Command('expctl')
    .description('Operator CLI of the experimentation worker: send signed commands and print their replies, list and replay failed jobs, inspect and replay the commands DLQ, retry or discard parked messages, recompute results.')
    .option('--json', 'print machine-readable JSON on stdout instead of tables')
    .option('-v, --verbose', 'print progress and Kafka client warnings on stderr')
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      `
${ENVIRONMENT_HELP}

${EXIT_CODES_HELP}

Examples:
  $ expctl send organisation.upsert --actor system:ops --payload '{"id":7,"name":"Acme","experimentationEnabled":true}'
  $ expctl jobs failed --queue command-retries
  $ expctl jobs replay cmd-0b6f6c1e-1f0e-4f57-9d1f-6a0f3e6c2a10
  $ expctl dlq list --json
  $ expctl dlq replay --all --dry-run
  $ expctl parked list --kind replies
  $ expctl results recompute 42
Run \`expctl <command> --help\` for the options of each command.`,
    );
  registerSend(program, ctx);
  registerJobs(program, ctx);
  registerDlq(program, ctx);
  registerParked(program, ctx);
  registerResults(program, ctx);
  return program;
}

/** Parses `argv` (the arguments after the program name) and runs the command; resolves with the exit code. */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  const ctx = new CliContext(io);
  const program = buildProgram(io, ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed the help or the error already.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.ok;
      return EXIT.usage; // unknown command/option, missing argument, invalid value, or no command given
    }
    if (error instanceof CliError) {
      io.stderr(`expctl: ${error.message}\n`);
      return error.exitCode;
    }
    io.stderr(`expctl: ${(error as Error)?.message ?? String(error)}\n`);
    return EXIT.failure;
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

/** The process entry point (also used by bin/expctl.js when a build is present). */
export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  dropKafkajsTimeoutWarning();
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0); // e.g. `expctl dlq list | head`
  });
  return runCli(argv, {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    readStdin,
  });
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const code = await main();
  process.exitCode = code;
  // Connections are closed by now; do not let a straggling socket timer keep an operator waiting.
  setTimeout(() => process.exit(code), 2000).unref();
}
