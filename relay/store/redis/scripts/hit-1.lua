--[[
  Fixed-window counter: adds 1 and sets the window's expiry on first use.

  KEYS[1] the counter for one key and window

  ARGV[1] expiry (unix ms): the end of the window plus a grace second

  Returns the count in the window after the call.
]]
local count = redis.call("INCR", KEYS[1])
if count == 1 then
  redis.call("PEXPIREAT", KEYS[1], ARGV[1])
end
return count
