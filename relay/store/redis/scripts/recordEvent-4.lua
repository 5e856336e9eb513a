--[[
  Records one delivery attempt and/or event for a (message, recipient):
  appends the attempt, moves the recipient's status, appends the event
  (capped), and counts it in the message's stats. The first non-bot event of
  a type for a recipient is "unique"; the unique set decides it here, once,
  so the caller can add the same increments to the per-account aggregates.

  KEYS[1] record  hash  the message (see recordMessage)
  KEYS[2] stats   hash  DeliveryStats field -> count
  KEYS[3] events  list  NewEvent JSON, oldest first
  KEYS[4] unique  set   "type|recipient" of the non-bot events seen

  ARGV[1]  recipient (lower-cased)
  ARGV[2]  event type (delivered, deferred, bounced, open, click, unsubscribe, complaint)
  ARGV[3]  "1" when the event comes from a bot (prefetch, scanner)
  ARGV[4]  event JSON
  ARGV[5]  time of the event / attempt (unix ms)
  ARGV[6]  status to move the recipient to ("" for none)
  ARGV[7]  when to move it: "always", "unless-final" (not from delivered,
           bounced, suppressed), "unless-bounced"
  ARGV[8]  last answer to record with the status ("" keeps the previous one)
  ARGV[9]  attempt JSON to append ("" for none)
  ARGV[10] "1" to do nothing unless the recipient belongs to the message
  ARGV[11] cap on stored events: tracking events stop at the cap, delivery
           events at twice the cap (counts are kept either way)

  Returns
    {0}                                            unknown message (or recipient, with ARGV[10])
    {1, unique (0|1), account, group, field...}    recorded; fields are the stats incremented
]]
if redis.call("EXISTS", KEYS[1]) == 0 then
  return {0}
end
local rcpt = ARGV[1]
local isMember = redis.call("HEXISTS", KEYS[1], "st:" .. rcpt) == 1
if ARGV[10] == "1" and not isMember then
  return {0}
end

local ttl = redis.call("PTTL", KEYS[1])

if ARGV[9] ~= "" and isMember then
  local old = redis.call("HGET", KEYS[1], "att:" .. rcpt)
  local list
  if old then
    list = string.sub(old, 1, -2) .. "," .. ARGV[9] .. "]"
  else
    list = "[" .. ARGV[9] .. "]"
  end
  redis.call("HSET", KEYS[1], "att:" .. rcpt, list)
end

if ARGV[6] ~= "" and isMember then
  local current = redis.call("HGET", KEYS[1], "st:" .. rcpt)
  local move = true
  if ARGV[7] == "unless-final" then
    move = current ~= "delivered" and current ~= "bounced" and current ~= "suppressed"
  elseif ARGV[7] == "unless-bounced" then
    move = current ~= "bounced"
  end
  if move then
    redis.call("HSET", KEYS[1], "st:" .. rcpt, ARGV[6], "up:" .. rcpt, ARGV[5])
    if ARGV[8] ~= "" then
      redis.call("HSET", KEYS[1], "ans:" .. rcpt, ARGV[8])
    end
  end
end

local kind = ARGV[2]
local bot = ARGV[3] == "1"
local tracking = kind == "open" or kind == "click" or kind == "unsubscribe" or kind == "complaint"
local cap = tonumber(ARGV[11])
if not tracking then
  cap = cap * 2
end
if redis.call("LLEN", KEYS[3]) < cap then
  redis.call("RPUSH", KEYS[3], ARGV[4])
  if ttl > 0 then
    redis.call("PEXPIRE", KEYS[3], ttl)
  end
end

local unique = 0
if not bot then
  unique = redis.call("SADD", KEYS[4], kind .. "|" .. rcpt)
  if ttl > 0 then
    redis.call("PEXPIRE", KEYS[4], ttl)
  end
end

local fields = {}
if kind == "open" or kind == "click" then
  local plural = kind .. "s"
  if bot then
    fields[#fields + 1] = kind == "open" and "botOpens" or "botClicks"
  else
    fields[#fields + 1] = plural
    if unique == 1 then
      fields[#fields + 1] = kind == "open" and "uniqueOpens" or "uniqueClicks"
    end
  end
elseif unique == 1 then
  local byKind = {
    delivered = "delivered",
    deferred = "deferred",
    bounced = "bounced",
    unsubscribe = "unsubscribes",
    complaint = "complaints",
  }
  fields[#fields + 1] = byKind[kind]
end
for _, field in ipairs(fields) do
  redis.call("HINCRBY", KEYS[2], field, 1)
end

local result = {1, unique, redis.call("HGET", KEYS[1], "account"), redis.call("HGET", KEYS[1], "group")}
for _, field in ipairs(fields) do
  result[#result + 1] = field
end
return result
