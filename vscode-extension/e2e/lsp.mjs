// Asks the server what it offers: initialize over stdio, read the capabilities, shut down.
// The e2e test uses it to decide which editor scenarios the server can support yet.
import { spawn } from 'node:child_process';

function frame(message) {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
}

/** Resolves with the server's InitializeResult; rejects with its stderr if it fails. */
export function serverCapabilities({ command, args, cwd, env, timeoutMs = 60_000 }) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let buffer = Buffer.alloc(0);
    let stderr = '';
    let done = false;
    const finish = (error, result) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (error) {
        child.kill();
        reject(error);
        return;
      }
      child.stdin.write(frame({ jsonrpc: '2.0', id: 2, method: 'shutdown' }));
      child.stdin.write(frame({ jsonrpc: '2.0', method: 'exit' }));
      const killer = setTimeout(() => child.kill(), 5000);
      child.once('close', () => clearTimeout(killer));
      resolve(result);
    };
    const timer = setTimeout(() => finish(new Error(`no initialize response in ${timeoutMs} ms\n${stderr}`)), timeoutMs);
    child.on('error', (error) => finish(error));
    child.on('close', (code) => finish(new Error(`server exited (code ${code}) before answering initialize\n${stderr}`)));
    child.stderr.on('data', (data) => (stderr += data));
    child.stdout.on('data', (data) => {
      buffer = Buffer.concat([buffer, data]);
      for (;;) {
        const headerEnd = buffer.indexOf('\r\n\r\n');
        if (headerEnd < 0) return;
        const match = /Content-Length: (\d+)/i.exec(buffer.subarray(0, headerEnd).toString('ascii'));
        if (!match) return finish(new Error('bad LSP header from server'));
        const length = Number(match[1]);
        if (buffer.length < headerEnd + 4 + length) return;
        const message = JSON.parse(buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString('utf8'));
        buffer = buffer.subarray(headerEnd + 4 + length);
        if (message.id === 1) {
          if (message.error) return finish(new Error(`initialize failed: ${message.error.message}`));
          return finish(undefined, message.result);
        }
        if (message.id !== undefined && message.method) {
          // A request from the server (e.g. window/workDoneProgress/create): answer it.
          child.stdin.write(frame({ jsonrpc: '2.0', id: message.id, result: null }));
        }
      }
    });
    child.stdin.write(
      frame({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { processId: process.pid, rootUri: null, capabilities: {}, initializationOptions: { reasonLsp: {} } },
      }),
    );
  });
}
