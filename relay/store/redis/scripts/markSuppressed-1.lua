--[[
  Marks one recipient of a logged message suppressed (not sent).

  KEYS[1] record  hash  the message (see recordMessage)

  ARGV[1] recipient (lower-cased)
  ARGV[2] reason
  ARGV[3] now (unix ms)

  Returns 1 when marked, 0 for an unknown message or recipient.
]]
if redis.call("HEXISTS", KEYS[1], "st:" .. ARGV[1]) == 0 then
  return 0
end
redis.call("HSET", KEYS[1], "st:" .. ARGV[1], "suppressed", "up:" .. ARGV[1], ARGV[3], "ans:" .. ARGV[1], ARGV[2])
return 1
