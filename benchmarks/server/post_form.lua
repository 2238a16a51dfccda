-- wrk: POST a form, each request with an address of its own (thread number and counter), the CSRF
-- cookie and its token. Arguments: the path, the url-encoded body with EMAIL where the address
-- goes, the Cookie header, the address's prefix. Prints the figures as one JSON line at the end.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("number", #threads)
end

function init(args)
  path, template, cookie, prefix = args[1], args[2], args[3], args[4]
  counter = 0
  headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = cookie,
  }
end

function request()
  counter = counter + 1
  local email = prefix .. number .. "-" .. counter .. "%40example.invalid"
  local body = template:gsub("EMAIL", function() return email end)
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
