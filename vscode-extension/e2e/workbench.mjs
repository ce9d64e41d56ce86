// Small helpers that act on VS Code's workbench the way a person does: keyboard and what is on screen.

/** Opens the workspace folder in a new page and waits for the workbench. */
export async function openWorkbench(browser, url, folder) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${url}/?folder=${encodeURIComponent(folder)}`);
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  await page.locator('.statusbar').waitFor({ timeout: 60_000 });
  return page;
}

/** Quick Open (Ctrl+P) a file by name and wait for its editor tab. */
export async function openFile(page, name) {
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ timeout: 15_000 });
  await input.fill(name);
  // Wait for the file to show up in the results before accepting.
  await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor({ timeout: 15_000 });
  await page.keyboard.press('Enter');
  await page.locator('.tabs-container .tab.active', { hasText: name }).waitFor({ timeout: 15_000 });
  await page.locator('.editor-instance .monaco-editor .view-lines').first().waitFor({ timeout: 15_000 });
}

/** Runs a command from the command palette (F1) by its title. */
export async function runCommand(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ timeout: 15_000 });
  await input.fill(`>${title}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor({ timeout: 15_000 });
  await page.keyboard.press('Enter');
}

/** Puts the cursor at line:column (1-based) with Go to Line (Ctrl+G). */
export async function goTo(page, line, column) {
  await page.keyboard.press('Control+G');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ timeout: 15_000 });
  await input.fill(`:${line}:${column}`);
  await page.keyboard.press('Enter');
}

/** The active editor's visible lines, in screen order, as text (ghost text included while shown). */
export async function editorLines(page) {
  return page.evaluate(() => {
    const editor = document.querySelector('.editor-instance .monaco-editor');
    const lines = [...(editor?.querySelectorAll('.view-lines .view-line') ?? [])];
    return lines
      .map((el) => ({ top: parseFloat(el.style.top || '0'), text: (el.textContent ?? '').replace(/\u00a0/g, ' ') }))
      .sort((a, b) => a.top - b.top)
      .map((l) => l.text);
  });
}

/** Waits until `predicate()` returns a truthy value (polling), or throws with `what`. */
export async function waitUntil(predicate, what, timeoutMs = 60_000, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await predicate();
    if (last) return last;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Text of the Reason status bar item. */
export async function reasonStatus(page) {
  const item = page.locator('.statusbar-item', { hasText: 'Reason:' }).first();
  return (await item.count()) > 0 ? ((await item.textContent()) ?? '').trim() : '';
}

/** Messages of the notification toasts on screen. */
export async function notifications(page) {
  return page.locator('.notifications-toasts .notification-list-item-message').allTextContents();
}
