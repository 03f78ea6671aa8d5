-- POST /auth/login as the seeded users in turn. args: email-file nthreads password
dofile("common.lua")
local emails, n, next_index, password

function init(args)
  emails = my_lines(args[1], tonumber(args[2]))
  password = args[3]
  n, next_index = #emails, 1
end

function request()
  local email = emails[next_index]
  next_index = next_index % n + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
                    '{"email":"' .. email .. '","password":"' .. password .. '"}')
end
