--[[
  Stores an API key (replacing the account's key with the same id).

  KEYS[1] api-keys     hash  key hash -> ApiKeyRecord JSON
  KEYS[2] api-keys-of  hash  key id -> key hash, for the key's account

  ARGV[1] key id
  ARGV[2] key hash
  ARGV[3] ApiKeyRecord JSON

  Returns
     1  stored
    -1  the hash already belongs to another key; nothing changed
]]
local existing = redis.call("HGET", KEYS[1], ARGV[2])
if existing and redis.call("HGET", KEYS[2], ARGV[1]) ~= ARGV[2] then
  return -1
end
local previous = redis.call("HGET", KEYS[2], ARGV[1])
if previous and previous ~= ARGV[2] then
  redis.call("HDEL", KEYS[1], previous)
end
redis.call("HSET", KEYS[2], ARGV[1], ARGV[2])
redis.call("HSET", KEYS[1], ARGV[2], ARGV[3])
return 1
