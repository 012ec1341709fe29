// Redis Cluster's addressing (README, "Scaling out"): key slots by Redis's own rule, the slot map
// of a CLUSTER SLOTS reply, and MOVED / ASK redirections.
#include <gtest/gtest.h>

#include "sluice/redis/cluster_slots.hpp"

namespace sluice::redis {
namespace {

Reply integer(long long n) {
  Reply r;
  r.type = Reply::Type::integer;
  r.integer = n;
  return r;
}
Reply text(std::string s, Reply::Type type = Reply::Type::string) {
  Reply r;
  r.type = type;
  r.text = std::move(s);
  return r;
}
Reply array(std::vector<Reply> elements) {
  Reply r;
  r.type = Reply::Type::array;
  r.elements = std::move(elements);
  return r;
}
Reply range(long long first, long long last, const std::string& host, long long port) {
  return array({integer(first), integer(last), array({text(host), integer(port), text("id")})});
}

TEST(ClusterSlots, KeySlotsAreRedisOwn) {
  // The values `redis-cli CLUSTER KEYSLOT` gives, and the specification's CRC16 test vector.
  EXPECT_EQ(key_slot("a"), 15495);
  EXPECT_EQ(key_slot("b"), 3300);
  EXPECT_EQ(key_slot("123456789"), 0x31C3 % 16384);
}

TEST(ClusterSlots, AHashTagDecidesTheSlot) {
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("x{b}y"), key_slot("b"));
  EXPECT_EQ(key_slot("{}b"), key_slot("{}b"));  // an empty tag: the whole key
  EXPECT_NE(key_slot("{}b"), key_slot(""));
  EXPECT_EQ(key_slot("{b"), key_slot("{b"));  // no closing brace: the whole key
  EXPECT_NE(key_slot("{b"), key_slot("b"));
  const std::string key = cluster_key("sluice:", "route:g#0:global:5/3600s:global");
  EXPECT_EQ(key, "sluice:{route:g#0:global:5/3600s:global}");
  EXPECT_EQ(key_slot(key), key_slot("route:g#0:global:5/3600s:global"));
}

TEST(ClusterSlots, TheSlotMapNamesEachSlotsMaster) {
  std::string why;
  const auto map =
      parse_cluster_slots(array({range(0, 5460, "10.0.0.1", 7000), range(5461, 10922, "", 7001),
                                 range(10923, 16383, "10.0.0.1", 7000)}),
                          {"10.0.0.9", 7001}, why);
  ASSERT_TRUE(map) << why;
  ASSERT_EQ(map->masters.size(), 2u);
  EXPECT_EQ(*map->master_of(0), (config::RedisNode{"10.0.0.1", 7000}));
  EXPECT_EQ(*map->master_of(16383), (config::RedisNode{"10.0.0.1", 7000}));
  // A node that does not know its own address is the one that was asked.
  EXPECT_EQ(*map->master_of(5461), (config::RedisNode{"10.0.0.9", 7001}));
}

TEST(ClusterSlots, SlotsNoMasterServesHaveNone) {
  std::string why;
  const auto map = parse_cluster_slots(array({range(0, 99, "h", 7000)}), {"h", 7000}, why);
  ASSERT_TRUE(map);
  EXPECT_NE(map->master_of(99), nullptr);
  EXPECT_EQ(map->master_of(100), nullptr);
}

TEST(ClusterSlots, AMalformedSlotMapIsRefusedWithAReason) {
  std::string why;
  EXPECT_FALSE(parse_cluster_slots(
      text("ERR This instance has cluster support disabled", Reply::Type::error), {"h", 1}, why));
  EXPECT_EQ(why, "ERR This instance has cluster support disabled");
  EXPECT_FALSE(parse_cluster_slots(array({range(5, 16384, "h", 7000)}), {"h", 1}, why));
  EXPECT_EQ(why, "unexpected slot range in CLUSTER SLOTS");
  EXPECT_FALSE(parse_cluster_slots(array({range(0, 1, "h", 0)}), {"h", 1}, why));
  EXPECT_FALSE(parse_cluster_slots(array({}), {"h", 1}, why));
  EXPECT_EQ(why, "the cluster serves no slot");
}

TEST(ClusterSlots, MovedAndAskAreRead) {
  const auto moved = parse_redirect(text("MOVED 3999 127.0.0.1:6381", Reply::Type::error));
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->kind, Redirect::Kind::moved);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->node, (config::RedisNode{"127.0.0.1", 6381}));
  const auto ask = parse_redirect(text("ASK 12 ::1:7000", Reply::Type::error));
  ASSERT_TRUE(ask);
  EXPECT_EQ(ask->kind, Redirect::Kind::ask);
  EXPECT_EQ(ask->node, (config::RedisNode{"::1", 7000}));
  EXPECT_FALSE(parse_redirect(text("MOVED 3999 127.0.0.1:6381")));  // not an error reply
  EXPECT_FALSE(parse_redirect(text("MOVED 16384 h:1", Reply::Type::error)));
  EXPECT_FALSE(parse_redirect(text("MOVED 1 h", Reply::Type::error)));
  EXPECT_FALSE(parse_redirect(text("ERR unknown", Reply::Type::error)));
}

}  // namespace
}  // namespace sluice::redis
