// End-to-end test of the extension in a real VS Code: code-server with the built .vsix
// installed, driven from headless Chromium, the language server launched from the repo's
// .venv. Scenarios the server cannot support yet (no inlineCompletionProvider, no
// reasonLsp.generate command) are skipped with the reason, and run once the server offers them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { node24 } from '../scripts/with-node24.mjs';
import { CHROMIUM, CodeServer, launchBrowser } from './codeServer.mjs';
import { serverCapabilities } from './lsp.mjs';
import { editorLines, goTo, notifications, openFile, openWorkbench, reasonStatus, runCommand, waitUntil } from './workbench.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const extensionDir = resolve(here, '..');
const repo = resolve(extensionDir, '..');
const python = process.env.REASON_E2E_PYTHON ?? join(repo, '.venv', 'bin', 'python');
const vsix = process.env.REASON_E2E_VSIX ?? join(extensionDir, 'reason-lsp.vsix');
const artifacts = process.env.REASON_E2E_ARTIFACTS ?? join(repo, 'artifacts', 'vscode-e2e');
const codeServerEntry = join(here, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const SCENARIO_TIMEOUT_MS = 240_000;

const FILES = {
  'broken.py': 'def greet(name):\n    return "hello " + name\n\n\ndef broken(x:\n    return x\n',
  'complete.py': 'def add(a, b):\n    """Return the sum of a and b."""\n    ret',
  'stub.py':
    'def multiply(a: int, b: int) -> int:\n' +
    '    """Return the product of a and b.\n\n' +
    '    >>> multiply(3, 4)\n' +
    '    12\n' +
    '    """\n',
};

let root;
let workspace;
let codeServer;
let capabilities;
let userSettings;
let serverEnv = {};
let noServerPython;

function slug(name) {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/**
 * Runs `body(page)` in a fresh browser; on failure takes a screenshot and tries once more.
 * Returns what `body` returns (a scenario returns `{ skip }` when the server cannot support it).
 */
async function inBrowser(name, body) {
  mkdirSync(artifacts, { recursive: true });
  for (let attempt = 1; ; attempt++) {
    let browser;
    let page;
    try {
      browser = await launchBrowser();
      page = await openWorkbench(browser, codeServer.url, workspace);
      return await body(page);
    } catch (error) {
      if (page) {
        await page.screenshot({ path: join(artifacts, `${slug(name)}-failed-${attempt}.png`) }).catch(() => {});
      }
      if (attempt >= 2) {
        error.message += `\n--- code-server log (tail) ---\n${codeServer.log.slice(-3000)}`;
        throw error;
      }
      console.log(`# ${name}: attempt ${attempt} failed, retrying once: ${error.message.split('\n')[0]}`);
    } finally {
      await browser?.close().catch(() => {});
    }
  }
}

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`) });
}

function canImportServer(command, env) {
  const result = spawnSync(command, ['-c', 'import reason_lsp'], { cwd: tmpdir(), env, encoding: 'utf8' });
  return result.status === 0;
}

before(async () => {
  for (const [what, path] of [
    ['the .vsix (npm run package)', vsix],
    ['chromium (apt-get install chromium)', CHROMIUM],
    ['the repo .venv python', python],
    ['code-server (npm ci in e2e/)', codeServerEntry],
  ]) {
    assert.ok(existsSync(path), `missing ${what}: ${path}`);
  }
  rmSync(artifacts, { recursive: true, force: true }); // no stale screenshots from an earlier run
  mkdirSync(artifacts, { recursive: true });
  root = mkdtempSync(join(tmpdir(), 'reason-vscode-e2e-'));
  workspace = join(root, 'workspace');
  mkdirSync(workspace, { recursive: true });
  for (const [name, text] of Object.entries(FILES)) {
    writeFileSync(join(workspace, name), text);
  }
  // The server runs from the workspace folder, so it must be importable from anywhere; a
  // .venv without the project installed gets the repo on PYTHONPATH (said, not hidden).
  if (!canImportServer(python, process.env)) {
    serverEnv = { PYTHONPATH: [repo, process.env.PYTHONPATH].filter(Boolean).join(':') };
    console.log(`# ${python} cannot import reason_lsp from outside the repo; using PYTHONPATH=${repo}`);
  }
  const env = { ...process.env, ...serverEnv };
  capabilities = (
    await serverCapabilities({ command: python, args: ['-m', 'reason_lsp', '--stdio'], cwd: workspace, env })
  ).capabilities;
  console.log(`# server capabilities: ${JSON.stringify(capabilities)}`);

  // A Python that certainly lacks the server: the system interpreter in isolated mode (-I
  // ignores PYTHONPATH, the user site and the current folder).
  noServerPython = join(root, 'python-without-server');
  writeFileSync(noServerPython, '#!/bin/sh\nexec /usr/bin/python3 -I "$@"\n');
  chmodSync(noServerPython, 0o755);

  codeServer = new CodeServer({ node: node24(), entry: codeServerEntry, root, extraEnv: serverEnv });
  userSettings = {
    'reasonLsp.interpreter': python,
    // A tiny model that knows e2e/memo.py by heart (scripts/test.sh builds it), so what the
    // editor shows is known; without it the server's default model is used.
    ...(process.env.REASON_E2E_MODEL
      ? { 'reasonLsp.model': process.env.REASON_E2E_MODEL, 'reasonLsp.generation.samples': 2 }
      : {}),
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.welcomePage.walkthroughs.openOnInstall': false,
    'security.workspace.trust.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'update.mode': 'none',
    'chat.disableAIFeatures': true,
    'editor.inlineSuggest.enabled': true,
    'editor.quickSuggestions': { other: false, comments: false, strings: false },
    'editor.suggestOnTriggerCharacters': false,
    'files.autoSave': 'off',
  };
  codeServer.writeUserSettings(userSettings);
  codeServer.installExtension(vsix);
  await codeServer.start();
});

