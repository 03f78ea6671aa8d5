-- POST /auth/introspect (RFC 7662) with HTTP Basic, cycling through a token file.
-- args: token-file nthreads basic-credentials(base64)
dofile("common.lua")
local tokens, n, next_index, authorization

function init(args)
  tokens = my_lines(args[1], tonumber(args[2]))
  authorization = "Basic " .. args[3]
  n, next_index = #tokens, 1
end

function request()
  local token = tokens[next_index]
  next_index = next_index % n + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded",
                                  ["Authorization"] = authorization}, "token=" .. token)
end
