// Entry point: wires the output channel, the server manager and the commands.

import * as vscode from 'vscode';
import { GENERATE_COMMAND, ServerManager, VERIFY_COMMAND } from './client';

let manager: ServerManager | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('Reason', { log: true });
  manager = new ServerManager(output);
  const m = manager;
  context.subscriptions.push(
    output,
    m,
    vscode.commands.registerCommand('reasonLsp.generateImplementation', () =>
      m.runCommandAtCursor(GENERATE_COMMAND, 'Generate implementation'),
    ),
    vscode.commands.registerCommand('reasonLsp.verifyFunction', () =>
      m.runCommandAtCursor(VERIFY_COMMAND, 'Verify function'),
    ),
    vscode.commands.registerCommand('reasonLsp.restartServer', () => m.restart('restart command')),
    vscode.commands.registerCommand('reasonLsp.showOutput', () => m.showOutput()),
  );
  void m.start();
}

export async function deactivate(): Promise<void> {
  await manager?.stop();
  manager = undefined;
}
