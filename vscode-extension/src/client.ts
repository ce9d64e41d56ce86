// Language client set-up, start-up failure handling, restarts, status and server commands.

import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as vscode from 'vscode';
import {
  CloseAction,
  DidChangeConfigurationNotification,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  RevealOutputChannelOn,
  State,
  type CloseHandlerResult,
  type ErrorHandlerResult,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';
import { chooseInterpreter, describeInterpreter, serverCommandLine, SERVER_MODULE, type Interpreter } from './interpreter';
import { documentSelector } from './languages';
import { onInterpreterChanged, selectedInterpreter } from './pythonExtension';
import { classifyChange, Debouncer, didChangeConfigurationParams, initializationOptions, SECTION } from './settings';
import { diagnoseStartFailure, stderrTail, type StartFailure } from './startFailure';
import { parseStatus, STATUS_NOTIFICATION, statusView, type ClientPhase, type StatusParams } from './status';

/** Client id: the language client reads `reasonLsp.trace.server` from it. */
const CLIENT_ID = SECTION;
const CLIENT_NAME = 'Reason';
const RESTART_DEBOUNCE_MS = 800;
/** Crashes of a running server tolerated within CRASH_WINDOW_MS before giving up. */
const MAX_CRASHES = 3;
const CRASH_WINDOW_MS = 3 * 60 * 1000;
const STDERR_KEEP = 16_000;

/** Server-side commands the editor commands forward to. */
export const GENERATE_COMMAND = 'reasonLsp.generate';
export const VERIFY_COMMAND = 'reasonLsp.verify';

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

function getter(): (key: string) => unknown {
  const cfg = config();
  return (key) => cfg.get(key);
}

/** Starts the interpreter with `-c code`; resolves with its exit code and stderr, or the spawn error. */
function probe(interpreter: Interpreter, code: string, cwd: string | undefined): Promise<StartFailure | undefined> {
  return new Promise((resolve) => {
    const shown = [interpreter.command, ...interpreter.args].join(' ');
    let stderr = '';
    let child: ChildProcess;
    try {
      child = spawn(interpreter.command, [...interpreter.args, '-c', code], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (error) {
      resolve({ spawnError: error as NodeJS.ErrnoException, interpreter: shown });
      return;
    }
    const timer = setTimeout(() => {
      child.kill();
      resolve(undefined); // a slow interpreter is not a missing one: let the real start decide
    }, 15_000);
    child.stderr?.on('data', (data: Buffer) => (stderr += data.toString()));
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ spawnError: error, interpreter: shown });
    });
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode === 0 ? undefined : { exitCode, stderr, interpreter: shown });
    });
  });
}

/**
 * The language client, less its generic "couldn't create connection to server" pop-up:
 * a failed start is explained by fail() with what the server wrote (stderr), which says
 * what to do. The generic message still goes to the output channel.
 */
class ReasonLanguageClient extends LanguageClient {
  override error(message: string, data?: unknown, showNotification?: boolean | 'force'): void {
    const quiet = message.includes("couldn't create connection to server");
    super.error(message, data, quiet ? false : showNotification);
  }
}

// Checks that the server's package is importable without importing it (its import may be heavy).
const FIND_SERVER =
  'import importlib.util, sys\n' +
  `sys.exit(None if importlib.util.find_spec("${SERVER_MODULE}") else "No module named ${SERVER_MODULE}")`;

