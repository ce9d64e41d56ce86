-- Headless Neovim drives reason-lsp like a user would: start it with vim.lsp.start,
-- wait for the syntax error's diagnostic, fix the error, wait for it to clear.
-- Results go to $REASON_LSP_OUT as JSON. Waits are vim.wait on a condition.
local out = vim.env.REASON_LSP_OUT
local cmd = vim.json.decode(vim.env.REASON_LSP_CMD)
local timeout = tonumber(vim.env.REASON_LSP_TIMEOUT or "30000")
local buf = vim.api.nvim_get_current_buf()
local result = { steps = {} }

local function snapshot()
  local list = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(list, {
      lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col,
      message = d.message, source = d.source, severity = d.severity,
    })
  end
  return list
end

local ok, err = pcall(function()
  local id = vim.lsp.start({ name = "reason-lsp", cmd = cmd, root_dir = vim.fn.getcwd() }, { bufnr = buf })
  result.client_id = id
  local attached = vim.wait(timeout, function()
    local c = vim.lsp.get_client_by_id(id)
    return c ~= nil and c.initialized == true
  end, 10)
  local client = vim.lsp.get_client_by_id(id)
  result.encoding = client and client.offset_encoding
  result.attached = attached

  local seen = vim.wait(timeout, function() return #vim.diagnostic.get(buf) > 0 end, 10)
  table.insert(result.steps, { name = "open", ok = seen, diagnostics = snapshot() })

  -- Fix it the way a user would: type the missing ")" at the end of line 2.
  local line = vim.api.nvim_buf_get_lines(buf, 1, 2, false)[1]
  vim.api.nvim_buf_set_text(buf, 1, #line, 1, #line, { ")" })
  local cleared = vim.wait(timeout, function() return #vim.diagnostic.get(buf) == 0 end, 10)
  table.insert(result.steps, { name = "fix", ok = cleared, diagnostics = snapshot() })

  vim.lsp.stop_client(id)
  vim.wait(5000, function() return vim.lsp.get_client_by_id(id) == nil end, 10)
end)
result.ok = ok
result.error = err and tostring(err) or nil
vim.fn.writefile({ vim.json.encode(result) }, out)
vim.cmd("qall!")
