--[[
  Deletes one API key of an account.

  KEYS[1] api-keys     hash  key hash -> ApiKeyRecord JSON
  KEYS[2] api-keys-of  hash  key id -> key hash, for the account

  ARGV[1] key id

  Returns 1 when the key existed, 0 otherwise.
]]
local hash = redis.call("HGET", KEYS[2], ARGV[1])
if not hash then
  return 0
end
redis.call("HDEL", KEYS[1], hash)
redis.call("HDEL", KEYS[2], ARGV[1])
return 1
