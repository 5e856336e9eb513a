--[[
  Removes an address from a suppression list.

  KEYS[1] entries  hash  address -> SuppressionEntry JSON
  KEYS[2] index    zset  addresses

  ARGV[1] address (lower-cased)

  Returns 1 when it was on the list, 0 otherwise.
]]
redis.call("ZREM", KEYS[2], ARGV[1])
return redis.call("HDEL", KEYS[1], ARGV[1])
