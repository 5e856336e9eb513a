--[[
  Fixed-window counter: adds 1 and sets the window's expiry on first use.

  KEYS[1] the counter for one key and window

  ARGV[1] time to live (ms): what is left of the window plus a grace second,
          relative so that a caller's clock never expires a live counter

  Returns the count in the window after the call.
]]
local count = redis.call("INCR", KEYS[1])
if count == 1 then
  redis.call("PEXPIRE", KEYS[1], ARGV[1])
end
return count
