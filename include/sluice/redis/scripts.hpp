#pragma once
// The Lua side of shared buckets (README, "Shared limits across instances"): the GCRA of
// limit/gcra.hpp run atomically inside Redis on Redis's own clock, so the instances' clocks never
// meet. Pure: builds commands, reads replies; the connection that carries them is elsewhere.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sluice/core/clock.hpp"
#include "sluice/limit/gcra.hpp"
#include "sluice/redis/reply.hpp"

namespace sluice::redis {

struct Script {
  std::string body;
  std::string sha;  // SHA-1 of body, for EVALSHA
};

// Decides a batch of requests, each against all its shared buckets at once (all-or-nothing,
// FIFO), in the order given: one call and one TIME for all.
const Script& decide_script();
// Gives back a cancelled reservation's slots where nothing was charged behind it.
const Script& refund_script();
// A calendar quota: charges a counter if it stays within its capacity; gives a charge back.
const Script& quota_charge_script();
const Script& quota_refund_script();
// Reads one bucket's backlog or one quota's usage, charging nothing (a usage route's answer).
const Script& peek_script();
// The same scripts on a fixed clock instead of TIME, so tests can drive them through a real
// Redis at exact boundaries (TIME's resolution is a microsecond).
Script decide_script_at(std::int64_t seconds, std::int64_t micros);
Script refund_script_at(std::int64_t seconds, std::int64_t micros);

// Redis does not know the script (restarted empty, or SCRIPT FLUSH): send its body.
inline bool is_noscript(const Reply& reply) {
  return reply.is_error() && reply.text.starts_with("NOSCRIPT");
}

// EVALSHA of `script` (or EVAL with its body, after a NOSCRIPT).
std::vector<std::string> script_command(const Script& script, bool by_body,
                                        std::span<const std::string> keys,
                                        std::span<const std::string> args);

// One request of a decide call: its buckets' keys and its decide_args.
struct DecideCall {
  std::span<const std::string> keys;
  std::span<const std::string> args;
};
// EVALSHA (or EVAL) of the decide script for `calls`, decided in that order.
std::vector<std::string> decide_command(const Script& script, bool by_body,
                                        std::span<const DecideCall> calls);

// One request's decide arguments: the longest acceptable wait, the earliest release the caller's
// local limits allow (both from Redis's now), whether the caller may give the slots back even when
// they need no wait (found and set are returned for a wait anyway), and each bucket's claim.
std::vector<std::string> decide_args(Nanos max_wait, Nanos not_before, bool refundable,
                                     std::span<const limit::Claim> claims);

// What decide answered.
struct SharedVerdict {
  bool admitted = false;
  std::size_t deciding = 0;  // 0: the caller's not_before; k >= 1: keys[k - 1]
  Nanos wait = 0;            // admitted: until the slot
  Nanos retry_after = 0;     // rejected: how much later the request would pass
  // Per key: the bucket's backlog (tat - now) after the charge, or as found when rejected.
  std::vector<Nanos> backlog;
  // Admitted with a wait (or refundable), per key: the bucket before and after, as stored, for
  // refund_args. Empty otherwise: such a request is never given back.
  std::vector<std::string> found;
  std::vector<std::string> set;
};

// Whether `reply` is what decide answers for `requests` requests (else `why`): then each of its
// elements is one request's reply, for parse_verdict.
bool is_decide_batch(const Reply& reply, std::size_t requests, std::string& why);

// One request's verdict, or nullopt with `why` when the reply is not one decide gives.
std::optional<SharedVerdict> parse_verdict(const Reply& reply, std::size_t keys, std::string& why);

// refund's arguments: per key, what decide found and set.
std::vector<std::string> refund_args(const SharedVerdict& verdict);

}  // namespace sluice::redis
