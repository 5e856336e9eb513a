--[[
  Claims due webhook deliveries, oldest due first, at most PER_WEBHOOK per
  webhook (counting the claimer's busy ones); a due delivery passed over
  because its webhook is full is due again SKIP_DELAY later, so a busy
  webhook's backlog cannot hide the others' from the next claim. The same
  choice as chooseClaims in relay/store/outbox-input.ts.

  KEYS[1] due      zset  id -> due time (or lease end)
  KEYS[2] entries  hash  id -> delivery JSON
  KEYS[3] hook     hash  id -> "ACCOUNT\nWEBHOOK"
  KEYS[4] state    hash  id -> "ATTEMPTS|CLAIM"

  ARGV[1] now   ARGV[2] lease end   ARGV[3] owner   ARGV[4] limit
  ARGV[5] per webhook   ARGV[6] scan limit   ARGV[7] skip-until time
  then pairs: "ACCOUNT\nWEBHOOK", count in flight

  Returns a list of {JSON, attempts, claim, reclaimed (1 or 0)}.
]]
local limit = tonumber(ARGV[4])
local perHook = tonumber(ARGV[5])
local busy = {}
for i = 8, #ARGV, 2 do
  busy[ARGV[i]] = tonumber(ARGV[i + 1])
end
local out = {}
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, tonumber(ARGV[6]))
for _, id in ipairs(ids) do
  if #out >= limit then
    break
  end
  local json = redis.call("HGET", KEYS[2], id)
  local hook = redis.call("HGET", KEYS[3], id)
  if not json or not hook then
    -- Half of an entry (an operator's redis-cli, say): nothing to send.
    redis.call("ZREM", KEYS[1], id)
  else
    local count = busy[hook] or 0
    if count >= perHook then
      redis.call("ZADD", KEYS[1], ARGV[7], id)
    else
      busy[hook] = count + 1
      local state = redis.call("HGET", KEYS[4], id) or "0|"
      local bar = string.find(state, "|", 1, true) or (#state + 1)
      local attempts = (tonumber(string.sub(state, 1, bar - 1)) or 0) + 1
      local previous = string.sub(state, bar + 1)
      local claim = ARGV[3] .. "/" .. attempts
      redis.call("HSET", KEYS[4], id, attempts .. "|" .. claim)
      redis.call("ZADD", KEYS[1], ARGV[2], id)
      out[#out + 1] = {json, attempts, claim, previous ~= "" and 1 or 0}
    end
  end
end
return out
