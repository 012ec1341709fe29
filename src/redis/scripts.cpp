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

// KEYS: the buckets. ARGV: max_wait, not_before, refundable (1: the caller may give the slots
// back even without a wait), then cost and tau per key (nanoseconds). Returns {admitted,
// deciding, wait or retry_after, backlog per key}, and when the slots may be given back (a wait,
// or refundable), found and set per key.
constexpr const char* kDecide = R"lua(
local max_wait = tonumber(ARGV[1])
local release = now + tonumber(ARGV[2])
local refundable = ARGV[3] == '1'
local deciding = 0
local tats, costs = {}, {}
for k = 1, #KEYS do
  tats[k] = load(KEYS[k])
  costs[k] = tonumber(ARGV[2 + 2 * k])
  local fit = tats[k] + costs[k] - tonumber(ARGV[3 + 2 * k])
  if fit > release then
    release = fit
    deciding = k
  end
end
local n = #KEYS
if release - now > max_wait then
  local reply = {0, deciding, release - now - max_wait}
  for k = 1, n do reply[3 + k] = tats[k] - now end
  return reply
end
local reply = {1, deciding, release - now}
-- Formatting what a refund needs costs Redis time: only for requests that can be cancelled.
local keep = refundable or release > now
for k = 1, n do
  local set = math.max(tats[k], release) + costs[k]
  reply[3 + k] = set - now
  local text = store(KEYS[k], set)
  if keep then
    reply[3 + n + k] = format(tats[k])
    reply[3 + 2 * n + k] = text
  end
end
return reply
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

std::vector<std::string> decide_args(Nanos max_wait, Nanos not_before, bool refundable,
                                     std::span<const limit::Claim> claims) {
  std::vector<std::string> args;
  args.reserve(3 + 2 * claims.size());
  args.push_back(std::to_string(max_wait));
  args.push_back(std::to_string(not_before));
  args.emplace_back(refundable ? "1" : "0");
  for (const limit::Claim& c : claims) {
    args.push_back(std::to_string(c.cost));
    args.push_back(std::to_string(c.tau));
  }
  return args;
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
