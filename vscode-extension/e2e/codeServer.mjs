// Starts code-server (VS Code in the browser) on 127.0.0.1 with an isolated profile, and
// drives it from Debian's chromium with playwright-core.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A code-server install driven with its own profile under `root`. */
export class CodeServer {
  constructor({ node, entry, root, extraEnv = {} }) {
    this.node = node;
    this.entry = entry;
    this.root = root;
    this.userDataDir = join(root, 'user-data');
    this.extensionsDir = join(root, 'extensions');
    this.env = {
      ...process.env,
      ...extraEnv,
      // code-server writes its config and state under these, not the real home.
      XDG_CONFIG_HOME: join(root, 'xdg-config'),
      XDG_DATA_HOME: join(root, 'xdg-data'),
      XDG_CACHE_HOME: join(root, 'xdg-cache'),
    };
    for (const dir of [this.userDataDir, this.extensionsDir, this.env.XDG_CONFIG_HOME, this.env.XDG_DATA_HOME]) {
      mkdirSync(dir, { recursive: true });
    }
    this.log = '';
  }

  profileArgs() {
    return ['--user-data-dir', this.userDataDir, '--extensions-dir', this.extensionsDir];
  }

  /** Writes the user settings.json of the isolated profile (code-server watches it). */
  writeUserSettings(settings) {
    const dir = join(this.userDataDir, 'User');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'settings.json'), JSON.stringify(settings, null, 2));
  }

  /** The user settings.json as VS Code last wrote it. */
  readUserSettings() {
    const file = join(this.userDataDir, 'User', 'settings.json');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  installExtension(vsix) {
    const result = spawnSync(this.node, [this.entry, ...this.profileArgs(), '--install-extension', vsix, '--force'], {
      env: this.env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (result.status !== 0) {
      throw new Error(`installing ${vsix} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
    }
    return result.stdout;
  }

  async start() {
    this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    this.process = spawn(
      this.node,
      [
        this.entry,
        ...this.profileArgs(),
        '--bind-addr', `127.0.0.1:${this.port}`,
        '--auth', 'none',
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
        '--ignore-last-opened',
        // Extension hosts of closed pages (and their language servers) go away quickly.
        '--reconnection-grace-time', '2',
      ],
      { env: this.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    const append = (data) => (this.log = (this.log + data).slice(-20_000));
    this.process.stdout.on('data', append);
    this.process.stderr.on('data', append);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (this.process.exitCode !== null) {
        throw new Error(`code-server exited (${this.process.exitCode}):\n${this.log}`);
      }
      try {
        const response = await fetch(`${this.url}/healthz`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`code-server did not answer on ${this.url} within 60 s:\n${this.log}`);
  }

  async stop() {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const closed = new Promise((resolve) => child.once('close', resolve));
    try {
      process.kill(-child.pid, 'SIGTERM'); // its process group: the server, extension hosts, language servers
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 5000);
    await closed;
    clearTimeout(timer);
  }
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
