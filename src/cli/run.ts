// Runs the `dit` command line: loads only the module of the command being run (one command never fails because
// another command's dependency is missing), and turns every error into one line and an exit status from its
// code (src/util/errors.ts). `--debug` anywhere on the line adds stack traces and compiler/driver detail.
import { Command, CommanderError } from 'commander';
import { describeError, ERROR_CODES, FlagError } from '../util/errors.js';

/** One CLI command: its name and one-line summary (for `dit --help` without loading it) and its module. */
export interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<(program: Command) => void>;
}

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

const DEFAULT_IO: CliIo = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

/** Whether debug detail is on (`--debug` or DIT_DEBUG=1). Modules read this to decide what to print. */
export function debugEnabled(): boolean {
  return process.env.DIT_DEBUG === '1';
}

/** Whether this process was started as the CLI (bin/dit.js, npx dit, or node dist/cli/main.js), not imported by a test. */
export function isCliEntry(): boolean {
  return /(^|[\\/])(dit|dit\.js|main\.js)$/.test(process.argv[1] ?? '');
}

function exitCodeOfCommander(e: CommanderError): number {
  // Help and version exit 0; every parse error (unknown option, missing argument, bad choice) is a bad flag.
  if (e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
  return ERROR_CODES.BAD_FLAG.exitCode;
}

/**
 * A plain Error whose message starts with a flag name (`--reps must be ...`) or asks for an argument is a user
 * error: commands validate flags before any work and name the flag first.
 */
function looksLikeFlagError(message: string): boolean {
  return /^(--[a-z]|give |missing )/.test(message);
}

/** Runs one command line (argv without node and script); resolves to the process exit status. */
export async function runCli(argv: readonly string[], commands: readonly CommandEntry[], io: CliIo = DEFAULT_IO): Promise<number> {
  const args = argv.filter((a) => a !== '--debug');
  const debug = args.length !== argv.length || process.env.DIT_DEBUG === '1';
  if (debug) process.env.DIT_DEBUG = '1';
  const program = new Command();
  program
    .name('dit')
    .description('tetriserve-ts: Diffusion Transformer serving on WebGPU/Dawn')
    .version('0.1.0')
    .option('--debug', 'stack traces and compiler/driver detail on errors')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });
  const name = args.find((a) => !a.startsWith('-'));
  const entry = commands.find((c) => c.name === name);
  try {
    if (entry) (await entry.load())(program);
    // Every other command appears in `dit --help` by name and summary only; its module is not loaded.
    for (const c of commands) if (c !== entry) program.command(c.name).description(c.summary).allowUnknownOption().allowExcessArguments();
    for (const c of program.commands) c.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
    if (name && !entry) throw new FlagError(name, `unknown command (commands: ${commands.map((c) => c.name).join(', ')})`);
    const before = process.exitCode;
    process.exitCode = undefined;
    await program.parseAsync(['node', 'dit', ...args]);
    const code = typeof process.exitCode === 'number' ? process.exitCode : Number(process.exitCode ?? 0);
    process.exitCode = before;
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return exitCodeOfCommander(e); // commander already printed its message
    const d = describeError(e);
    const code = d.code === 'INTERNAL' && looksLikeFlagError(d.message) ? 'BAD_FLAG' : d.code;
    const info = ERROR_CODES[code];
    const firstLine = debug ? d.message : d.message.split('\n').filter((l) => !l.startsWith('--- source ---'))[0];
    io.err(`error: ${firstLine}${info.category === 'internal' && !debug ? ' (internal error: run again with --debug for details and report it)' : ''}\n`);
    if (!debug && d.message.includes('\nFix:')) io.err(`${d.message.slice(d.message.indexOf('\nFix:') + 1).split('\n')[0]}\n`);
    if (debug && e instanceof Error && e.stack) io.err(`[${code}] ${e.stack}\n`);
    return info.exitCode;
  }
}
