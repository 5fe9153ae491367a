-- wrk script for `hotline bench load --driver wrk`: cycles through the JSON
-- bodies in $BENCH_BODIES (one per line; none = GET) with $BENCH_AUTH, and
-- prints one JSON line of figures when done (latencies in microseconds).
local bodies, idx = {}, 0
local path = os.getenv("BENCH_BODIES")
if path and path ~= "" then
  for line in io.lines(path) do bodies[#bodies + 1] = line end
end
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
-- wrk.format replaces (not merges) wrk.headers when given headers: set them here.
if #bodies > 0 then wrk.headers["Content-Type"] = "application/json" end

function setup(thread)
  thread:set("offset", math.random(1, math.max(#bodies, 1)))
end

function request()
  if #bodies == 0 then return wrk.format("GET") end
  idx = idx + 1
  local body = bodies[(idx + (offset or 0)) % #bodies + 1]
  return wrk.format("POST", nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
