--[[
  Records an error found after acceptance, keeping the account's newest
  entries only.

  KEYS[1] errors  zset  "seq|json" scored by at
  KEYS[2] seq     string counter that orders entries with equal times

  ARGV[1] at (unix ms)
  ARGV[2] AccountErrorRecord JSON
  ARGV[3] how many entries to keep
  ARGV[4] time to live (ms) of the list after its last write

  Returns the number of entries kept.
]]
local seq = redis.call("INCR", KEYS[2])
redis.call("ZADD", KEYS[1], ARGV[1], string.format("%016d", seq) .. "|" .. ARGV[2])
redis.call("ZREMRANGEBYRANK", KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
redis.call("PEXPIRE", KEYS[1], ARGV[4])
redis.call("PEXPIRE", KEYS[2], ARGV[4])
return redis.call("ZCARD", KEYS[1])
