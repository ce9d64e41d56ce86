import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseInterpreter, describeInterpreter, expandPath, serverCommandLine } from '../src/interpreter';

test('the reasonLsp.interpreter setting wins over the Python extension', () => {
  const got = chooseInterpreter({ configured: '/opt/venv/bin/python', pythonExtension: ['/usr/bin/python3.12'] });
  assert.deepEqual(got, { command: '/opt/venv/bin/python', args: [], source: 'setting' });
});

test("the Python extension's interpreter is used when the setting is empty or blank", () => {
  for (const configured of [undefined, '', '   ']) {
    const got = chooseInterpreter({ configured, pythonExtension: ['/home/u/.venv/bin/python'] });
    assert.deepEqual(got, { command: '/home/u/.venv/bin/python', args: [], source: 'python-extension' });
  }
});

test("a multi-part exec command from the Python extension keeps its arguments", () => {
  const got = chooseInterpreter({ pythonExtension: ['conda', 'run', '-n', 'reason', 'python'] });
  assert.deepEqual(got, { command: 'conda', args: ['run', '-n', 'reason', 'python'], source: 'python-extension' });
  assert.deepEqual(serverCommandLine(got), {
    command: 'conda',
    args: ['run', '-n', 'reason', 'python', '-m', 'reason_lsp', '--stdio'],
  });
});

test('python3 without setting or Python extension', () => {
  assert.deepEqual(chooseInterpreter({}), { command: 'python3', args: [], source: 'default' });
  assert.deepEqual(chooseInterpreter({ pythonExtension: [] }), { command: 'python3', args: [], source: 'default' });
  assert.deepEqual(chooseInterpreter({ pythonExtension: [''] }), { command: 'python3', args: [], source: 'default' });
});

test('~, ${workspaceFolder} and workspace-relative paths expand; bare names stay for PATH lookup', () => {
  assert.equal(expandPath('~/venv/bin/python', '/ws', '/home/u'), '/home/u/venv/bin/python');
  assert.equal(expandPath('${workspaceFolder}/.venv/bin/python', '/ws', '/home/u'), '/ws/.venv/bin/python');
  assert.equal(expandPath('.venv/bin/python', '/ws', '/home/u'), '/ws/.venv/bin/python');
  assert.equal(expandPath('python3.12', '/ws', '/home/u'), 'python3.12');
  assert.equal(expandPath(' /abs/python ', undefined, undefined), '/abs/python');
  const got = chooseInterpreter({ configured: '${workspaceFolder}/.venv/bin/python', workspaceFolder: '/ws' });
  assert.equal(got.command, '/ws/.venv/bin/python');
});

test('the server runs as python -m reason_lsp --stdio', () => {
  assert.deepEqual(serverCommandLine({ command: '/v/bin/python', args: [], source: 'setting' }), {
    command: '/v/bin/python',
    args: ['-m', 'reason_lsp', '--stdio'],
  });
});

test('describeInterpreter says where the interpreter came from', () => {
  assert.match(describeInterpreter({ command: 'python3', args: [], source: 'default' }), /python3 \(default; set reasonLsp\.interpreter/);
  assert.match(describeInterpreter({ command: '/v/python', args: [], source: 'setting' }), /from reasonLsp\.interpreter/);
});
