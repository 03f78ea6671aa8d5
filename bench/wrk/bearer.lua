-- GET with "Authorization: Bearer <token>", cycling through this thread's share of a token file.
-- args: token-file nthreads
dofile("common.lua")
local tokens, n, next_index

function init(args)
  tokens = my_lines(args[1], tonumber(args[2]))
  n, next_index = #tokens, 1
end

function request()
  local token = tokens[next_index]
  next_index = next_index % n + 1
  return wrk.format("GET", nil, {["Authorization"] = "Bearer " .. token})
end