/** Owns the language client: start, stop, restart, status bar, settings changes. */
export class ServerManager implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private interpreter: Interpreter | undefined;
  private serverProcess: ChildProcess | undefined;
  private stderr = '';
  private exitCode: number | null | undefined;
  private queue: Promise<void> = Promise.resolve();
  private phase: ClientPhase = 'starting';
  private status: StatusParams | undefined;
  private failure: string | undefined;
  private crashes: number[] = [];
  private readonly statusItem: vscode.StatusBarItem;
  private readonly restartDebouncer = new Debouncer(RESTART_DEBOUNCE_MS, () => {
    void this.restart('settings changed');
  });
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly output: vscode.LogOutputChannel) {
    this.statusItem = vscode.window.createStatusBarItem('reasonLsp.status', vscode.StatusBarAlignment.Right, 100);
    this.statusItem.name = 'Reason';
    this.statusItem.command = 'reasonLsp.showOutput';
    this.render();
    this.statusItem.show();
    this.disposables.push(
      this.statusItem,
      vscode.workspace.onDidChangeConfiguration((event) => this.onConfigurationChanged(event)),
    );
    void onInterpreterChanged(() => {
      if (this.interpreter?.source === 'python-extension') {
        this.restartDebouncer.trigger();
      }
    }).then((disposable) => disposable && this.disposables.push(disposable));
  }

  /** Starts the server (queued behind any start or stop in progress). */
  start(): Promise<void> {
    return this.enqueue(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.enqueue(() => this.doStop());
  }

  restart(reason: string): Promise<void> {
    this.restartDebouncer.cancel();
    return this.enqueue(async () => {
      this.output.info(`Restarting the server (${reason}).`);
      await this.doStop();
      await this.doStart();
    });
  }

  showOutput(): void {
    this.output.show(true);
  }

  /** Runs a server command (`workspace/executeCommand`) on the active editor's cursor. */
  async runCommandAtCursor(command: string, title: string): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.document.languageId !== 'python') {
      void vscode.window.showWarningMessage(`Reason: ${title} needs a Python file with the cursor in a function.`);
      return;
    }
    await this.queue; // a start or restart in progress finishes first
    const client = this.client;
    if (!client || client.state !== State.Running) {
      void vscode.window.showErrorMessage(
        `Reason: the language server is not running. ${this.failure ?? 'Run "Reason: Restart server".'}`,
      );
      return;
    }
    const offered = client.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
    if (!offered.includes(command)) {
      void vscode.window.showWarningMessage(
        `Reason: this version of the language server does not offer "${title}" (${command}). Update reason-lsp.`,
      );
      return;
    }
    const args = {
      uri: client.code2ProtocolConverter.asUri(editor.document.uri),
      position: client.code2ProtocolConverter.asPosition(editor.selection.active),
    };
    this.output.info(`${command} at ${args.uri}:${args.position.line + 1}:${args.position.character + 1}`);
    try {
      const result: unknown = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Reason: ${title}`, cancellable: true },
        (_progress, token) => client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [args] }, token),
      );
      const message = (result as { message?: unknown } | null)?.message;
      if (typeof message === 'string' && message.length > 0) {
        void vscode.window.showInformationMessage(`Reason: ${message}`);
      }
    } catch (error) {
      if (error instanceof Error && /cancel/i.test(error.message)) {
        return;
      }
      this.output.error(`${command} failed: ${String(error)}`);
      void vscode.window.showErrorMessage(`Reason: ${title} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  dispose(): void {
    this.restartDebouncer.cancel();
    for (const disposable of this.disposables) {
      disposable.dispose();
    }
  }

  private enqueue(operation: () => Promise<void>): Promise<void> {
    const next = this.queue.then(operation).catch((error) => {
      this.output.error(`Reason client: ${String(error)}`);
    });
    this.queue = next;
    return next;
  }

  private onConfigurationChanged(event: vscode.ConfigurationChangeEvent): void {
    const action = classifyChange((section) => event.affectsConfiguration(section));
    if (action === 'restart') {
      this.restartDebouncer.trigger();
    } else if (action === 'notify' && !this.restartDebouncer.pending) {
      const client = this.client;
      if (client && client.state === State.Running) {
        void client
          .sendNotification(DidChangeConfigurationNotification.type, didChangeConfigurationParams(getter()))
          .catch((error) => this.output.error(`didChangeConfiguration: ${String(error)}`));
      }
    }
  }

  private setPhase(phase: ClientPhase, failure?: string): void {
    this.phase = phase;
    this.failure = failure;
    if (phase !== 'running') {
      this.status = undefined;
    }
    this.render();
  }

  private render(): void {
    const view = statusView(this.phase, this.status, this.failure);
    this.statusItem.text = view.text;
    this.statusItem.tooltip = view.tooltip;
    this.statusItem.backgroundColor =
      view.severity === 'normal' ? undefined : new vscode.ThemeColor(`statusBarItem.${view.severity}Background`);
  }

  private async chooseInterpreter(): Promise<Interpreter> {
    const folder = vscode.workspace.workspaceFolders?.[0];
    const configured = config().get<string>('interpreter') ?? '';
    const fromPython = configured.trim() ? undefined : await selectedInterpreter(folder?.uri, this.output);
    return chooseInterpreter({
      configured,
      pythonExtension: fromPython,
      workspaceFolder: folder?.uri.fsPath,
      home: os.homedir(),
    });
  }

  private async doStart(): Promise<void> {
    this.setPhase('starting');
    const interpreter = await this.chooseInterpreter();
    this.interpreter = interpreter;
    this.output.info(`Python interpreter: ${describeInterpreter(interpreter)}`);
    const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;

    const missing = await probe(interpreter, FIND_SERVER, cwd);
    if (missing) {
      this.fail(missing);
      return;
    }

    const line = serverCommandLine(interpreter);
    const serverOptions: ServerOptions = () =>
      new Promise<ChildProcess>((resolve, reject) => {
        this.output.info(`Starting: ${[line.command, ...line.args].join(' ')}`);
        this.stderr = '';
        this.exitCode = undefined;
        const child = spawn(line.command, line.args, {
          cwd,
          env: { ...process.env, PYTHONUNBUFFERED: '1' },
        });
        this.serverProcess = child;
        child.stderr?.on('data', (data: Buffer) => {
          this.stderr = (this.stderr + data.toString()).slice(-STDERR_KEEP);
        });
        child.once('exit', (code) => {
          this.exitCode = code;
        });
        child.once('error', (error) => reject(error));
        child.once('spawn', () => resolve(child));
      });

    const clientOptions: LanguageClientOptions = {
      documentSelector: documentSelector(),
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      // Read at each (re)start, so a crash restart sends the current settings.
      initializationOptions: () => initializationOptions(getter()),
      // A failed initialize is reported by fail() with what the server wrote.
      initializationFailedHandler: () => false,
      errorHandler: {
        error: (): ErrorHandlerResult => ({ action: ErrorAction.Continue }),
        closed: (): CloseHandlerResult => this.onClosed(),
      },
      middleware: {
        // Honour the on/off switch at once, whatever the server does with it.
        provideInlineCompletionItems: (document, position, context, token, next) =>
          config().get<boolean>('completion.inline', true) && config().get<boolean>('completion.enable', true)
            ? next(document, position, context, token)
            : undefined,
      },
    };

    const client = new ReasonLanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
    client.onNotification(STATUS_NOTIFICATION, (params: unknown) => {
      const status = parseStatus(params);
      if (!status) {
        this.output.warn(`Ignoring a malformed ${STATUS_NOTIFICATION}: ${JSON.stringify(params)}`);
        return;
      }
      this.status = status;
      if (status.state === 'error' && status.message) {
        this.output.error(`Model: ${status.message}`);
      }
      this.render();
    });
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      await this.waitForExit(2000);
      const spawnError = (error as NodeJS.ErrnoException)?.code ? (error as NodeJS.ErrnoException) : undefined;
      this.fail({
        spawnError,
        exitCode: this.exitCode,
        stderr: this.stderr,
        interpreter: [interpreter.command, ...interpreter.args].join(' '),
      });
      await client.dispose().catch(() => undefined);
      this.client = undefined;
      return;
    }
    const info = client.initializeResult?.serverInfo;
    this.output.info(`Server started${info ? `: ${info.name} ${info.version ?? ''}` : ''}.`);
    this.setPhase('running');
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      this.setPhase('stopped');
      try {
        if (client.state !== State.Stopped) {
          await client.stop(3000);
        }
      } catch (error) {
        this.output.warn(`Stopping the server: ${String(error)}`);
      }
      await client.dispose().catch(() => undefined);
    }
    const child = this.serverProcess;
    this.serverProcess = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill();
    }
  }

  /** The connection closed by itself (not by stop()): restart a server that was running, a few times. */
  private onClosed(): CloseHandlerResult {
    if (this.phase !== 'running') {
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    const now = Date.now();
    this.crashes = [...this.crashes.filter((t) => now - t < CRASH_WINDOW_MS), now];
    const tail = stderrTail(this.stderr, 1);
    if (this.crashes.length > MAX_CRASHES) {
      const message = `Reason: the language server crashed ${this.crashes.length} times in 3 minutes and will not be restarted${tail ? `: ${tail}` : '.'}`;
      this.setPhase('failed', message);
      void this.offerHelp(message);
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    this.output.warn(`The server exited (code ${this.exitCode ?? 'unknown'}); restarting.`);
    this.setPhase('starting');
    // The language client restarts it; the status goes back to running in the state listener.
    const client = this.client;
    const listener = client?.onDidChangeState((event) => {
      if (event.newState === State.Running) {
        this.setPhase('running');
        listener?.dispose();
      }
    });
    return { action: CloseAction.Restart, handled: true };
  }

  private waitForExit(timeoutMs: number): Promise<void> {
    const child = this.serverProcess;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      child.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private fail(failure: StartFailure): void {
    const diagnosis = diagnoseStartFailure(failure);
    this.output.error(diagnosis.message);
    if (failure.stderr) {
      this.output.error(`Server stderr:\n${failure.stderr.trimEnd()}`);
    }
    this.setPhase('failed', diagnosis.message);
    void this.offerHelp(diagnosis.message);
  }

  private async offerHelp(message: string): Promise<void> {
    const choice = await vscode.window.showErrorMessage(message, 'Set interpreter', 'Show output');
    if (choice === 'Set interpreter') {
      await vscode.commands.executeCommand('workbench.action.openSettings', `${SECTION}.interpreter`);
    } else if (choice === 'Show output') {
      this.showOutput();
    }
  }
}
