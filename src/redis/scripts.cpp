#include "sluice/redis/scripts.hpp"

#include "sluice/core/digest.hpp"

namespace sluice::redis {
namespace {

// Redis's Lua has only doubles, exact for integers below 2^53. An absolute time in nanoseconds
// needs 61 bits, so a bucket is stored as "<seconds>:<nanoseconds>" of Redis's clock and every
// computation is relative to the second of TIME: |tat - now| stays below period + max_delay,
// which the config keeps under 90 days (2^53 ns is 104). Relative `now` is TIME's microseconds.
constexpr const char* kClock = "local clock = redis.call('TIME')";
constexpr const char* kPrelude = R"lua(
local base = tonumber(clock[1])
local now = tonumber(clock[2]) * 1000
local function parse(text, key)
  local s, ns = string.match(text, '^(%d+):(%d+)$')
  if not s then error('sluice: ' .. key .. ' does not hold a sluice bucket') end
  return (tonumber(s) - base) * 1e9 + tonumber(ns)
end
-- An empty bucket reads as now, as in limit/gcra.hpp.
local function load(key)
  local text = redis.call('GET', key)
  if not text then return now end
  return math.max(parse(text, key), now)
end
local function format(t)
  local s = math.floor(t / 1e9)
  return string.format('%d:%09d', base + s, t - s * 1e9)
end
-- Kept only while not empty: it expires when it would have drained.
local function store(key, t)
  local text = format(t)
  redis.call('SET', key, text, 'PX', string.format('%d', math.ceil((t - now) / 1e6)))
  return text
end
)lua";

// One call decides a batch of requests, in order, each as if it were alone: all-or-nothing over
// its own buckets, FIFO with the requests before it. KEYS: every request's buckets, one request
// after the other. ARGV: the number of requests, then per request its number of buckets n,
// max_wait, not_before, refundable (1: the caller may give the slots back even without a wait),
// and cost and tau per bucket (nanoseconds). Returns per request {admitted, deciding, wait or
// retry_after, backlog per bucket}, and when its slots may be given back (a wait, or
// refundable), found and set per bucket; or an error reply for a request one of whose buckets
// holds something else.
constexpr const char* kDecide = R"lua(
-- The buckets as this call leaves them. A batch's requests often share buckets (a global limit,
-- a busy client): each is read once and written once per call, not once per request.
local tat_of, written = {}, {}
local function current(key)
  local t = tat_of[key]
  if not t then
    t = load(key)
    tat_of[key] = t
  end
  return t
end
local function charge(key, t)
  tat_of[key] = t
  written[key] = true
end
local function decide(first, n, a)
  local release = now + tonumber(ARGV[a + 2])
  local deciding = 0
  local tats, costs = {}, {}
  for k = 1, n do
    tats[k] = current(KEYS[first + k])
    costs[k] = tonumber(ARGV[a + 2 + 2 * k])
    local fit = tats[k] + costs[k] - tonumber(ARGV[a + 3 + 2 * k])
    if fit > release then
      release = fit
      deciding = k
    end
  end
  local max_wait = tonumber(ARGV[a + 1])
  if release - now > max_wait then
    local reply = {0, deciding, release - now - max_wait}
    for k = 1, n do reply[3 + k] = tats[k] - now end
    return reply
  end
  local reply = {1, deciding, release - now}
  -- Formatting what a refund needs costs Redis time: only for requests that can be cancelled.
  local keep = ARGV[a + 3] == '1' or release > now
  for k = 1, n do
    local set = math.max(tats[k], release) + costs[k]
    reply[3 + k] = set - now
    charge(KEYS[first + k], set)
    if keep then
      reply[3 + n + k] = format(tats[k])
      reply[3 + 2 * n + k] = format(set)
    end
  end
  return reply