after(async () => {
  await codeServer?.stop();
  if (root && !process.env.REASON_E2E_KEEP) {
    rmSync(root, { recursive: true, force: true });
  }
});

/** Waits for the extension to have started the server; fails fast (for the retry) when it could not. */
async function serverStarted(page) {
  const status = await waitUntil(async () => {
    const s = await reasonStatus(page);
    return s && !s.includes('starting') ? s : '';
  }, 'the Reason status bar item to leave "starting"', 60_000);
  if (status.includes('not running')) {
    throw new Error(`the server did not start: ${status}; notifications: ${JSON.stringify(await notifications(page))}`);
  }
  return status;
}

/** Waits until the model has finished loading (ready, error or syntax only); returns the status text. */
async function modelSettled(page) {
  await serverStarted(page);
  // "running" only means the server is up: its model state has not been reported yet.
  return waitUntil(async () => {
    const s = await reasonStatus(page);
    return /ready|error|syntax only|not running|stopped/.test(s) ? s : '';
  }, 'the model to load', 150_000);
}

/** Opens `file` once the model has loaded; returns `{ skip }` when the server has no model. */
async function openWithModel(page, file, purpose) {
  await openFile(page, file);
  const status = await modelSettled(page);
  return status.includes('ready') ? undefined : { skip: `the server has no model to ${purpose} with (status bar: "${status}")` };
}

test('a syntax error shows a squiggle and a Problems entry', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
  await inBrowser('syntax error', async (page) => {
    await openFile(page, 'broken.py');
    const status = await serverStarted(page);
    await page.locator('.editor-instance .monaco-editor .squiggly-error').first().waitFor({ timeout: 60_000 });
    await page.keyboard.press('Control+Shift+M'); // View: Problems
    const row = page.locator('.markers-panel .monaco-list-row', { hasText: 'reason-lsp' }).first();
    await row.waitFor({ timeout: 15_000 });
    const text = (await row.textContent()) ?? '';
    // def broken(x:  <- the "(" on line 5 is never closed
    assert.match(text, /reason-lsp/);
    assert.match(text, /\[Ln 5, Col \d+\]/, `the Problems entry should point at line 5: ${text}`);
    console.log(`# problems entry: ${text}; status bar: ${status}`);
    await shot(page, 'syntax-error');
  });
});

test('typing in a function shows ghost text, and Tab accepts it', { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
  if (!capabilities.inlineCompletionProvider) {
    t.skip('the server does not advertise inlineCompletionProvider yet');
    return;
  }
  const outcome = await inBrowser('inline completion', async (page) => {
    const noModel = await openWithModel(page, 'complete.py', 'complete');
    if (noModel) return noModel;
    await goTo(page, 3, 8); // end of "    ret"
    await page.keyboard.type('urn ', { delay: 60 });
    const ghost = page.locator('.editor-instance .monaco-editor [class*="ghost-text"]').first();
    await ghost.waitFor({ timeout: 90_000 });
    const lines = await editorLines(page);
    const shown = lines[2];
    assert.ok(shown.startsWith('    return ') && shown.trim().length > 'return'.length, `ghost text on line 3: ${shown}`);
    await shot(page, 'inline-ghost-text');
    await page.keyboard.press('Tab');
    await waitUntil(async () => (await page.locator('.editor-instance [class*="ghost-text"]').count()) === 0, 'the ghost text to be accepted', 10_000);
    const accepted = (await editorLines(page))[2];
    assert.ok(accepted.startsWith(shown.trimEnd()), `Tab should insert the ghost text: shown ${JSON.stringify(shown)}, now ${JSON.stringify(accepted)}`);
    console.log(`# accepted: ${accepted}`);
    await shot(page, 'inline-accepted');
  });
  if (outcome?.skip) t.skip(outcome.skip);
});

