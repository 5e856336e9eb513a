--[[
  Creates or replaces an account and claims its SMTP usernames, all or nothing.

  KEYS[1] records       hash  account name -> account JSON (without createdAt)
  KEYS[2] created       hash  account name -> createdAt (set once, kept on replace)
  KEYS[3] usernames     hash  username -> account name
  KEYS[4] usernames-of  set   the usernames this account owns

  ARGV[1]    account name
  ARGV[2]    account JSON without createdAt
  ARGV[3]    createdAt to record when the account is new
  ARGV[4..]  the account's usernames

  Returns
    {1}            created
    {2}            replaced
    {-1, username} that username belongs to another account; nothing changed
]]
local name = ARGV[1]
for i = 4, #ARGV do
  local owner = redis.call("HGET", KEYS[3], ARGV[i])
  if owner and owner ~= name then
    return {-1, ARGV[i]}
  end
end

local existed = redis.call("HEXISTS", KEYS[1], name)

for _, old in ipairs(redis.call("SMEMBERS", KEYS[4])) do
  if redis.call("HGET", KEYS[3], old) == name then
    redis.call("HDEL", KEYS[3], old)
  end
end
redis.call("DEL", KEYS[4])
for i = 4, #ARGV do
  redis.call("HSET", KEYS[3], ARGV[i], name)
  redis.call("SADD", KEYS[4], ARGV[i])
end

redis.call("HSET", KEYS[1], name, ARGV[2])
redis.call("HSETNX", KEYS[2], name, ARGV[3])
if existed == 1 then
  return {2}
end
return {1}
