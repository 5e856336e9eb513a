--[[
  Adds or extends a blocked (sender, domain) pair: the later `until` wins.

  KEYS[1] blocked  hash  "sender\ndomain" -> BlockedPair JSON

  ARGV[1] field ("sender\ndomain")
  ARGV[2] BlockedPair JSON
  ARGV[3] its until (unix ms)

  Returns 1 when stored, 0 when an existing block already lasts longer.
]]
local old = redis.call("HGET", KEYS[1], ARGV[1])
if old then
  local ok, decoded = pcall(cjson.decode, old)
  if ok and type(decoded) == "table" and tonumber(decoded["until"]) and tonumber(decoded["until"]) > tonumber(ARGV[3]) then
    return 0
  end
end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
return 1
