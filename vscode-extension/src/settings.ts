// Pure mapping between the `reasonLsp.*` VS Code settings and what the server is sent.
// No `vscode` import: unit-tested with node's test runner.

/** The configuration section, the `initializationOptions` key and the didChangeConfiguration key. */
export const SECTION = 'reasonLsp';

/** Settings that choose and load the model: the server reads them once, at start. */
const MODEL_KEYS = ['model', 'device', 'dtype', 'quantize', 'backend', 'openai.url', 'openai.model'] as const;

/**
 * Settings the server reads, as dotted keys under `reasonLsp` (mirrors the server's
 * settings schema). They are sent nested: `openai.url` -> `{ openai: { url } }`.
 */
export const SERVER_KEYS = [
  ...MODEL_KEYS,
  // The server restarts its engine itself when these change: no process restart.
  'openai.apiKeyEnv',
  'openai.fim',
  'openai.redact',
  'openai.timeout',
  'contextTokens',
  'maxNewTokens',
  'maxModelChars',
  'completion.enable',
  'completion.inline',
  'completion.minConfidence',
  'completion.candidates',
  'completion.contextShare',
  'workspace.enable',
  'workspace.snippets',
  'workspace.maxFiles',
  'workspace.maxFileKb',
  'diagnostics.syntax',
  'diagnostics.model',
  'diagnostics.threshold',
  'sandbox.enable',
  'sandbox.require',
  'sandbox.timeout',
  'sandbox.memoryMb',
  'generation.samples',
  'generation.temperature',
  'verifyCompletions',
] as const;

/** Settings only the extension reads; never sent to the server. */
export const EXTENSION_KEYS = ['interpreter', 'trace.server'] as const;

/**
 * Settings whose change needs a new server process (the model is loaded once at start,
 * or the process itself changes). A change to any other server setting is sent as
 * workspace/didChangeConfiguration instead.
 */
export const RESTART_KEYS = ['interpreter', ...MODEL_KEYS] as const;

export type SettingsGetter = (key: string) => unknown;

export type ServerSettings = { [key: string]: unknown };

/**
 * Builds the nested settings object the server reads from the dotted keys.
 * Keys without a value (`undefined` or `null`) are left out, so the server applies its
 * own default.
 */
export function buildServerSettings(get: SettingsGetter): ServerSettings {
  const out: ServerSettings = {};
  for (const key of SERVER_KEYS) {
    const value = get(key);
    if (value === undefined || value === null) {
      continue;
    }
    const parts = key.split('.');
    let node = out;
    for (const part of parts.slice(0, -1)) {
      const child = node[part];
      if (typeof child !== 'object' || child === null) {
        node[part] = {};
      }
      node = node[part] as ServerSettings;
    }
    node[parts[parts.length - 1]] = value;
  }
  return out;
}

/** `initializationOptions` of the initialize request: `{ reasonLsp: {...} }`. */
export function initializationOptions(get: SettingsGetter): { [SECTION]: ServerSettings } {
  return { [SECTION]: buildServerSettings(get) };
}

/** Params of workspace/didChangeConfiguration: `{ settings: { reasonLsp: {...} } }`. */
export function didChangeConfigurationParams(get: SettingsGetter): {
  settings: { [SECTION]: ServerSettings };
} {
  return { settings: initializationOptions(get) };
}

/** What a configuration change asks of the client. */
export type ChangeAction = 'none' | 'notify' | 'restart';

/**
 * Decides what a configuration change means, given `affects(section)` (VS Code's
 * `ConfigurationChangeEvent.affectsConfiguration`).
 */
export function classifyChange(affects: (section: string) => boolean): ChangeAction {
  if (!affects(SECTION)) {
    return 'none';
  }
  if (RESTART_KEYS.some((key) => affects(`${SECTION}.${key}`))) {
    return 'restart';
  }
  if (SERVER_KEYS.some((key) => affects(`${SECTION}.${key}`))) {
    return 'notify';
  }
  // Only extension settings the language client applies itself (trace.server).
  return 'none';
}

/**
 * Runs `action` once, `delayMs` after the last of a burst of calls (several settings
 * edited together restart the server once).
 */
export class Debouncer {
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly delayMs: number,
    private readonly action: () => void,
  ) {}

  trigger(): void {
    this.cancel();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.action();
    }, this.delayMs);
  }

  get pending(): boolean {
    return this.timer !== undefined;
  }

  cancel(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
