// One spelling per path, query key and host (README, "No way around a limit by spelling").
#include "sluice/core/uri.hpp"

#include <gtest/gtest.h>

namespace sluice::uri {
namespace {

std::string normalized(std::string_view path, PathOptions options = {}) {
  std::string error;
  auto out = normalize_path(path, options, error);
  return out ? *out : "error: " + error;
}

TEST(NormalizePath, Rfc3986DotSegmentExamples) {
  // §5.2.4's worked examples, with merging off so that only dot removal acts.
  const PathOptions plain{.merge_slashes = false};
  EXPECT_EQ(normalized("/a/b/c/./../../g", plain), "/a/g");
  EXPECT_EQ(normalized("/b/c/./g", plain), "/b/c/g");
  EXPECT_EQ(normalized("/b/c/.", plain), "/b/c/");
  EXPECT_EQ(normalized("/b/c/..", plain), "/b/");
  EXPECT_EQ(normalized("/b/c/../..", plain), "/");
}

TEST(NormalizePath, Rfc3986NormalExamplesMergedWithBase) {
  // §5.4.1 with base "http://a/b/c/d;p?q": the merged paths before dot removal.
  EXPECT_EQ(normalized("/b/c/g"), "/b/c/g");        // "g"
  EXPECT_EQ(normalized("/b/c/./g"), "/b/c/g");      // "./g"
  EXPECT_EQ(normalized("/b/c/g/"), "/b/c/g/");      // "g/"
  EXPECT_EQ(normalized("/b/c/."), "/b/c/");         // "."
  EXPECT_EQ(normalized("/b/c/./"), "/b/c/");        // "./"
  EXPECT_EQ(normalized("/b/c/.."), "/b/");          // ".."
  EXPECT_EQ(normalized("/b/c/../"), "/b/");         // "../"
  EXPECT_EQ(normalized("/b/c/../g"), "/b/g");       // "../g"
  EXPECT_EQ(normalized("/b/c/../.."), "/");         // "../.."
  EXPECT_EQ(normalized("/b/c/../../"), "/");        // "../../"
  EXPECT_EQ(normalized("/b/c/../../g"), "/g");      // "../../g"
  EXPECT_EQ(normalized("/b/c/g."), "/b/c/g.");      // §5.4.2 "g."
  EXPECT_EQ(normalized("/b/c/..g"), "/b/c/..g");    // "..g"
  EXPECT_EQ(normalized("/b/c/./../g"), "/b/g");     // "./../g"
  EXPECT_EQ(normalized("/b/c/g/./h"), "/b/c/g/h");  // "g/./h"
  EXPECT_EQ(normalized("/b/c/g/../h"), "/b/c/h");   // "g/../h"
}

TEST(NormalizePath, ClimbingAboveTheRootIsRefused) {
  // §5.4.2 "../../../g" resolves to "/g" by clamping; a proxy refuses instead.
  EXPECT_EQ(normalized("/b/c/../../../g"), "error: the path climbs above the root");
  EXPECT_EQ(normalized("/.."), "error: the path climbs above the root");
  EXPECT_EQ(normalized("/%2E%2E/admin"), "error: the path climbs above the root");
}

TEST(NormalizePath, UnreservedEscapesAreDecodedOthersUpperCased) {
  EXPECT_EQ(normalized("/%61dmin"), "/admin");
  EXPECT_EQ(normalized("/%7Euser/%2d%5f%2E"), "/~user/-_.");
  EXPECT_EQ(normalized("/a%3fb%c3%a9"), "/a%3Fb%C3%A9");
  EXPECT_EQ(normalized("/a%20b"), "/a%20b");
  EXPECT_EQ(normalized("/x/%2e%2e/admin"), "/admin");
}

TEST(NormalizePath, MalformedEscapesAndNulAreRefused) {
  EXPECT_EQ(normalized("/a%"), "error: malformed percent-encoding in the path");
  EXPECT_EQ(normalized("/a%4"), "error: malformed percent-encoding in the path");
  EXPECT_EQ(normalized("/a%zz"), "error: malformed percent-encoding in the path");
  EXPECT_EQ(normalized("/a%00b"), "error: the path decodes to a NUL byte");
  EXPECT_EQ(normalized("admin"), "error: the path must start with /");
  EXPECT_EQ(normalized(std::string_view("/a\0b", 4)),
            "error: control character or space in the path");
  EXPECT_EQ(normalized("/a b"), "error: control character or space in the path");
}

TEST(NormalizePath, RepeatedSlashesMergeUnlessTurnedOff) {
  EXPECT_EQ(normalized("//admin"), "/admin");
  EXPECT_EQ(normalized("/a///b//"), "/a/b/");
  EXPECT_EQ(normalized("/a//../b"), "/b");
  const PathOptions keep{.merge_slashes = false};
  EXPECT_EQ(normalized("//admin", keep), "//admin");
  EXPECT_EQ(normalized("/a//../b", keep), "/a/b");
}

TEST(NormalizePath, EscapedSlashesInEachMode) {
  const PathOptions keep{.escaped_slashes = EscapedSlashes::keep};
  const PathOptions reject{.escaped_slashes = EscapedSlashes::reject};
  const PathOptions decode{.escaped_slashes = EscapedSlashes::decode};
  EXPECT_EQ(normalized("/a%2fb/..%2F%5c", keep), "/a%2Fb/..%2F%5C");
  EXPECT_EQ(normalized("/a%2fb", reject), "error: encoded slash (%2F or %5C) in the path");
  EXPECT_EQ(normalized("/a%5Cb", reject), "error: encoded slash (%2F or %5C) in the path");
  EXPECT_EQ(normalized("/a%2fb", decode), "/a/b");
  EXPECT_EQ(normalized("/x/..%2Fadmin", decode), "/admin");
  EXPECT_EQ(normalized("/a%2F%2Fb", decode), "/a/b");
}

TEST(NormalizePath, NormalizingTwiceChangesNothing) {
  for (const char* path : {"/a/./b/../c//d/%2e/%7e", "/%41%2f%2F/.././x/", "/", "/a/b/.."}) {
    const std::string once = normalized(path);
    EXPECT_EQ(normalized(once), once) << path;
  }
}

TEST(FormDecode, PlusIsASpaceAndEscapesDecode) {
  EXPECT_EQ(form_decode("a+b%2Bc%20d"), "a b+c d");
  EXPECT_EQ(form_decode("%41%62"), "Ab");
  EXPECT_EQ(form_decode("bad%2"), std::nullopt);
  EXPECT_EQ(form_decode("bad%x1"), std::nullopt);
}

TEST(FindQueryParam, ComparesDecodedNamesAndReportsRepeats) {
  EXPECT_EQ(find_query_param("ab=1&a=2", "a").value, "2");
  EXPECT_EQ(find_query_param("ab=1&a=2", "a").state, Lookup::State::found);
  EXPECT_EQ(find_query_param("flag&x=1", "flag").state, Lookup::State::found);
  EXPECT_EQ(find_query_param("x=1", "y").state, Lookup::State::missing);
  EXPECT_EQ(find_query_param("a=1&a=1", "a").state, Lookup::State::ambiguous);
  EXPECT_EQ(find_query_param("a=1&%61=2", "a").state, Lookup::State::ambiguous);
  EXPECT_EQ(find_query_param("a=%zz", "a").state, Lookup::State::malformed);
  EXPECT_EQ(find_query_param("%zz=1&a=2", "a").state, Lookup::State::malformed);
  EXPECT_EQ(find_query_param("&&a=1&&", "a").value, "1");
}

// nginx's $arg_ and many frameworks fold case: two spellings of the name are one parameter sent
// twice, and one spelling alone is the parameter.
TEST(FindQueryParam, NamesDifferingInCaseAreTheSameParameter) {
  EXPECT_EQ(find_query_param("API_KEY=victim&api_key=r1", "api_key").state,
            Lookup::State::ambiguous);
  EXPECT_EQ(find_query_param("Api_Key=v", "api_key").value, "v");
  EXPECT_EQ(find_query_param("API%5Fkey=v", "api_key").value, "v");
  // A decoded NUL does not end the comparison.
  EXPECT_EQ(find_query_param("a%00x=1", "a%00y").state, Lookup::State::missing);
  EXPECT_EQ(find_query_param("a%00x=1&a=2", "a").value, "2");
}

TEST(MaskQueryParam, MasksEverySpelling) {
  EXPECT_EQ(mask_query_param("API_KEY=victim&api%5fkey=r1&q=1", "api_key"),
            "API_KEY=***&api%5fkey=***&q=1");
}

TEST(CanonicalHost, LowerCaseWithoutPortOrTrailingDot) {
  EXPECT_EQ(canonical_host("API.Example.COM"), "api.example.com");
  EXPECT_EQ(canonical_host("api.example.com.:8080"), "api.example.com");
  EXPECT_EQ(canonical_host("api.example.com."), "api.example.com");
  EXPECT_EQ(canonical_host("[::1]:8080"), "[::1]");
}

TEST(AbsoluteTarget, SplitsIntoAuthorityAndOriginForm) {
  const auto a = split_absolute_target("http://API.example.com:8080/x/y?q=1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->authority, "API.example.com:8080");
  EXPECT_EQ(a->origin, "/x/y?q=1");
  EXPECT_EQ(split_absolute_target("HTTPS://h")->origin, "/");
  EXPECT_EQ(split_absolute_target("http://h?q")->origin, "/?q");
  EXPECT_FALSE(split_absolute_target("http://user@h/"));
  EXPECT_FALSE(split_absolute_target("http:///x"));
  EXPECT_FALSE(split_absolute_target("ftp://h/x"));
  EXPECT_FALSE(split_absolute_target("h:443"));
}

}  // namespace
}  // namespace sluice::uri