end
local replies = {}
local first, a = 0, 2
for r = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a])
  -- A bucket that holds something else fails its own request only: that request read all its
  -- buckets before writing any, and the others of the batch go on.
  local ok, reply = pcall(decide, first, n, a)
  if not ok and type(reply) == 'table' then reply = reply.err end
  replies[r] = ok and reply or {err = tostring(reply)}
  first = first + n
  a = a + 4 + 2 * n
end
for key in pairs(written) do store(key, tat_of[key]) end
return replies
)lua";

// KEYS: the buckets. ARGV: found and set per key, as decide returned them. A bucket still at
// `set` had nothing charged behind it, and goes back to `found` (or now, if that is later).
constexpr const char* kRefund = R"lua(
local refunded = 0
for k = 1, #KEYS do
  if redis.call('GET', KEYS[k]) == ARGV[2 * k] then
    local back = math.max(parse(ARGV[2 * k - 1], KEYS[k]), now)
    if back > now then store(KEYS[k], back) else redis.call('DEL', KEYS[k]) end
    refunded = refunded + 1
  end
end
return refunded
)lua";

// A calendar quota's counter (thousandths of a unit), one key per period, kept until a while
// after the period ends. KEYS[1]: the counter. ARGV: cost, capacity, the period's end (Unix
// seconds). Returns {admitted, usage after the charge or as found}. The instance's UTC calendar
// names the period in the key, so two instances whose clocks straddle midnight count in two
// keys for that moment, never one key reset twice.
constexpr const char* kQuotaCharge = R"lua(
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local cost = tonumber(ARGV[1])
if used + cost > tonumber(ARGV[2]) then return {0, used} end
used = redis.call('INCRBY', KEYS[1], cost)
redis.call('EXPIREAT', KEYS[1], ARGV[3])
return {1, used}
)lua";

// Gives a charge back. KEYS[1]: the counter; ARGV[1]: the cost. Nothing once it has expired.
constexpr const char* kQuotaRefund = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local used = redis.call('DECRBY', KEYS[1], ARGV[1])
if used < 0 then redis.call('SET', KEYS[1], 0, 'KEEPTTL') end
return 1
)lua";

// Reads without writing: KEYS[1] a bucket (ARGV[1] "bucket": its backlog in ns after Redis's
// now, 0 when empty) or a quota counter ("quota": its usage in thousandths).
constexpr const char* kPeek = R"lua(
if ARGV[1] == 'quota' then return tonumber(redis.call('GET', KEYS[1]) or '0') end
return math.floor(load(KEYS[1]) - now)
)lua";

Script make_plain_script(const char* body) {
  Script s{body, {}};
  s.sha = sha1_hex(s.body);
  return s;
}

Script make_script(const std::string& clock, const char* body) {
  Script s{clock + kPrelude + body, {}};
  s.sha = sha1_hex(s.body);
  return s;
}

std::string fixed_clock(std::int64_t seconds, std::int64_t micros) {
  return "local clock = {'" + std::to_string(seconds) + "', '" + std::to_string(micros) + "'}";
}

}  // namespace

const Script& decide_script() {
  static const Script script = make_script(kClock, kDecide);
  return script;
}

const Script& refund_script() {
  static const Script script = make_script(kClock, kRefund);
  return script;
}

const Script& quota_charge_script() {
  static const Script script = make_plain_script(kQuotaCharge);
  return script;
}

const Script& quota_refund_script() {
  static const Script script = make_plain_script(kQuotaRefund);
  return script;
}

const Script& peek_script() {
  static const Script script = make_script(kClock, kPeek);
  return script;
}

Script decide_script_at(std::int64_t seconds, std::int64_t micros) {
  return make_script(fixed_clock(seconds, micros), kDecide);
}

Script refund_script_at(std::int64_t seconds, std::int64_t micros) {
  return make_script(fixed_clock(seconds, micros), kRefund);
}

