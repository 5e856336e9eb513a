--[[
  Releases a claimed delivery to be claimed again from a due time, if the claim still holds it.

  KEYS[1] due  KEYS[2] state

  ARGV[1] id   ARGV[2] claim   ARGV[3] due time

  Returns 1 when released, 0 when the claim no longer holds it (or it is gone).
]]
local state = redis.call("HGET", KEYS[2], ARGV[1])
if not state then
  return 0
end
local bar = string.find(state, "|", 1, true)
if not bar or string.sub(state, bar + 1) ~= ARGV[2] then
  return 0
end
redis.call("HSET", KEYS[2], ARGV[1], string.sub(state, 1, bar - 1) .. "|")
redis.call("ZADD", KEYS[1], ARGV[3], ARGV[1])
return 1