test('Reason: Generate implementation inserts a body into a stub', { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
  const commands = capabilities.executeCommandProvider?.commands ?? [];
  if (!commands.includes('reasonLsp.generate')) {
    t.skip('the server does not offer the reasonLsp.generate command yet');
    return;
  }
  const outcome = await inBrowser('generate', async (page) => {
    const noModel = await openWithModel(page, 'stub.py', 'generate');
    if (noModel) return noModel;
    const before = await editorLines(page);
    await goTo(page, 1, 5); // on "multiply"
    await runCommand(page, 'Reason: Generate implementation');
    const after = await waitUntil(async () => {
      const lines = await editorLines(page);
      const docstringEnd = lines.findIndex((line, i) => i > 1 && line.trim() === '"""');
      const body = lines.slice(docstringEnd + 1).filter((line) => line.trim().length > 0);
      return body.length > 0 ? lines : undefined;
    }, 'a body after the docstring', 180_000);
    const code = (lines) => lines.filter((line) => line.trim().length > 0);
    assert.ok(code(after).length > code(before).length, `the stub should grow: ${JSON.stringify(after)}`);
    if (process.env.REASON_E2E_MODEL) {
      // The e2e model knows e2e/memo.py, whose multiply returns a * b (doctest: 3 * 4 == 12).
      assert.ok(after.some((line) => line.trim() === 'return a * b'), `the memorized body: ${JSON.stringify(after)}`);
    }
    assert.equal(after[0], before[0], 'the signature stays');
    console.log(`# generated:\n${after.join('\n')}`);
    await shot(page, 'generate');
  });
  if (outcome?.skip) t.skip(outcome.skip);
});

/** Sets a string setting through the Settings editor, as a person does. */
async function setStringSetting(page, key, title, value) {
  await page.keyboard.press('Control+Comma'); // Preferences: Open Settings (UI)
  const editor = page.locator('.settings-editor');
  await editor.waitFor({ timeout: 15_000 });
  await page.keyboard.type(key);
  const item = editor.locator('.setting-item-contents', { hasText: title }).first();
  await item.waitFor({ timeout: 15_000 });
  const input = item.locator('input').first();
  await input.fill(value);
  await input.press('Tab');
  await waitUntil(() => codeServer.readUserSettings().includes(JSON.stringify(value)), `${key} saved to settings.json`, 15_000);
  // The settings editor may open as a modal over the editors: close it.
  // A modal settings editor has its own close button; Escape would also dismiss the
  // notifications a scenario is waiting for.
  const close = page.locator('.monaco-modal-editor-block [aria-label^="Close"]').first();
  if ((await editor.isVisible()) && (await close.count()) > 0) {
    await close.click({ timeout: 5_000 }).catch(() => {});
  }
  for (let i = 0; i < 3 && (await editor.isVisible()); i++) {
    await page.keyboard.press('Escape');
    await page.waitForTimeout(300);
  }
  await editor.waitFor({ state: 'hidden', timeout: 5_000 }).catch(() => {});
}

test('a missing server is explained, and changing the interpreter restarts the server', { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
  if (canImportServer(noServerPython, process.env)) {
    t.skip('/usr/bin/python3 -I can import reason_lsp here, so it cannot stand for a Python without the server');
    return;
  }
  try {
    await inBrowser('server missing', async (page) => {
      codeServer.writeUserSettings(userSettings); // a failed first attempt may have changed it
      await openFile(page, 'broken.py');
      await serverStarted(page);
      const squiggle = page.locator('.editor-instance .monaco-editor .squiggly-error');
      await squiggle.first().waitFor({ timeout: 60_000 });

      await setStringSetting(page, 'reasonLsp.interpreter', 'Interpreter', noServerPython);
      const message = await waitUntil(
        async () => (await notifications(page)).find((m) => m.includes('language server is not installed')),
        'the "language server is not installed" notification',
        60_000,
      );
      assert.match(message, new RegExp(`${noServerPython} -m pip install reason-lsp`));
      assert.match(message, /point "reasonLsp\.interpreter" at the interpreter that has it/);
      assert.equal(await reasonStatus(page), 'Reason: not running');
      const all = await notifications(page);
      assert.ok(!all.some((m) => /couldn't create connection/.test(m)), `no generic client error: ${JSON.stringify(all)}`);
      await page.locator('.tabs-container .tab', { hasText: 'broken.py' }).click();
      assert.equal(await squiggle.count(), 0, "the stopped server's diagnostics are cleared");
      await shot(page, 'server-missing');

      await setStringSetting(page, 'reasonLsp.interpreter', 'Interpreter', python);
      await page.locator('.tabs-container .tab', { hasText: 'broken.py' }).click();
      await waitUntil(async () => !/starting|not running|stopped/.test(await reasonStatus(page)), 'the server to run again', 60_000);
      await squiggle.first().waitFor({ timeout: 60_000 });
    });
  } finally {
    codeServer.writeUserSettings(userSettings);
  }
});