std::vector<std::string> script_command(const Script& script, bool by_body,
                                        std::span<const std::string> keys,
                                        std::span<const std::string> args) {
  std::vector<std::string> command;
  command.reserve(3 + keys.size() + args.size());
  command.emplace_back(by_body ? "EVAL" : "EVALSHA");
  command.push_back(by_body ? script.body : script.sha);
  command.push_back(std::to_string(keys.size()));
  command.insert(command.end(), keys.begin(), keys.end());
  command.insert(command.end(), args.begin(), args.end());
  return command;
}

std::vector<std::string> decide_command(const Script& script, bool by_body,
                                        std::span<const DecideCall> calls) {
  std::size_t keys = 0;
  std::size_t args = 1;
  for (const DecideCall& call : calls) {
    keys += call.keys.size();
    args += call.args.size();
  }
  std::vector<std::string> command;
  command.reserve(3 + keys + args);
  command.emplace_back(by_body ? "EVAL" : "EVALSHA");
  command.push_back(by_body ? script.body : script.sha);
  command.push_back(std::to_string(keys));
  for (const DecideCall& call : calls) {
    command.insert(command.end(), call.keys.begin(), call.keys.end());
  }
  command.push_back(std::to_string(calls.size()));
  for (const DecideCall& call : calls) {
    command.insert(command.end(), call.args.begin(), call.args.end());
  }
  return command;
}

std::vector<std::string> decide_args(Nanos max_wait, Nanos not_before, bool refundable,
                                     std::span<const limit::Claim> claims) {
  std::vector<std::string> args;
  args.reserve(4 + 2 * claims.size());
  args.push_back(std::to_string(claims.size()));
  args.push_back(std::to_string(max_wait));
  args.push_back(std::to_string(not_before));
  args.emplace_back(refundable ? "1" : "0");
  for (const limit::Claim& c : claims) {
    args.push_back(std::to_string(c.cost));
    args.push_back(std::to_string(c.tau));
  }
  return args;
}

bool is_decide_batch(const Reply& reply, std::size_t requests, std::string& why) {
  if (reply.is_error()) {
    why = reply.text;
    return false;
  }
  if (reply.type != Reply::Type::array || reply.elements.size() != requests) {
    why = "unexpected reply to the decide script";
    return false;
  }
  return true;
}

std::optional<SharedVerdict> parse_verdict(const Reply& reply, std::size_t keys, std::string& why) {
  if (reply.is_error()) {
    why = reply.text;
    return std::nullopt;
  }
  const auto& e = reply.elements;
  const auto integer = [&](std::size_t i) { return e[i].type == Reply::Type::integer; };
  if (reply.type != Reply::Type::array || e.size() < 3 + keys || !integer(0) || !integer(1) ||
      !integer(2) || e[1].integer < 0 || static_cast<std::size_t>(e[1].integer) > keys) {
    why = "unexpected reply to the decide script";
    return std::nullopt;
  }
  SharedVerdict v;
  v.admitted = e[0].integer == 1;
  v.deciding = static_cast<std::size_t>(e[1].integer);
  (v.admitted ? v.wait : v.retry_after) = e[2].integer;
  const bool with_refund = v.admitted && e.size() == 3 + 3 * keys;
  if (e.size() != 3 + keys && !with_refund) {
    why = "unexpected reply to the decide script";
    return std::nullopt;
  }
  for (std::size_t k = 0; k < keys; ++k) {
    if (!integer(3 + k)) {
      why = "unexpected reply to the decide script";
      return std::nullopt;
    }
    v.backlog.push_back(e[3 + k].integer);
    if (with_refund) {
      v.found.push_back(e[3 + keys + k].text);
      v.set.push_back(e[3 + 2 * keys + k].text);
    }
  }
  return v;
}

std::vector<std::string> refund_args(const SharedVerdict& verdict) {
  std::vector<std::string> args;
  args.reserve(2 * verdict.found.size());
  for (std::size_t k = 0; k < verdict.found.size(); ++k) {
    args.push_back(verdict.found[k]);
    args.push_back(verdict.set[k]);
  }
  return args;
}

}  // namespace sluice::redis
