-- Runs an ArgoCD health check the way ArgoCD does (see argo-cd util/lua/lua.go), in a real Lua 5.1 interpreter.
-- stdin is a Lua chunk that returns { script = "...", object = { ... } }, written by test/argocd/health.test.ts.
--   lua5.1 harness.lua check  compiles the script only
--   lua5.1 harness.lua run    runs it with the global obj set to object
-- Output: "ok", then the status and the message on the next lines (the message may span lines); or "error" and
-- what went wrong. The exit code is 0 either way; a non-zero exit means the harness itself broke.
--
-- ArgoCD runs custom health checks in gopher-lua without the standard libraries, except base, table, a safe os
-- (time, date, clock) and package. Without the string library a string has no metatable, so indexing one raises
-- an error. The sandbox below gives the script exactly those globals and makes strings unindexable, so a check
-- that only works here because of Lua's full standard library fails here too.

local write, read, exit = io.write, io.read, os.exit
local mode = arg[1]

local function finish(tag, ...)
  write(tag, "\n", ...)
  exit(0)
end

local input = loadstring(read("*a"), "=input")
if input == nil then
  write("cannot load the input chunk\n")
  exit(2)
end
local case = input()

local script, err = loadstring(case.script, "=health.lua")
if script == nil then finish("error", err) end
if mode == "check" then finish("ok", "compiled", "\n", "") end
if mode ~= "run" then
  write("usage: lua5.1 harness.lua check|run < input.lua\n")
  exit(2)
end

local env = {
  obj = case.object,
  table = table,
  os = { time = os.time, date = os.date, clock = os.clock },
  package = package,
  require = require,
}
for _, name in ipairs({
  "assert", "collectgarbage", "error", "getfenv", "getmetatable", "ipairs", "load", "loadstring", "next",
  "pairs", "pcall", "print", "rawequal", "rawget", "rawset", "select", "setfenv", "setmetatable", "tonumber",
  "tostring", "type", "unpack", "xpcall", "_VERSION",
}) do
  env[name] = _G[name]
end
env._G = env
setfenv(script, env)

-- Strings lose their methods, as in gopher-lua without the string library: ("x"):len() and s.field now raise.
getmetatable("").__index = nil

local ok, hs = pcall(script)
if not ok then finish("error", tostring(hs)) end
if type(hs) ~= "table" then finish("error", "the script returned a " .. type(hs) .. ", not a table") end
if type(hs.status) ~= "string" then finish("error", "status is a " .. type(hs.status) .. ", not a string") end
if hs.message ~= nil and type(hs.message) ~= "string" then
  finish("error", "message is a " .. type(hs.message) .. ", not a string")
end
finish("ok", hs.status, "\n", hs.message or "")
