// VS Code language ids the server handles (its reason_lsp/text/languages.py LANGUAGE_IDS).
// No `vscode` import.

export const LANGUAGES = [
  'python',
  'javascript',
  'javascriptreact',
  'typescript',
  'typescriptreact',
  'rust',
  'go',
  'c',
  'cpp',
  'java',
] as const;

/** Saved files and untitled buffers of every language the server handles. */
export function documentSelector(): { scheme: string; language: string }[] {
  return LANGUAGES.flatMap((language) => [
    { scheme: 'file', language },
    { scheme: 'untitled', language },
  ]);
}
