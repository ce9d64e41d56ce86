import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { documentSelector, LANGUAGES } from '../src/languages';

test('the extension activates on every language it sends to the server', () => {
  const manifest = JSON.parse(readFileSync('package.json', 'utf8'));
  assert.deepEqual(manifest.activationEvents, LANGUAGES.map((l) => `onLanguage:${l}`));
});

test('the server language ids mirror reason_lsp/text/languages.py', () => {
  const source = readFileSync('../reason_lsp/text/languages.py', 'utf8');
  const block = source.slice(source.indexOf('LANGUAGE_IDS'), source.indexOf('}', source.indexOf('LANGUAGE_IDS')));
  const ids = [...block.matchAll(/^\s*"([a-z]+)":/gm)].map((m) => m[1]);
  assert.deepEqual([...LANGUAGES].sort(), ids.sort());
});

test('files and untitled buffers are both selected', () => {
  const selector = documentSelector();
  assert.equal(selector.length, LANGUAGES.length * 2);
  assert.deepEqual(selector.slice(0, 2), [
    { scheme: 'file', language: 'python' },
    { scheme: 'untitled', language: 'python' },
  ]);
});
