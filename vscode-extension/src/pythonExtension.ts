// The Python extension's selected interpreter, when that extension is installed.

import * as vscode from 'vscode';

const PYTHON_EXTENSION = 'ms-python.python';

/** The part of the Python extension's API this extension uses (new and legacy forms). */
interface PythonApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string; id: string } | undefined;
    resolveEnvironment(env: { path: string; id: string } | string): Promise<
      { executable?: { uri?: vscode.Uri } } | undefined
    >;
    onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
  };
  settings?: {
    getExecutionDetails?(resource?: vscode.Uri): { execCommand?: string[] } | undefined;
  };
}

async function api(): Promise<PythonApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonApi>(PYTHON_EXTENSION);
  if (!extension) {
    return undefined;
  }
  return extension.isActive ? extension.exports : await extension.activate();
}

/** argv of the selected interpreter, or undefined when there is no Python extension or selection. */
export async function selectedInterpreter(
  resource: vscode.Uri | undefined,
  log: vscode.LogOutputChannel,
): Promise<string[] | undefined> {
  try {
    const python = await api();
    if (!python) {
      return undefined;
    }
    const active = python.environments?.getActiveEnvironmentPath(resource);
    if (active) {
      const env = await python.environments?.resolveEnvironment(active);
      const executable = env?.executable?.uri?.fsPath;
      if (executable) {
        return [executable];
      }
    }
    const legacy = python.settings?.getExecutionDetails?.(resource)?.execCommand;
    return legacy && legacy.length > 0 ? legacy : undefined;
  } catch (error) {
    log.warn(`Could not ask the Python extension for its interpreter: ${String(error)}`);
    return undefined;
  }
}

/** Calls `listener` when the Python extension's selected interpreter changes. */
export async function onInterpreterChanged(listener: () => void): Promise<vscode.Disposable | undefined> {
  try {
    const python = await api();
    return python?.environments?.onDidChangeActiveEnvironmentPath?.(() => listener());
  } catch {
    return undefined;
  }
}
