import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseStatus, statusView } from '../src/status';

test('while the server starts the item says starting; once up without a model state, running', () => {
  assert.equal(statusView('starting').text, '$(sync~spin) Reason: starting');
  assert.equal(statusView('starting', { state: 'ready', device: 'cpu' }).text, '$(sync~spin) Reason: starting');
  assert.equal(statusView('running', undefined).text, '$(pass) Reason: running');
  assert.equal(statusView('stopped').text, '$(circle-slash) Reason: stopped');
});

test('loading, ready on a device, error and syntax-only', () => {
  assert.equal(statusView('running', { state: 'loading', model: 'embedded' }).text, '$(sync~spin) Reason: loading model');
  const ready = statusView('running', { state: 'ready', device: 'cuda', model: 'embedded' });
  assert.equal(ready.text, '$(check) Reason: ready on cuda');
  assert.match(ready.tooltip, /Model: embedded/);
  assert.equal(ready.severity, 'normal');
  assert.equal(statusView('running', { state: 'ready' }).text, '$(check) Reason: ready');
  const error = statusView('running', { state: 'error', message: 'weights not found' });
  assert.equal(error.text, '$(error) Reason: error');
  assert.match(error.tooltip, /weights not found/);
  assert.equal(error.severity, 'error');
  const syntax = statusView('running', { state: 'syntax-only' });
  assert.equal(syntax.text, '$(warning) Reason: syntax only');
  assert.equal(syntax.severity, 'warning');
});

test('a failed start shows not running with the reason in the tooltip', () => {
  const view = statusView('failed', undefined, 'Reason: the language server is not installed');
  assert.equal(view.text, '$(error) Reason: not running');
  assert.match(view.tooltip, /not installed/);
  assert.equal(view.severity, 'error');
});

test('parseStatus accepts the documented shape and rejects others', () => {
  assert.deepEqual(parseStatus({ state: 'ready', device: 'cpu', model: 'm', extra: 1 }), { state: 'ready', device: 'cpu', model: 'm' });
  assert.deepEqual(parseStatus({ state: 'loading', device: '' }), { state: 'loading' });
  assert.equal(parseStatus({ state: 'sleeping' }), undefined);
  assert.equal(parseStatus(null), undefined);
  assert.equal(parseStatus('ready'), undefined);
  assert.deepEqual(parseStatus({ state: 'error', message: 42 }), { state: 'error' });
});
