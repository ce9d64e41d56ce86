// Pure diagnosis of a server that did not start: turns the spawn error, exit code and
// stderr into a message that says what to do. No `vscode` import.

export interface StartFailure {
  /** Error from spawning, e.g. `{ code: 'ENOENT' }` when the interpreter does not exist. */
  spawnError?: { code?: string; message?: string };
  /** Exit code of the server process, when it exited. */
  exitCode?: number | null;
  /** What the process wrote to stderr (the tail is enough). */
  stderr?: string;
  /** The interpreter command line as shown to the user. */
  interpreter: string;
}

export type FailureKind = 'interpreter-missing' | 'server-missing' | 'dependency-missing' | 'crashed';

export interface Diagnosis {
  kind: FailureKind;
  /** One message for the notification. */
  message: string;
}

export const INSTALL_HINT = 'pip install reason-lsp';

const MISSING_MODULE = /No module named '?([A-Za-z0-9_.]+)'?/;

/** The last non-empty stderr lines, for a message about an unexpected crash. */
export function stderrTail(stderr: string | undefined, lines = 3): string {
  return (stderr ?? '')
    .split(/\r?\n/)
    .map((line) => line.trimEnd())
    .filter((line) => line.length > 0)
    .slice(-lines)
    .join('\n');
}

export function diagnoseStartFailure(failure: StartFailure): Diagnosis {
  const who = failure.interpreter;
  if (failure.spawnError?.code === 'ENOENT' || failure.spawnError?.code === 'EACCES') {
    return {
      kind: 'interpreter-missing',
      message:
        `Reason: cannot run the Python interpreter "${who}" (${failure.spawnError.code}). ` +
        'Set "reasonLsp.interpreter" to the Python that has reason-lsp installed ' +
        `(install it there with "${INSTALL_HINT}").`,
    };
  }
  const missing = MISSING_MODULE.exec(failure.stderr ?? '');
  if (missing) {
    const module = missing[1];
    if (module === 'reason_lsp') {
      return {
        kind: 'server-missing',
        message:
          `Reason: the language server is not installed for "${who}". ` +
          `Install it with "${who} -m ${INSTALL_HINT}", or point "reasonLsp.interpreter" ` +
          'at the interpreter that has it.',
      };
    }
    if (!module.startsWith('reason_lsp.')) {
      // A missing submodule of the server itself is a broken install, reported as a crash.
      return {
        kind: 'dependency-missing',
        message:
          `Reason: the language server in "${who}" is missing its dependency "${module}". ` +
          `Reinstall it with "${who} -m ${INSTALL_HINT}".`,
      };
    }
  }
  const code = failure.exitCode === undefined || failure.exitCode === null ? '' : ` (exit code ${failure.exitCode})`;
  const tail = stderrTail(failure.stderr, 1);
  return {
    kind: 'crashed',
    message:
      `Reason: the language server failed to start${code}` +
      (tail ? `: ${tail}` : '.') +
      ' See "Reason: Show output" for details.',
  };
}
