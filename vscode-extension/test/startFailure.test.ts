import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diagnoseStartFailure, stderrTail } from '../src/startFailure';

test('a missing interpreter says so and how to fix it', () => {
  const d = diagnoseStartFailure({ spawnError: { code: 'ENOENT' }, interpreter: '/nope/python' });
  assert.equal(d.kind, 'interpreter-missing');
  assert.match(d.message, /"\/nope\/python"/);
  assert.match(d.message, /reasonLsp\.interpreter/);
  assert.match(d.message, /pip install reason-lsp/);
});

test('python -m reason_lsp without the package: install hint naming the interpreter', () => {
  for (const stderr of [
    '/usr/bin/python3: No module named reason_lsp\n',
    "Traceback (most recent call last):\nModuleNotFoundError: No module named 'reason_lsp'\n",
  ]) {
    const d = diagnoseStartFailure({ exitCode: 1, stderr, interpreter: '/usr/bin/python3' });
    assert.equal(d.kind, 'server-missing', stderr);
    assert.match(d.message, /\/usr\/bin\/python3 -m pip install reason-lsp/);
    assert.match(d.message, /point "reasonLsp\.interpreter" at the interpreter that has it/);
  }
});

test("a dependency the server imports is named", () => {
  const stderr = 'Traceback (most recent call last):\n  File "x.py", line 1\nModuleNotFoundError: No module named \'pygls\'\n';
  const d = diagnoseStartFailure({ exitCode: 1, stderr, interpreter: 'python3' });
  assert.equal(d.kind, 'dependency-missing');
  assert.match(d.message, /"pygls"/);
});

test('any other failure reports the exit code and the last stderr line', () => {
  const stderr = 'Traceback (most recent call last):\n  ...\nRuntimeError: CUDA out of memory\n\n';
  const d = diagnoseStartFailure({ exitCode: 3, stderr, interpreter: 'python3' });
  assert.equal(d.kind, 'crashed');
  assert.match(d.message, /exit code 3/);
  assert.match(d.message, /RuntimeError: CUDA out of memory/);
  assert.match(d.message, /Show output/);
  // A missing submodule of the server is a broken install, not a missing server.
  const broken = diagnoseStartFailure({ exitCode: 1, stderr: 'No module named reason_lsp.__main__', interpreter: 'python3' });
  assert.equal(broken.kind, 'crashed');
});

test('no stderr and no exit code still gives a sentence', () => {
  const d = diagnoseStartFailure({ interpreter: 'python3' });
  assert.equal(d.message, 'Reason: the language server failed to start. See "Reason: Show output" for details.');
});

test('stderrTail keeps the last non-empty lines', () => {
  assert.equal(stderrTail('a\n\nb\r\nc\n\n', 2), 'b\nc');
  assert.equal(stderrTail(undefined), '');
});
