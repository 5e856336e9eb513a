--[[
  Logs an accepted message with every recipient queued, and counts its
  recipients in the message's stats. Idempotent by message id.

  KEYS[1] record  hash  the message: "meta" (JSON), "account", "group",
                        "rcpts" (JSON array), and per recipient ADDR:
                        "st:ADDR" status, "up:ADDR" updatedAt,
                        "ans:ADDR" last answer, "att:ADDR" attempts (JSON array)
  KEYS[2] stats   hash  DeliveryStats field -> count

  ARGV[1]    meta JSON
  ARGV[2]    account name
  ARGV[3]    group name ("" for none)
  ARGV[4]    recipients JSON array
  ARGV[5]    acceptedAt (unix ms)
  ARGV[6]    time to live (ms): the retention safety net
  ARGV[7..]  recipient addresses, lower-cased, distinct

  Returns 1 when logged, 0 when a message with this id was already logged.
]]
if redis.call("EXISTS", KEYS[1]) == 1 then
  return 0
end
redis.call("HSET", KEYS[1], "meta", ARGV[1], "account", ARGV[2], "group", ARGV[3], "rcpts", ARGV[4])
for i = 7, #ARGV do
  redis.call("HSET", KEYS[1], "st:" .. ARGV[i], "queued", "up:" .. ARGV[i], ARGV[5])
end
redis.call("HSET", KEYS[2], "recipients", #ARGV - 6)
redis.call("PEXPIRE", KEYS[1], ARGV[6])
redis.call("PEXPIRE", KEYS[2], ARGV[6])
return 1
