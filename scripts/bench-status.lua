-- wrk script: counts responses whose status is not 200 and socket errors; prints
-- "RPS <requests per second>" and exits non-zero when anything went wrong.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  first_bad = 0
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    if first_bad == 0 then first_bad = status end
  end
end

function done(summary, latency, requests)
  local total_bad, first = 0, 0
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
    if first == 0 then first = thread:get("first_bad") end
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  local rps = summary.requests / (summary.duration / 1e6)
  io.write(string.format("non-200 responses: %d (first status %d), socket errors: %d\n", total_bad, first, socket_errors))
  io.write(string.format("latency p50 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  io.write(string.format("RPS %.1f\n", rps))
  io.write(string.format("REQUESTS %d\n", summary.requests))
  if total_bad > 0 or socket_errors > 0 or summary.requests == 0 then
    os.exit(1)
  end
end
