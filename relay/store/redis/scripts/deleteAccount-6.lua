--[[
  Deletes an account with its usernames and API keys.

  KEYS[1] records       hash  account name -> account JSON
  KEYS[2] created       hash  account name -> createdAt
  KEYS[3] usernames     hash  username -> account name
  KEYS[4] usernames-of  set   this account's usernames
  KEYS[5] api-keys      hash  key hash -> ApiKeyRecord JSON
  KEYS[6] api-keys-of   hash  key id -> key hash, this account's keys

  ARGV[1] account name

  Returns 1 when the account existed, 0 otherwise (its usernames and keys are
  removed either way).
]]
local name = ARGV[1]
for _, username in ipairs(redis.call("SMEMBERS", KEYS[4])) do
  if redis.call("HGET", KEYS[3], username) == name then
    redis.call("HDEL", KEYS[3], username)
  end
end
for _, hash in ipairs(redis.call("HVALS", KEYS[6])) do
  redis.call("HDEL", KEYS[5], hash)
end
redis.call("DEL", KEYS[4], KEYS[6])
redis.call("HDEL", KEYS[2], name)
return redis.call("HDEL", KEYS[1], name)
