#include "sluice/limit/snapshot.hpp"

#include <cstring>

namespace sluice::limit {
namespace {

constexpr char kMagic[8] = {'S', 'L', 'U', 'I', 'C', 'E', 'B', 'K'};
// magic, version, reserved, hash key, saved_unix_ns, count
constexpr std::size_t kHeaderBytes = 8 + 4 + 4 + 16 + 8 + 8;
constexpr std::size_t kBucketBytes = 16;
constexpr std::size_t kQuotaCountBytes = 8;  // format 2: the quota counters after the buckets
constexpr std::size_t kQuotaBytes = 24;
constexpr std::size_t kChecksumBytes = 8;

// FNV-1a: the checksum guards against truncation and bit rot, not against forgery (the file is
// the operator's own, written 0600).
std::uint64_t checksum(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

template <typename T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

template <typename T>
T get(std::string_view bytes, std::size_t& at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof(T));
  at += sizeof(T);
  return value;
}

}  // namespace

Snapshot capture(const BucketTable& table, const KeyedHash& hash, Instant now,
                 const QuotaTable* quotas) {
  Snapshot s{.hash_key = hash.key(), .saved_unix_ns = now.unix_ns, .buckets = {}, .quotas = {}};
  table.for_each_live(now.steady, [&](BucketId id, Nanos tat) {
    s.buckets.push_back({id, tat - now.steady});
  });
  if (quotas != nullptr) {
    quotas->for_each_live(now.unix_ns, [&](BucketId id, std::int64_t end, std::int64_t used) {
      s.quotas.push_back({id, end, used});
    });
  }
  return s;
}

std::size_t restore_quotas(const Snapshot& snapshot, QuotaTable& quotas, Instant now) {
  std::size_t restored = 0;
  for (const Snapshot::QuotaCounter& q : snapshot.quotas) {
    if (q.end_unix_ns <= now.unix_ns) continue;  // its period ended while sluice was stopped
    quotas.restore(q.id, q.end_unix_ns, q.used);
    ++restored;
  }
  return restored;
}

std::string encode(const Snapshot& snapshot) {
  std::string out;
  out.reserve(kHeaderBytes + snapshot.buckets.size() * kBucketBytes + kChecksumBytes);
  out.append(kMagic, sizeof kMagic);
  put<std::uint32_t>(out, Snapshot::kVersion);
  put<std::uint32_t>(out, 0);
  put<std::uint64_t>(out, snapshot.hash_key[0]);
  put<std::uint64_t>(out, snapshot.hash_key[1]);
  put<std::int64_t>(out, snapshot.saved_unix_ns);
  put<std::uint64_t>(out, snapshot.buckets.size());
  for (const Snapshot::Bucket& b : snapshot.buckets) {
    put<std::uint64_t>(out, b.id);
    put<std::int64_t>(out, b.backlog);
  }
  put<std::uint64_t>(out, snapshot.quotas.size());
  for (const Snapshot::QuotaCounter& q : snapshot.quotas) {
    put<std::uint64_t>(out, q.id);
    put<std::int64_t>(out, q.end_unix_ns);
    put<std::int64_t>(out, q.used);
  }
  put<std::uint64_t>(out, checksum(out));
  return out;
}

DecodedSnapshot decode(std::string_view bytes) {
  if (bytes.size() < kHeaderBytes + kChecksumBytes ||
      std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return {std::nullopt, "not a sluice state file"};
  }
  std::size_t at = sizeof kMagic;
  const auto version = get<std::uint32_t>(bytes, at);
  if (version != Snapshot::kVersion && version != 1) {
    return {std::nullopt, "state file format " + std::to_string(version) + ", this sluice reads " +
                              std::to_string(Snapshot::kVersion)};
  }
  at += 4;  // reserved
  Snapshot s;
  s.hash_key[0] = get<std::uint64_t>(bytes, at);
  s.hash_key[1] = get<std::uint64_t>(bytes, at);
  s.saved_unix_ns = get<std::int64_t>(bytes, at);
  const auto count = get<std::uint64_t>(bytes, at);
  const std::size_t body = bytes.size() - kHeaderBytes - kChecksumBytes;
  const std::size_t trailer = version == 1 ? 0 : kQuotaCountBytes;
  if (count > body / kBucketBytes || body < count * kBucketBytes + trailer) {
    return {std::nullopt, "truncated: " + std::to_string(bytes.size()) + " bytes for " +
                              std::to_string(count) + " buckets"};
  }
  std::uint64_t quota_count = 0;
  if (version != 1) {
    std::size_t quota_at = kHeaderBytes + count * kBucketBytes;
    quota_count = get<std::uint64_t>(bytes, quota_at);
    const std::size_t rest = body - count * kBucketBytes - kQuotaCountBytes;
    if (quota_count > rest / kQuotaBytes || rest != quota_count * kQuotaBytes) {
      return {std::nullopt, "truncated: " + std::to_string(bytes.size()) + " bytes for " +
                                std::to_string(count) + " buckets and " +
                                std::to_string(quota_count) + " quota counters"};
    }
  } else if (body != count * kBucketBytes) {
    return {std::nullopt, "truncated: " + std::to_string(bytes.size()) + " bytes for " +
                              std::to_string(count) + " buckets"};
  }
  std::size_t sum_at = bytes.size() - kChecksumBytes;
  if (get<std::uint64_t>(bytes, sum_at) != checksum(bytes.substr(0, bytes.size() - 8))) {
    return {std::nullopt, "checksum mismatch: the file is corrupt"};
  }
  s.buckets.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    const auto id = get<std::uint64_t>(bytes, at);
    const auto backlog = get<std::int64_t>(bytes, at);
    if (id == 0 || backlog <= 0) return {std::nullopt, "invalid bucket entry"};
    s.buckets.push_back({id, backlog});
  }
  if (version != 1) at += kQuotaCountBytes;
  s.quotas.reserve(quota_count);
  for (std::uint64_t i = 0; i < quota_count; ++i) {
    const auto id = get<std::uint64_t>(bytes, at);
    const auto end = get<std::int64_t>(bytes, at);
    const auto used = get<std::int64_t>(bytes, at);
    if (id == 0 || used <= 0) return {std::nullopt, "invalid quota entry"};
    s.quotas.push_back({id, end, used});
  }
  return {std::move(s), {}};
}

RestoreCounts restore(const Snapshot& snapshot, BucketTable& table, Instant now,
                      Nanos max_backlog) {
  // A clock set back since the save counts as no time stopped: the buckets stay as full as they
  // were, never fuller.
  const Nanos stopped = std::max<std::int64_t>(0, now.unix_ns - snapshot.saved_unix_ns);
  RestoreCounts counts;
  for (const Snapshot::Bucket& b : snapshot.buckets) {
    if (b.backlog <= stopped) {
      ++counts.drained;
      continue;
    }
    Nanos left = b.backlog - stopped;
    if (left > max_backlog) {
      left = max_backlog;  // also keeps now + left from overflowing
      ++counts.clamped;
    }
    if (left <= 0) {
      ++counts.drained;
      continue;
    }
    table.restore(b.id, now.steady + left, now.steady);
    ++counts.restored;
  }
  return counts;
}

}  // namespace sluice::limit
