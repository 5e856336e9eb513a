--[[
  Removes a claimed delivery (answered, or given up), if the claim still holds it.

  KEYS[1] due  KEYS[2] entries  KEYS[3] hook  KEYS[4] state  KEYS[5] the account's ids

  ARGV[1] id   ARGV[2] claim

  Returns 1 when removed, 0 when the claim no longer holds it (or it is gone).
]]
local state = redis.call("HGET", KEYS[4], ARGV[1])
if not state then
  return 0
end
local bar = string.find(state, "|", 1, true)
if not bar or string.sub(state, bar + 1) ~= ARGV[2] then
  return 0
end
redis.call("ZREM", KEYS[1], ARGV[1])
redis.call("HDEL", KEYS[2], ARGV[1])
redis.call("HDEL", KEYS[3], ARGV[1])
redis.call("HDEL", KEYS[4], ARGV[1])
redis.call("ZREM", KEYS[5], ARGV[1])
return 1
