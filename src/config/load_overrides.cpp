// Overrides (README, "Tiers and overrides"): on a route's limit or an item of its `limits:`, a
// list of key values (inline, or a keys_file) that get another limit, no limit, or a 403.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "config/loader.hpp"
#include "config/text_parsers.hpp"
#include "sluice/limit/overrides.hpp"

namespace sluice::config {
namespace {

using limit::KeyKind;
using limit::Override;
using limit::Overrides;

// Why `entry` cannot be an override's key value, or empty: then it is added to `matcher`.
std::string add_entry(std::string_view entry, KeyKind kind, std::uint32_t index,
                      limit::OverrideMatcher& matcher) {
  constexpr std::string_view kDigest = "sha256:";
  if (entry.empty()) return "an empty key value matches nothing";
  if (entry.starts_with(kDigest)) {
    const std::string_view hex = entry.substr(kDigest.size());
    if (hex.size() != 64 || !std::all_of(hex.begin(), hex.end(),
                                         [](unsigned char c) { return std::isxdigit(c) != 0; })) {
      return "a sha256: value is the 64 hex digits of the key's SHA-256";
    }
    matcher.add_digest(hex, index);
    return {};
  }
  if (entry.ends_with('*')) {
    if (entry.size() == 1) return "\"*\" alone would match every key: drop the override's keys";
    matcher.add_prefix(entry.substr(0, entry.size() - 1), index);
    return {};
  }
  if (kind == KeyKind::client_ip) {
    if (const auto cidr = Cidr::parse(entry)) {
      matcher.add_cidr(*cidr, index);
      return {};
    }
    return "is not an address or CIDR block, as a client_ip key needs";
  }
  if (entry.find('/') != std::string_view::npos && Cidr::parse(entry)) {
    return "CIDR blocks are for client_ip keys";
  }
  matcher.add_exact(entry, index);
  return {};
}

}  // namespace

void Loader::load_overrides(const Node& node, const std::string& path, const Node& route,
                            limit::LimitPolicy& base) {
  if (!node.is_sequence() || node.size() == 0) {
    error(node, path, "must be a list of overrides, each with keys or keys_file");
    return;
  }
  if (base.key.parts.size() != 1 || base.key.parts[0].kind == KeyKind::global) {
    error(node, path,
          base.key.parts.size() != 1
              ? "overrides need a key of one part (a list key has several)"
              : "a global key has one value for every request: nothing to override");
    return;
  }
  auto overrides = std::make_shared<Overrides>();
  overrides->part = base.key.parts[0];
  std::set<std::string> names;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const Node& item = node[i];
    const std::string ipath = index_path(path, i);
    if (!map_or_error(item, ipath)) continue;
    check_keys(item, ipath,
               {"name", "keys", "keys_file", "max_rate", "time_period", "weight", "action",
                "max_delay", "dry_run", "quota", "unlimited", "deny"});
    const auto index = static_cast<std::uint32_t>(i);
    Override o;
    o.label = std::to_string(i + 1);
    std::string owner_suffix = "~" + o.label;
    if (const auto& name = item["name"]) {
      if (auto text = scalar(name, join_path(ipath, "name"))) {
        if (!is_plain_name(*text, "~")) {
          error(name, join_path(ipath, "name"),
                "must be non-empty printable text without spaces, quotes, backslashes or ~");
        } else if (!names.insert(*text).second) {
          error(name, join_path(ipath, "name"), "duplicate override name \"" + *text + "\"");
        }
        o.label = *text;
        owner_suffix += ":" + *text;
      }
    }
    const auto& keys = item["keys"];
    const auto& keys_file = item["keys_file"];
    if (!keys && !keys_file) error(item, ipath, "needs keys or keys_file");
    if (keys) {
      const std::string kpath = join_path(ipath, "keys");
      if (!keys.is_sequence() || keys.size() == 0) {
        error(keys, kpath, "must be a non-empty list of key values");
      } else {
        for (std::size_t j = 0; j < keys.size(); ++j) {
          auto text = scalar(keys[j], index_path(kpath, j));
          if (!text) continue;
          if (auto why = add_entry(*text, overrides->part.kind, index, overrides->matcher);
              !why.empty()) {
            error(keys[j], index_path(kpath, j), why);
          }
        }
      }
    }
    if (keys_file) {
      if (auto file = scalar(keys_file, join_path(ipath, "keys_file"))) {
        // Relative to the config file: a ConfigMap mounts both in one directory.
        if (std::filesystem::path(*file).is_relative()) {
          *file = (std::filesystem::path(file_).parent_path() / *file).string();
        }
        overrides->files.push_back(*file);
        std::ifstream in;
        std::error_code ec;
        // A device or a pipe (/dev/zero, a FIFO) could make the load read forever.
        if (std::filesystem::exists(*file, ec) && !std::filesystem::is_regular_file(*file, ec)) {
          error(keys_file, join_path(ipath, "keys_file"), *file + " is not a regular file");
        } else {
          in.open(*file);
          if (!in) {
            error(keys_file, join_path(ipath, "keys_file"),
                  "cannot read " + *file + ": " + std::strerror(errno));
          }
        }
        std::string line;
        for (std::size_t number = 1; in && std::getline(in, line); ++number) {
          std::string_view entry = line;
          if (const auto hash = entry.find('#'); hash != std::string_view::npos) {
            entry = entry.substr(0, hash);
          }
          while (!entry.empty() && std::isspace(static_cast<unsigned char>(entry.front()))) {
            entry.remove_prefix(1);
          }
          while (!entry.empty() && std::isspace(static_cast<unsigned char>(entry.back()))) {
            entry.remove_suffix(1);
          }
          if (entry.empty()) continue;
          if (auto why = add_entry(entry, overrides->part.kind, index, overrides->matcher);
              !why.empty()) {
            error(keys_file, join_path(ipath, "keys_file"),
                  *file + ":" + std::to_string(number) + ": " + why);
            break;  // one error per file: a wrong file would otherwise print every line
          }
        }
      }
    }
    const bool unlimited =
        item["unlimited"] &&
        boolean(item["unlimited"], join_path(ipath, "unlimited")).value_or(false);
    const bool deny =
        item["deny"] && boolean(item["deny"], join_path(ipath, "deny")).value_or(false);
    const bool sets_limit = item["max_rate"] || item["time_period"] || item["weight"] ||
                            item["action"] || item["max_delay"] || item["dry_run"] || item["quota"];
    if (unlimited && deny) error(item, ipath, "unlimited and deny contradict each other");
    if ((unlimited || deny) && sets_limit) {
      error(item, ipath,
            std::string(deny ? "deny" : "unlimited") +
                " leaves nothing to set: drop max_rate, time_period, weight, action, max_delay, "
                "dry_run and quota");
    }
    if (!unlimited && !deny && !sets_limit) {
      error(item, ipath,
            "sets nothing: give max_rate, time_period, weight, action, max_delay, dry_run or "
            "quota, or unlimited or deny");
    }
    o.effect = deny        ? Override::Effect::deny
               : unlimited ? Override::Effect::unlimited
                           : Override::Effect::limit;
    const auto rate = rate_of(item, ipath, base.rate);
    const auto weight = weight_of(item, ipath, base.weight);
    if (!rate || !weight) continue;
    if (item["max_rate"] || item["weight"]) {
      check_weight(item["weight"] ? item["weight"] : item, join_path(ipath, "weight"), *weight,
                   *rate);
    }
    if (const auto& action = item["action"]) {
      if (auto text = scalar(action, join_path(ipath, "action"))) {
        if (*text == "reject" || *text == "delay") {
          o.action = *text == "reject" ? limit::Action::reject : limit::Action::delay;
        } else {
          error(action, join_path(ipath, "action"), "must be reject or delay");
        }
      }
    }
    if (const auto& max_delay = item["max_delay"]) {
      const bool delays = o.action ? *o.action == limit::Action::delay
                                   : route["action"] && route["action"].is_scalar() &&
                                         route["action"].scalar() == "delay";
      if (!delays) {
        error(max_delay, join_path(ipath, "max_delay"), "only applies to action: delay");
      } else if (auto d = duration(max_delay, join_path(ipath, "max_delay"))) {
        o.max_delay = *d;
      }
    } else if (o.action == limit::Action::delay) {
      o.max_delay = rate->period;
    }
    if (const auto& dry_run = item["dry_run"]) {
      if (auto b = boolean(dry_run, join_path(ipath, "dry_run"))) o.dry_run = *b;
    }
    o.limit = limit::LimitPolicy::make(base.policy_name + "~" + o.label, base.owner + owner_suffix,
                                       base.key, *rate, *weight);
    o.limit.shared = base.shared;
    o.sets_weight = static_cast<bool>(item["weight"]);
    o.limit.set_quota(quota_of(item, ipath, base.quota, *weight));
    overrides->list.push_back(std::move(o));
  }
  if (overrides->list.size() == node.size()) base.overrides = std::move(overrides);
}

}  // namespace sluice::config
