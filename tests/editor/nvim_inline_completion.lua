-- Headless Neovim 0.12 uses reason-lsp's inline completions like a user would:
-- vim.lsp.inline_completion.enable(), wait for the model, type a character in a
-- function body, wait for the ghost text (extmarks in the nvim.lsp.inline_completion
-- namespace), accept it with the documented <Tab> mapping, check the buffer line.
--
-- Keystrokes fed with nvim_feedkeys take effect only once this script has returned
-- to the main loop, so every step after the start is a condition polled by a
-- vim.defer_fn timer, under one overall deadline. The outcome goes to
-- $REASON_LSP_OUT as JSON; the pytest side reads it.
--
-- Environment: REASON_LSP_OUT (result file), REASON_LSP_CMD (JSON server command),
-- REASON_LSP_MODEL (model folder), REASON_LSP_LINE (1-based line of the cursor; the
-- cursor goes to its end), REASON_LSP_TYPE (what to type there),
-- REASON_LSP_TIMEOUT (overall deadline, ms).
local out = vim.env.REASON_LSP_OUT
local cmd = vim.json.decode(vim.env.REASON_LSP_CMD)
local model = vim.env.REASON_LSP_MODEL
local line_nr = tonumber(vim.env.REASON_LSP_LINE)
local typed = vim.env.REASON_LSP_TYPE or ' '
local deadline = vim.uv.now() + tonumber(vim.env.REASON_LSP_TIMEOUT or '60000')
local POLL_MS = 20

local buf = vim.api.nvim_get_current_buf()
local ns = vim.api.nvim_create_namespace('nvim.lsp.inline_completion')
local result = { version = tostring(vim.version()), steps = {}, statuses = {} }
local client_id
local finished = false

local function step(name, data)
  data = data or {}
  data.name = name
  data.ms = vim.uv.now()
  table.insert(result.steps, data)
end

local function ghost_text()
  local texts = {}
  for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(buf, ns, 0, -1, { details = true })) do
    local parts = {}
    for _, chunk in ipairs(mark[4].virt_text or {}) do
      table.insert(parts, chunk[1])
    end
    table.insert(texts, { row = mark[2], col = mark[3], text = table.concat(parts) })
  end
  return texts
end

local function finish(ok, err)
  if finished then
    return
  end
  finished = true
  result.ok = ok
  result.error = err
  result.line = vim.api.nvim_buf_get_lines(buf, line_nr - 1, line_nr, false)[1]
  result.mode = vim.api.nvim_get_mode().mode
  local client = client_id and vim.lsp.get_client_by_id(client_id)
  if client then -- the server's own counters help explain a failure
    local resp = client:request_sync('reasonLsp/stats', vim.NIL, 2000, buf)
    result.stats = resp and resp.result or (resp and resp.err) or 'no answer'
  end
  vim.fn.writefile({ vim.json.encode(result) }, out)
  vim.cmd('stopinsert')
  if client then
    client:stop()
    vim.wait(3000, function()
      return vim.lsp.get_client_by_id(client_id) == nil
    end, 10)
  end
  vim.cmd('qall!')
end

--- Poll `cond` every POLL_MS until it returns a truthy value, then call `next` with it;
--- past the overall deadline, fail saying what was awaited.
local function wait_for(what, cond, next)
  local function tick()
    if finished then
      return
    end
    local ok, value = pcall(cond)
    if not ok then
      return finish(false, ('error while waiting for %s: %s'):format(what, value))
    end
    if value then
      local ok2, err = pcall(next, value)
      if not ok2 then
        finish(false, ('error after %s: %s'):format(what, err))
      end
    elseif vim.uv.now() > deadline then
      finish(false, 'timed out waiting for ' .. what)
    else
      vim.defer_fn(tick, POLL_MS)
    end
  end
  tick()
end

local function accept_and_check(ghost)
  step('ghost text', { ghost = ghost })
  result.ghost = ghost[1].text
  -- The accept mapping from `:help vim.lsp.inline_completion.get()`.
  vim.keymap.set('i', '<Tab>', function()
    if not vim.lsp.inline_completion.get() then
      return '<Tab>'
    end
  end, { expr = true, buffer = buf })
  vim.api.nvim_feedkeys(vim.keycode('<Tab>'), 'm', false)
  local before = vim.api.nvim_buf_get_lines(buf, line_nr - 1, line_nr, false)[1]
  wait_for('the accepted completion in the buffer', function()
    local now = vim.api.nvim_buf_get_lines(buf, line_nr - 1, line_nr, false)[1]
    return now ~= before and now
  end, function(line)
    step('accepted', { line = line, cursor = vim.api.nvim_win_get_cursor(0) })
    finish(true)
  end)
end

local function type_in_body()
  step('ready')
  local text = vim.api.nvim_buf_get_lines(buf, line_nr - 1, line_nr, false)[1]
  vim.api.nvim_win_set_cursor(0, { line_nr, math.max(0, #text - 1) })
  -- "A" appends at the end of the line in insert mode, then the user types.
  vim.api.nvim_feedkeys('A' .. typed, 'n', false)
  wait_for('ghost text (extmarks in nvim.lsp.inline_completion)', function()
    if vim.api.nvim_get_mode().mode ~= 'i' then
      return false
    end
    local ghost = ghost_text()
    return #ghost > 0 and ghost[1].text ~= '' and ghost
  end, accept_and_check)
end

local ok, err = pcall(function()
  vim.lsp.inline_completion.enable()
  client_id = vim.lsp.start({
    name = 'reason-lsp',
    cmd = cmd,
    root_dir = vim.fn.getcwd(),
    init_options = { reasonLsp = { model = model } },
    handlers = {
      ['reasonLsp/status'] = function(_, params)
        table.insert(result.statuses, params)
      end,
    },
  }, { bufnr = buf })
  result.client_id = client_id
  step('started')
end)
if not ok then
  finish(false, 'could not start the client: ' .. tostring(err))
  return
end

wait_for('the model to load (reasonLsp/status ready)', function()
  local last = result.statuses[#result.statuses]
  if last and last.state == 'error' then
    error('the model failed to load: ' .. tostring(last.message))
  end
  local client = vim.lsp.get_client_by_id(client_id)
  if client == nil then
    error('the server exited')
  end
  return client.initialized and last and last.state == 'ready'
end, type_in_body)
