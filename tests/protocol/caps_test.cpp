#include "protocol/caps.h"

#include <gtest/gtest.h>

#include "protocol/amf0.h"

namespace rtmp {
namespace {

using amf::Value;

TEST(Caps, ObsSendsNothingAndThatIsFine) {
  Value obs = Value::object({{"app", Value("live")}, {"flashVer", Value("FMLE/3.0")}});
  PeerCapabilities c = parse_capabilities(obs);
  EXPECT_FALSE(c.present_any);
  EXPECT_FALSE(c.supports_video("hvc1"));
}

TEST(Caps, FfmpegFourCcListImpliesDecodeNotEncode) {
  Value ff = Value::object(
      {{"fourCcList", Value::strict_array({Value("hvc1"), Value("av01"), Value("vp09")})}});
  PeerCapabilities c = parse_capabilities(ff);
  EXPECT_TRUE(c.present_any);
  EXPECT_TRUE(c.supports_video("av01"));
  EXPECT_FALSE(c.supports_video("avc1"));
  EXPECT_FALSE(c.supports_video("av01", kCanEncode));
}

TEST(Caps, InfoMapsWithWildcardOverride) {
  Value v = Value::object({
      {"videoFourCcInfoMap", Value::object({{"*", Value(4.0)}, {"hvc1", Value(7.0)}})},
      {"audioFourCcInfoMap", Value::object({{"Opus", Value(3.0)}})},
      {"capsEx", Value(3.0)},
  });
  PeerCapabilities c = parse_capabilities(v);
  EXPECT_TRUE(c.supports_video("av01", kCanForward));
  EXPECT_FALSE(c.supports_video("hvc1", kCanDecode));  // "*" overrides per-codec flags
  EXPECT_TRUE(c.supports_audio("Opus", kCanDecode | kCanEncode));
  EXPECT_FALSE(c.supports_audio("fLaC"));
  EXPECT_EQ(c.caps_ex, kCapsExReconnect | kCapsExMultitrack);
}

TEST(Caps, OddTypesAreIgnoredNotFatal) {
  Value v = Value::object({{"fourCcList", Value("hvc1")},
                           {"capsEx", Value("lots")},
                           {"videoFourCcInfoMap", Value(1.0)}});
  PeerCapabilities c = parse_capabilities(v);
  EXPECT_TRUE(c.present_any);
  EXPECT_TRUE(c.fourcc_list.empty());
  EXPECT_EQ(c.caps_ex, 0u);
}

TEST(Caps, WrittenCapabilitiesParseBack) {
  PeerCapabilities c = client_capabilities({"hvc1", "av01"}, {"Opus"}, kCapsExMultitrack);
  Value obj = Value::object({{"app", Value("live")}});
  add_capabilities(obj, c);
  // Through the wire and back.
  std::vector<uint8_t> bytes;
  ByteWriter w(bytes);
  amf0::encode(obj, w);
  auto back = amf0::decode_all(bytes, Limits{});
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(parse_capabilities((*back)[0]), parse_capabilities(obj));
  EXPECT_TRUE(parse_capabilities(obj).supports_video("hvc1", kCanEncode));
}

TEST(Caps, ServerEchoIntersects) {
  PeerCapabilities client = client_capabilities({"hvc1"}, {}, kCapsExMultitrack | 0x40);
  PeerCapabilities echo = server_echo(default_server_capabilities(), client);
  EXPECT_EQ(echo.caps_ex, kCapsExMultitrack);
  EXPECT_EQ(echo.video_fourcc_info.size(), 1u);
  EXPECT_TRUE(echo.supports_video("hvc1", kCanForward));
  EXPECT_FALSE(echo.supports_video("av01"));
}

}  // namespace
}  // namespace rtmp
