// Pure choice of the Python interpreter that runs the server, and the command line.
// No `vscode` import: unit-tested with node's test runner.

import * as path from 'node:path';

export type InterpreterSource = 'setting' | 'python-extension' | 'default';

export interface Interpreter {
  /** Executable to spawn. */
  command: string;
  /** Arguments that belong to the interpreter itself (e.g. `conda run -n env python`). */
  args: string[];
  source: InterpreterSource;
}

export interface InterpreterInputs {
  /** `reasonLsp.interpreter`, as the user wrote it. */
  configured?: string;
  /**
   * The Python extension's selected interpreter as an argv (its `execCommand`), or
   * `undefined` when that extension is not installed or has none selected.
   */
  pythonExtension?: readonly string[];
  /** First workspace folder's path, for `${workspaceFolder}`. */
  workspaceFolder?: string;
  /** Home directory, for a leading `~`. */
  home?: string;
}

export const DEFAULT_INTERPRETER = 'python3';

/** Expands a leading `~` and `${workspaceFolder}`; relative paths resolve against the workspace. */
export function expandPath(value: string, workspaceFolder?: string, home?: string): string {
  let out = value.trim();
  if (workspaceFolder !== undefined) {
    out = out.split('${workspaceFolder}').join(workspaceFolder);
  }
  if (home !== undefined && (out === '~' || out.startsWith('~/'))) {
    out = path.join(home, out.slice(1));
  }
  // A bare name ("python3") is looked up on PATH; a relative path ("./.venv/bin/python")
  // is taken relative to the workspace.
  if (workspaceFolder !== undefined && out.includes('/') && !path.isAbsolute(out)) {
    out = path.resolve(workspaceFolder, out);
  }
  return out;
}

/**
 * `reasonLsp.interpreter` when set, else the Python extension's selected interpreter,
 * else `python3`.
 */
export function chooseInterpreter(inputs: InterpreterInputs): Interpreter {
  const configured = inputs.configured?.trim();
  if (configured) {
    return {
      command: expandPath(configured, inputs.workspaceFolder, inputs.home),
      args: [],
      source: 'setting',
    };
  }
  const fromExtension = (inputs.pythonExtension ?? []).filter((part) => part.length > 0);
  if (fromExtension.length > 0) {
    return { command: fromExtension[0], args: fromExtension.slice(1), source: 'python-extension' };
  }
  return { command: DEFAULT_INTERPRETER, args: [], source: 'default' };
}

/** Module that runs the server: `python -m reason_lsp`. */
export const SERVER_MODULE = 'reason_lsp';

/**
 * The server's command line. `--stdio` is what vscode-languageclient's stdio transport
 * appends; the extension spawns the process itself (to read its stderr when it fails to
 * start), so it appends the flag here.
 */
export function serverCommandLine(interpreter: Interpreter): { command: string; args: string[] } {
  return { command: interpreter.command, args: [...interpreter.args, '-m', SERVER_MODULE, '--stdio'] };
}

/** A one-line description for the output channel. */
export function describeInterpreter(interpreter: Interpreter): string {
  const where = {
    setting: 'from reasonLsp.interpreter',
    'python-extension': "the Python extension's selected interpreter",
    default: 'default; set reasonLsp.interpreter to choose another',
  }[interpreter.source];
  return `${[interpreter.command, ...interpreter.args].join(' ')} (${where})`;
}
