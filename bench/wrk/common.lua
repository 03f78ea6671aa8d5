-- Shared by every bench script: thread ids, a line reader, and one JSON result line at the end.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

-- The lines of `path` that belong to this thread (round robin over `nthreads`); every line when
-- there are fewer lines than threads (one shared token).
function my_lines(path, nthreads)
  local mine, all, i = {}, {}, 0
  for line in io.lines(path) do
    if line ~= "" then
      table.insert(all, line)
      if i % nthreads == (id - 1) then table.insert(mine, line) end
      i = i + 1
    end
  end
  if #mine == 0 then return all end
  return mine
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %.1f, "p99_us": %.1f, ' ..
    '"status_errors": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
