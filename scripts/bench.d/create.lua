-- wrk script for scripts/bench: POST /shorten with a new alias and a new long URL on every
-- request. The alias is `c<TAG>t<thread>x<counter>`, TAG given after `--`, so repeated runs
-- against one server never collide (a collision would show as a 409 in status_errors).
-- Prints one machine-readable line.
--
--   wrk -s scripts/bench.d/create.lua http://127.0.0.1:PORT -- TAG

local tag = "0"
local counter = 0
local i = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  tag = args[1] or tag
end

local headers = { ["Content-Type"] = "application/json" }

function request()
  i = i + 1
  local alias = string.format("c%st%dx%d", tag, id or 0, i)
  local body = string.format(
    '{"long_url":"https://example.com/some/path/%s","alias":"%s"}', alias, alias)
  return wrk.format("POST", "/shorten", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d connect_errors=%d read_errors=%d write_errors=%d status_errors=%d timeouts=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
