--[[
  Adds or refreshes a suppression entry (the latest reason and time win).

  KEYS[1] entries  hash  address -> SuppressionEntry JSON
  KEYS[2] index    zset  addresses, all scored 0, for lexicographic paging

  ARGV[1] address (lower-cased)
  ARGV[2] SuppressionEntry JSON

  Returns 1 when the address was new to the list, 0 when refreshed.
]]
redis.call("ZADD", KEYS[2], 0, ARGV[1])
return redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
