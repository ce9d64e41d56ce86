// Pure rendering of the server's state for the status bar item. No `vscode` import.

/** Name of the custom notification the server sends when the model's state changes. */
export const STATUS_NOTIFICATION = 'reasonLsp/status';

export type ServerState = 'loading' | 'ready' | 'error' | 'syntax-only';

/** Params of `reasonLsp/status`. */
export interface StatusParams {
  state: ServerState;
  device?: string;
  model?: string;
  message?: string;
}

/** States of the client around the server's own. */
export type ClientPhase = 'starting' | 'running' | 'stopped' | 'failed';

export interface StatusView {
  /** Status bar text, with a codicon. */
  text: string;
  tooltip: string;
  /** Colours the item: warning and error use the theme's status bar colours. */
  severity: 'normal' | 'warning' | 'error';
}

const STATES: readonly string[] = ['loading', 'ready', 'error', 'syntax-only'];

/** Checks the shape of a `reasonLsp/status` notification's params (it comes off the wire). */
export function parseStatus(params: unknown): StatusParams | undefined {
  if (typeof params !== 'object' || params === null) {
    return undefined;
  }
  const p = params as Record<string, unknown>;
  if (typeof p.state !== 'string' || !STATES.includes(p.state)) {
    return undefined;
  }
  const out: StatusParams = { state: p.state as ServerState };
  for (const key of ['device', 'model', 'message'] as const) {
    if (typeof p[key] === 'string' && p[key] !== '') {
      out[key] = p[key] as string;
    }
  }
  return out;
}

function details(status: StatusParams): string {
  const lines: string[] = [];
  if (status.model) {
    lines.push(`Model: ${status.model}`);
  }
  if (status.device) {
    lines.push(`Device: ${status.device}`);
  }
  if (status.message) {
    lines.push(status.message);
  }
  return lines.join('\n');
}

/**
 * What the status bar shows. `phase` is the client's view of the process; `status` the
 * last `reasonLsp/status` the server sent (none yet: "starting").
 */
export function statusView(phase: ClientPhase, status?: StatusParams, failure?: string): StatusView {
  const click = 'Click to show the Reason output.';
  if (phase === 'failed') {
    return {
      text: '$(error) Reason: not running',
      tooltip: `${failure ?? 'The language server failed to start.'}\n${click}`,
      severity: 'error',
    };
  }
  if (phase === 'stopped') {
    return { text: '$(circle-slash) Reason: stopped', tooltip: `The language server is stopped.\n${click}`, severity: 'warning' };
  }
  if (phase === 'starting') {
    return { text: '$(sync~spin) Reason: starting', tooltip: `Starting the language server.\n${click}`, severity: 'normal' };
  }
  if (status === undefined) {
    // Initialized, but no reasonLsp/status yet (a server without a model never sends one).
    return {
      text: '$(pass) Reason: running',
      tooltip: `The language server is running; it has not reported a model yet.\n${click}`,
      severity: 'normal',
    };
  }
  const more = details(status);
  const tip = (head: string) => [head, more, click].filter((s) => s.length > 0).join('\n');
  switch (status.state) {
    case 'loading':
      return { text: '$(sync~spin) Reason: loading model', tooltip: tip('Loading the model.'), severity: 'normal' };
    case 'ready':
      return {
        text: status.device ? `$(check) Reason: ready on ${status.device}` : '$(check) Reason: ready',
        tooltip: tip('The model is loaded.'),
        severity: 'normal',
      };
    case 'syntax-only':
      return {
        text: '$(warning) Reason: syntax only',
        tooltip: tip('No model: only syntax diagnostics are available.'),
        severity: 'warning',
      };
    case 'error':
      return { text: '$(error) Reason: error', tooltip: tip('The model failed to load.'), severity: 'error' };
  }
}
