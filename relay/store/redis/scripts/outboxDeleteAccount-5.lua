--[[
  Removes every outbox delivery of one account (deleteAccount).

  KEYS[1] due  KEYS[2] entries  KEYS[3] hook  KEYS[4] state  KEYS[5] the account's ids

  Returns how many were removed.
]]
local ids = redis.call("ZRANGE", KEYS[5], 0, -1)
for _, id in ipairs(ids) do
  redis.call("ZREM", KEYS[1], id)
  redis.call("HDEL", KEYS[2], id)
  redis.call("HDEL", KEYS[3], id)
  redis.call("HDEL", KEYS[4], id)
end
redis.call("DEL", KEYS[5])
return #ids
