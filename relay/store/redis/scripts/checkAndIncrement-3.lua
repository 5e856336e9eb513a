--[[
  Counts messages against an account's hour, day and month windows unless a
  non-zero limit would be passed and overage is not allowed. Check and
  increment in one script, so concurrent callers can never overshoot.

  KEYS[1] the hour window counter
  KEYS[2] the day window counter
  KEYS[3] the month window counter

  ARGV[1]    count to add (>= 0)
  ARGV[2..4] limits per hour, day, month (0: no limit)
  ARGV[5]    "1" when overage is allowed
  ARGV[6..8] time to live (ms) of the hour, day and month counters: what is
             left of each window plus a grace (relative, so the caller's clock
             can be behind Redis's without expiring a live counter)

  Returns {allowed (0|1), overage (0|1), exceeded (0 none, 1 hour, 2 day, 3 month),
           hour count, day count, month count} (counts after the call)
]]
local count = tonumber(ARGV[1])
local counts = {}
local exceeded = 0
for i = 1, 3 do
  counts[i] = tonumber(redis.call("GET", KEYS[i]) or "0")
  local limit = tonumber(ARGV[1 + i])
  if exceeded == 0 and limit > 0 and counts[i] + count > limit then
    exceeded = i
  end
end

if exceeded > 0 and ARGV[5] ~= "1" then
  return {0, 0, exceeded, counts[1], counts[2], counts[3]}
end

if count > 0 then
  for i = 1, 3 do
    counts[i] = redis.call("INCRBY", KEYS[i], count)
    redis.call("PEXPIRE", KEYS[i], ARGV[5 + i])
  end
end
local overage = 0
if exceeded > 0 then
  overage = 1
end
return {1, overage, exceeded, counts[1], counts[2], counts[3]}
