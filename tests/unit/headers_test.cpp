// The hop-by-hop rule of a forwarding proxy (RFC 9110 §7.6.1), on Beast's fields.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sluice/proxy/headers.hpp"

namespace sluice::proxy {
namespace {

std::vector<std::string> names_of(const http::fields& fields) {
  std::vector<std::string> names;
  for (const auto& field : fields) names.emplace_back(field.name_string());
  return names;
}

TEST(StripHopByHop, RemovesTheFixedHopByHopFields) {
  http::fields fields;
  for (const char* name : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
                           "Upgrade", "Proxy-Authorization", "Proxy-Authenticate"}) {
    fields.insert(name, "x");
  }
  fields.insert("Accept", "*/*");
  strip_hop_by_hop(fields);
  EXPECT_EQ(names_of(fields), std::vector<std::string>{"Accept"});
}

TEST(StripHopByHop, RemovesWhatConnectionNamesWhereverItStandsAndHoweverItIsSpelled) {
  http::fields fields;
  fields.insert("X-Before", "1");  // named by a Connection line that comes later
  fields.insert("Accept", "*/*");
  fields.insert("Connection", "keep-alive, x-before");
  fields.insert("x-AFTER", "2");
  fields.insert("Connection", "X-After");      // a second line adds to the list
  fields.insert("Cache-Control", "no-cache");  // a known field named by a token: dropped too
  fields.insert("Connection", "cache-control");
  strip_hop_by_hop(fields);
  EXPECT_EQ(names_of(fields), std::vector<std::string>{"Accept"});
}

TEST(StripHopByHop, KeepsFramingFieldsEvenWhenConnectionNamesThem) {
  http::fields fields;
  fields.insert("Content-Length", "5");
  fields.insert("Transfer-Encoding", "chunked");
  fields.insert("Connection", "Content-Length, transfer-encoding");
  strip_hop_by_hop(fields);
  EXPECT_EQ(names_of(fields), (std::vector<std::string>{"Content-Length", "Transfer-Encoding"}));
}

TEST(StripHopByHop, LeavesEndToEndFieldsInTheirOrder) {
  http::fields fields;
  fields.insert("Accept", "a");
  fields.insert("X-One", "1");
  fields.insert("Set-Cookie", "a=1");
  fields.insert("Set-Cookie", "b=2");
  strip_hop_by_hop(fields);
  EXPECT_EQ(names_of(fields),
            (std::vector<std::string>{"Accept", "X-One", "Set-Cookie", "Set-Cookie"}));
}

TEST(AddForwarding, CombinesEveryViaAndForwardedForLineWithThisHopLast) {
  http::fields fields;
  fields.insert("Via", "1.0 a");
  fields.insert("X-Forwarded-For", "10.0.0.1");
  fields.insert("Via", "1.1 b");
  fields.insert("X-Forwarded-For", "10.0.0.2");
  add_forwarding(fields, {.peer = "127.0.0.1", .version = kHttp10, .tls = true});
  EXPECT_EQ(combined_field(fields, "Via"), "1.0 a, 1.1 b, 1.0 sluice");
  EXPECT_EQ(fields.count(http::field::via), 1u);
  EXPECT_EQ(combined_field(fields, "X-Forwarded-For"), "10.0.0.1, 10.0.0.2, 127.0.0.1");
  EXPECT_EQ(fields["X-Forwarded-Proto"], "https");
}

}  // namespace
}  // namespace sluice::proxy
