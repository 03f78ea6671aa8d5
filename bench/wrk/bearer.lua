-- GET with "Authorization: Bearer <token>", cycling through this thread's share of a token file.
-- Each request is built once at start: building it per request (a ~1 KB string for every distinct
-- token) cost wrk about 20 us of the machine's CPU per request, CPU the bare floor's static
-- request does not spend. args: token-file nthreads
dofile("common.lua")
local requests, n, next_index

function init(args)
  requests = {}
  for _, token in ipairs(my_lines(args[1], tonumber(args[2]))) do
    table.insert(requests, wrk.format("GET", nil, {["Authorization"] = "Bearer " .. token}))
  end
  n, next_index = #requests, 1
end

function request()
  local r = requests[next_index]
  next_index = next_index % n + 1
  return r
end
