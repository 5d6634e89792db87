-- wrk script for scripts/bench: GET /s/<code> (or /<code>) for a code drawn among the seeded links
-- b0000000 .. b(N-1), N given after `--` (default 1000). The N requests are formatted once in
-- init (before wrk starts its clock), so each request costs the client one table lookup and
-- the client stays as cheap as possible. Further arguments, in any order:
--   HEAD  send HEAD requests, which resolve like GET but count no click;
--   root  ask for /<code>, the short link at the root, instead of /s/<code>;
--   ruled ask for the links r0000000 .. r(N-1) (`seed create-ruled`: five rules each, none
--         matching) instead of b…;
--   zipf  draw codes from a Zipf distribution (exponent 1: the k-th most popular link is asked
--         for 1/k as often as the first) instead of uniformly. Popularity ranks are spread over
--         the codes by a fixed permutation, so hot links do not sit next to each other in the
--         store's key order. 2^20 draws are made in init and replayed in turn.
-- Prints one machine-readable line.
--
--   wrk -s scripts/bench.d/redirect.lua http://127.0.0.1:PORT -- N [HEAD] [zipf] [root] [ruled]

local requests_by_index = {}
local n = 1000
local threads = 0
local draws = nil
local draw_count = 0
local next_draw = 0

function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end

-- 2^20 indices (1-based) drawn from Zipf(1) over 1..n, mapped through a permutation.
local function zipf_draws(count)
  local cdf = {}
  local total = 0
  for k = 1, n do
    total = total + 1 / k
    cdf[k] = total
  end
  -- A multiplier coprime with n (a prime that does not divide it) permutes 0..n-1.
  local multiplier = 999983
  if n % multiplier == 0 then multiplier = 1000003 end
  local out = {}
  for i = 1, count do
    local u = math.random() * total
    local lo, hi = 1, n
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      if cdf[mid] < u then lo = mid + 1 else hi = mid end
    end
    out[i] = ((lo - 1) * multiplier) % n + 1
  end
  return out
end

function init(args)
  n = tonumber(args[1]) or n
  local method, zipf, prefix, letter = "GET", false, "/s/", "b"
  for i = 2, #args do
    if args[i] == "zipf" then zipf = true
    elseif args[i] == "root" then prefix = "/"
    elseif args[i] == "ruled" then letter = "r"
    else method = args[i] end
  end
  -- What wrk.format("GET", path) would build, assembled directly: for a million codes that
  -- takes a second instead of four.
  local tail = " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] .. "\r\n\r\n"
  local format = string.format
  for i = 1, n do
    requests_by_index[i] = format("%s %s%s%07d", method, prefix, letter, i - 1) .. tail
  end
  -- Deterministic per thread, different between threads.
  math.randomseed(1000003 * (seed or 1))
  if zipf then
    draw_count = 1048576
    draws = zipf_draws(draw_count)
  end
end

function request()
  if draws then
    next_draw = next_draw % draw_count + 1
    return requests_by_index[draws[next_draw]]
  end
  return requests_by_index[math.random(n)]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d connect_errors=%d read_errors=%d write_errors=%d status_errors=%d timeouts=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
