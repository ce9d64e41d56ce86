import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  buildServerSettings,
  classifyChange,
  Debouncer,
  didChangeConfigurationParams,
  EXTENSION_KEYS,
  initializationOptions,
  RESTART_KEYS,
  SERVER_KEYS,
} from '../src/settings';

/** The `reasonLsp.*` properties the manifest contributes, with their defaults. */
const manifest = JSON.parse(readFileSync('package.json', 'utf8'));
const properties: Record<string, { default: unknown }> = manifest.contributes.configuration.properties;
const defaults = (key: string) => properties[`reasonLsp.${key}`]?.default;

test('every server and extension setting is contributed in package.json, and nothing else', () => {
  const contributed = Object.keys(properties).map((k) => k.replace(/^reasonLsp\./, '')).sort();
  assert.deepEqual(contributed, [...SERVER_KEYS, ...EXTENSION_KEYS].sort());
});

test('defaults in package.json match the server schema', () => {
  assert.deepEqual(buildServerSettings(defaults), {
    model: 'embedded',
    device: 'auto',
    dtype: 'auto',
    quantize: false,
    backend: 'local',
    openai: { url: '', model: '', apiKeyEnv: '', fim: 'auto', redact: true, timeout: 30 },
    contextTokens: 1024,
    maxNewTokens: 64,
    maxModelChars: 1000000,
    completion: { enable: true, inline: true, minConfidence: -1, candidates: 1, contextShare: 0.25 },
    workspace: { enable: true, snippets: true, maxFiles: 10000, maxFileKb: 256 },
    diagnostics: { syntax: true, model: true, threshold: 0 },
    sandbox: { enable: true, require: false, timeout: 10, memoryMb: 512 },
    generation: { samples: 8, temperature: 0.8 },
    verifyCompletions: false,
  });
});

test('dotted keys nest, and user values come through', () => {
  const values: Record<string, unknown> = {
    model: '/models/tiny',
    'openai.url': 'http://127.0.0.1:8000/v1',
    'openai.model': 'coder',
    'diagnostics.threshold': 0.05,
    'sandbox.memoryMb': 256,
  };
  const got = buildServerSettings((key) => values[key]);
  assert.deepEqual(got, {
    model: '/models/tiny',
    openai: { url: 'http://127.0.0.1:8000/v1', model: 'coder' },
    diagnostics: { threshold: 0.05 },
    sandbox: { memoryMb: 256 },
  });
});

test('settings without a value are left to the server default', () => {
  const got = buildServerSettings((key) => (key === 'diagnostics.threshold' ? null : key === 'diagnostics.model' ? false : undefined));
  assert.deepEqual(got, { diagnostics: { model: false } });
});

test('extension-only settings are never sent to the server', () => {
  const got = initializationOptions((key) => (key === 'interpreter' || key === 'trace.server' ? 'x' : defaults(key)));
  assert.ok(!('interpreter' in got.reasonLsp));
  assert.ok(!('trace' in got.reasonLsp));
});

test('initializationOptions and didChangeConfiguration wrap the settings in reasonLsp', () => {
  const get = (key: string) => (key === 'maxNewTokens' ? 32 : undefined);
  assert.deepEqual(initializationOptions(get), { reasonLsp: { maxNewTokens: 32 } });
  assert.deepEqual(didChangeConfigurationParams(get), { settings: { reasonLsp: { maxNewTokens: 32 } } });
});

/** affectsConfiguration as VS Code answers it for a change of `changed` (a full key). */
function affects(...changed: string[]) {
  return (section: string) => changed.some((key) => key === section || key.startsWith(`${section}.`));
}

test('model, device, dtype, quantize, backend, openai and interpreter changes restart the server', () => {
  for (const key of ['model', 'device', 'dtype', 'quantize', 'backend', 'openai.url', 'openai.model', 'interpreter']) {
    assert.equal(classifyChange(affects(`reasonLsp.${key}`)), 'restart', key);
  }
  assert.deepEqual([...RESTART_KEYS].sort(), ['backend', 'device', 'dtype', 'interpreter', 'model', 'openai.model', 'openai.url', 'quantize']);
});

test('other server settings are sent on change without a restart', () => {
  for (const key of ['completion.inline', 'diagnostics.threshold', 'sandbox.enable', 'maxNewTokens', 'verifyCompletions']) {
    assert.equal(classifyChange(affects(`reasonLsp.${key}`)), 'notify', key);
  }
});

test('a restart wins over a notification when both change together', () => {
  assert.equal(classifyChange(affects('reasonLsp.completion.inline', 'reasonLsp.device')), 'restart');
});

test('trace and other extensions settings need nothing', () => {
  assert.equal(classifyChange(affects('reasonLsp.trace.server')), 'none');
  assert.equal(classifyChange(affects('python.defaultInterpreterPath')), 'none');
});

test('Debouncer runs once after a burst', async () => {
  let runs = 0;
  const debouncer = new Debouncer(30, () => runs++);
  debouncer.trigger();
  debouncer.trigger();
  debouncer.trigger();
  assert.equal(debouncer.pending, true);
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(runs, 1);
  assert.equal(debouncer.pending, false);
  debouncer.trigger();
  debouncer.cancel();
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(runs, 1);
});
