-- wrk script for scripts/bench-server (see bench_server.py). One mode per run, chosen by the
-- first argument after `--`; the second is a file of prepared requests, one a line:
--
--   post  FILE   lines "H1:V1\tH2:V2…\t<body>": each request is sent once, in order; after the
--                last one the file starts again (a repeated webhook is then a 409, counted as
--                non-2xx, so the caller makes the file longer than a run can send).
--   seed  FILE MARK  the same, but once every line was answered the thread stops and writes
--                the file MARK (wrk itself runs its duration: the caller then stops it, SIGINT).
--   get   FILE   lines of paths, picked at random for each request.
--
-- Each thread counts its 2xx answers and, for webhooks, the `stored` figure in them; `done`
-- prints them as "LUA <name>=<n>" lines for the caller.

local mode, file, mark
local reqs = {}
local n = 0
ok = 0
bad = 0
stored = 0
answered = 0

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  mode, file, mark = args[1], args[2], args[3]
  for line in io.lines(file) do
    if mode == "get" then
      reqs[#reqs + 1] = line
    else
      -- wrk.format's headers replace wrk.headers (the -H ones): copy those in.
      local headers = {}
      for k, v in pairs(wrk.headers) do
        headers[k] = v
      end
      local body
      for field in (line .. "\t"):gmatch("([^\t]*)\t") do
        local k, v = field:match("^([%w-]+):(.*)$")
        if k and body == nil then
          headers[k] = v
        else
          body = field
        end
      end
      reqs[#reqs + 1] = wrk.format("POST", nil, headers, body)
    end
  end
  math.randomseed(os.time() + #reqs)
end

local first = true
function request()
  -- wrk calls request() once after init and drops what it returns (it checks the request's
  -- shape): that call gets a /healthz, and no line is lost.
  if first then
    first = false
    return wrk.format("GET", "/healthz")
  end
  if mode == "get" then
    return wrk.format("GET", reqs[math.random(#reqs)])
  end
  n = n + 1
  if n > #reqs then
    if mode == "seed" then
      return wrk.format("GET", "/healthz")
    end
    n = 1
  end
  return reqs[n]
end

function response(status, headers, body)
  if (mode == "seed" and status == 200) or (mode == "post" and status == 200 and not body:find('"stored"')) then
    return -- a /healthz
  end
  answered = answered + 1
  if status >= 200 and status < 300 then
    ok = ok + 1
    if mode == "post" then
      local s = body:match('"stored":(%d+)')
      if s then stored = stored + tonumber(s) end
    end
  else
    bad = bad + 1
  end
  if mode == "seed" and answered == #reqs then
    local f = io.open(mark, "w")
    f:write("done\n")
    f:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local t = { ok = 0, bad = 0, stored = 0 }
  for _, thread in ipairs(threads) do
    for k in pairs(t) do
      t[k] = t[k] + thread:get(k)
    end
  end
  for k, v in pairs(t) do
    io.write(string.format("LUA %s=%d\n", k, v))
  end
end
