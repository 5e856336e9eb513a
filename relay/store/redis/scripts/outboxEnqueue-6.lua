--[[
  Adds webhook deliveries of one account to the outbox, then trims the
  account to its cap, oldest first.

  KEYS[1] due      zset  id -> due time (or lease end)
  KEYS[2] entries  hash  id -> delivery JSON
  KEYS[3] hook     hash  id -> "ACCOUNT\nWEBHOOK"
  KEYS[4] state    hash  id -> "ATTEMPTS|CLAIM"
  KEYS[5] seq      counter of enqueueing order
  KEYS[6] of       zset  this account's ids -> enqueueing order

  ARGV[1] maxPerAccount
  ARGV[2] "ACCOUNT\n" (the hook field's prefix)
  then per delivery: id, webhook id, due time, JSON

  Returns {added, dropped}. An id already present is left as it is.
]]
local max = tonumber(ARGV[1])
local added = 0
for i = 3, #ARGV, 4 do
  local id = ARGV[i]
  if redis.call("HSETNX", KEYS[2], id, ARGV[i + 3]) == 1 then
    redis.call("HSET", KEYS[3], id, ARGV[2] .. ARGV[i + 1])
    redis.call("HSET", KEYS[4], id, "0|")
    redis.call("ZADD", KEYS[1], ARGV[i + 2], id)
    redis.call("ZADD", KEYS[6], redis.call("INCR", KEYS[5]), id)
    added = added + 1
  end
end
local over = redis.call("ZCARD", KEYS[6]) - max
local dropped = 0
if over > 0 then
  for _, id in ipairs(redis.call("ZRANGE", KEYS[6], 0, over - 1)) do
    redis.call("ZREM", KEYS[1], id)
    redis.call("HDEL", KEYS[2], id)
    redis.call("HDEL", KEYS[3], id)
    redis.call("HDEL", KEYS[4], id)
    dropped = dropped + 1
  end
  redis.call("ZREMRANGEBYRANK", KEYS[6], 0, over - 1)
end
return {added, dropped}
