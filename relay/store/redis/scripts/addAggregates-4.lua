--[[
  Adds increments to an account's group hourly stats and daily report
  buckets. Called after recordMessage or recordEvent decided, atomically on
  the message's own slot, which increments apply; this step only adds them.

  KEYS[1] group hour  hash  DeliveryStats field -> count, one group and UTC hour
  KEYS[2] group hours zset  hour indexes that have a bucket (score = hour)
  KEYS[3] report day  hash  "dimension|key|metric" -> count, one UTC day
  KEYS[4] report days zset  day indexes that have a bucket (score = day)

  ARGV[1]  hour index (hours since the epoch)
  ARGV[2]  day index (days since the epoch)
  ARGV[3]  time to live (ms) of the hour bucket
  ARGV[4]  time to live (ms) of the day bucket
  ARGV[5]  time to live (ms) of the two indexes after this write
  ARGV[6]  retention in hours: index entries older than hour - this are dropped
  ARGV[7]  retention in days: likewise for the day index
  ARGV[8]  n: how many group (field, increment) pairs follow
  ARGV[9 .. 8+2n]   group stats fields and their increments, in pairs
  ARGV[9+2n ..]     report fields and their increments, in pairs

  Returns 1.
]]
local hour = tonumber(ARGV[1])
local day = tonumber(ARGV[2])
local n = tonumber(ARGV[8])
local reportStart = 9 + 2 * n
if n > 0 then
  for i = 9, reportStart - 1, 2 do
    redis.call("HINCRBY", KEYS[1], ARGV[i], ARGV[i + 1])
  end
  redis.call("PEXPIRE", KEYS[1], ARGV[3])
  redis.call("ZADD", KEYS[2], hour, hour)
  redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", "(" .. (hour - tonumber(ARGV[6])))
  redis.call("PEXPIRE", KEYS[2], ARGV[5])
end
if #ARGV > reportStart then
  for i = reportStart, #ARGV, 2 do
    redis.call("HINCRBY", KEYS[3], ARGV[i], ARGV[i + 1])
  end
  redis.call("PEXPIRE", KEYS[3], ARGV[4])
  redis.call("ZADD", KEYS[4], day, day)
  redis.call("ZREMRANGEBYSCORE", KEYS[4], "-inf", "(" .. (day - tonumber(ARGV[7])))
  redis.call("PEXPIRE", KEYS[4], ARGV[5])
end
return 1
