#include "protocol/flv_file.h"

#include <gtest/gtest.h>

#include "tests/protocol/test_util.h"

namespace rtmp {
namespace {

using test::hex;

std::vector<uint8_t> sample_file() {
  std::vector<uint8_t> f;
  FlvWriter::write_header(f, true, true);
  FlvWriter::write_tag(f, 18, 0, hex("02 000A 6F6E4D65746144617461 05"));
  FlvWriter::write_tag(f, 9, 0, hex("17 00 000000 01640028"));
  FlvWriter::write_tag(f, 8, 23, hex("AF 01 2122"));
  FlvWriter::write_tag(f, 9, 0x01020304, hex("27 01 000000 AABB"));  // extended timestamp byte
  FlvWriter::write_tag(f, 9, -5, hex("27 01 000000 CC"));            // SI32: negative
  return f;
}

TEST(FlvFile, HeaderAndTagBytesFromTheSpec) {
  std::vector<uint8_t> f;
  FlvWriter::write_header(f, true, true);
  EXPECT_EQ(f, hex("464C56 01 05 00000009 00000000"));
  f.clear();
  FlvWriter::write_tag(f, 8, 0x01020304, hex("AF01"));
  EXPECT_EQ(f, hex("08 000002 020304 01 000000 AF01 0000000D"));
}

TEST(FlvFile, ReadsWhatTheWriterWrote) {
  FlvReader r;
  ASSERT_TRUE(r.receive(sample_file()).ok());
  ASSERT_TRUE(r.header());
  EXPECT_TRUE(r.header()->has_audio);
  EXPECT_TRUE(r.header()->has_video);
  std::vector<FlvFileTag> tags;
  while (auto t = r.next_tag()) tags.push_back(std::move(*t));
  ASSERT_EQ(tags.size(), 5u);
  EXPECT_EQ(tags[0].type, 18);
  EXPECT_EQ(tags[2].timestamp, 23);
  EXPECT_EQ(tags[3].timestamp, 0x01020304);
  EXPECT_EQ(tags[4].timestamp, -5);
  EXPECT_EQ(tags[3].body, hex("27 01 000000 AABB"));
  EXPECT_TRUE(r.warnings().empty());
  EXPECT_TRUE(r.at_boundary());
}

TEST(FlvFile, EverySplitPointGivesTheSameTags) {
  auto f = sample_file();
  for (size_t split = 0; split <= f.size(); ++split) {
    FlvReader r;
    ASSERT_TRUE(r.receive(Bytes(f).first(split)).ok());
    ASSERT_TRUE(r.receive(Bytes(f).subspan(split)).ok());
    size_t n = 0;
    while (r.next_tag()) ++n;
    EXPECT_EQ(n, 5u) << split;
  }
}

TEST(FlvFile, BadBackPointerIsAWarningNotAnError) {
  auto f = sample_file();
  f[13 + 11 + 14] ^= 0xFF;  // first tag's PreviousTagSize (script tag, 14-byte body)
  FlvReader r;
  ASSERT_TRUE(r.receive(f).ok());
  size_t n = 0;
  while (r.next_tag()) ++n;
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(r.warnings().size(), 1u);
}

TEST(FlvFile, NotAnFlvFile) {
  FlvReader r;
  auto st = r.receive(test::bytes_of("GIF89a......"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kMalformed);
}

TEST(FlvFile, TagSizeLimitAtNAndNPlusOne) {
  Limits l;
  l.max_message_size = 4;
  std::vector<uint8_t> ok, big;
  FlvWriter::write_header(ok, true, false);
  big = ok;
  FlvWriter::write_tag(ok, 8, 0, hex("AF012122"));
  FlvWriter::write_tag(big, 8, 0, hex("AF01212223"));
  FlvReader a(l), b(l);
  EXPECT_TRUE(a.receive(ok).ok());
  auto st = b.receive(big);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kLimitExceeded);
}

TEST(FlvFile, TruncatedFileLeavesAPartialTagAndNoCrash) {
  auto f = sample_file();
  for (size_t n = 0; n < f.size(); ++n) {
    FlvReader r;
    ASSERT_TRUE(r.receive(Bytes(f).first(n)).ok());
    while (r.next_tag()) {
    }
  }
}

}  // namespace
}  // namespace rtmp
