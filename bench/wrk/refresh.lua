-- POST /auth/refresh as a chain: every refresh token is presented once; the successor from the
-- answer goes to the back of this thread's queue. Seed with more tokens than connections per
-- thread. args: refresh-token-file nthreads
dofile("common.lua")
local queue, head, tail = {}, 1, 0

function init(args)
  for _, token in ipairs(my_lines(args[1], tonumber(args[2]))) do
    tail = tail + 1
    queue[tail] = token
  end
end

function request()
  local token = "exhausted"  -- a 401, counted as a non-2xx answer
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  end
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    local successor = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if successor then
      tail = tail + 1
      queue[tail] = successor
    end
  end
end
