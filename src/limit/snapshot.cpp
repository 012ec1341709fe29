#include "sluice/limit/snapshot.hpp"

#include <cstring>

namespace sluice::limit {
namespace {

constexpr char kMagic[8] = {'S', 'L', 'U', 'I', 'C', 'E', 'B', 'K'};
// magic, version, reserved, hash key, saved_unix_ns, count
constexpr std::size_t kHeaderBytes = 8 + 4 + 4 + 16 + 8 + 8;
constexpr std::size_t kBucketBytes = 16;
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

Snapshot capture(const BucketTable& table, const KeyedHash& hash, Instant now) {
  Snapshot s{.hash_key = hash.key(), .saved_unix_ns = now.unix_ns, .buckets = {}};
  table.for_each_live(now.steady, [&](BucketId id, Nanos tat) {
    s.buckets.push_back({id, tat - now.steady});
  });
  return s;
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
  if (version != Snapshot::kVersion) {
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
  if (count > body / kBucketBytes || body != count * kBucketBytes) {
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
