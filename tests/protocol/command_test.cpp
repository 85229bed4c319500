#include "protocol/command.h"

#include <gtest/gtest.h>

#include "protocol/amf0.h"
#include "tests/protocol/test_util.h"

namespace rtmp {
namespace {

using amf::Value;
using test::hex;

TEST(Command, BuildsAndParsesConnect) {
  Command c = make_command(
      "connect", 1, Value::object({{"app", Value("live")}, {"tcUrl", Value("rtmp://h/live")}}),
      {Value("extra")});
  Message m = build_command_message(c);
  EXPECT_EQ(m.type, 20);
  auto back = parse_command(m, Limits{});
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->name, "connect");
  EXPECT_EQ(back->transaction_id, 1);
  EXPECT_EQ(back->command_object.get_string("app"), "live");
  EXPECT_EQ(back->arg_string(0), "extra");
  EXPECT_EQ(back->arg_number(1), std::nullopt);
}

TEST(Command, PublishBytesMatchFfmpeg) {
  // ffmpeg: publish(txn 5, null, "key", "live") on stream 1.
  Command c = make_command("publish", 5, Value::null(), {Value("key"), Value("live")});
  auto want =
      test::cat({hex("02 0007"), test::bytes_of("publish"), hex("00 4014000000000000 05"),
                 hex("02 0003"), test::bytes_of("key"), hex("02 0004"), test::bytes_of("live")});
  EXPECT_EQ(build_command_message(c).payload, want);
}

TEST(Command, Amf3CommandHasAFormatByte) {
  Message m = build_command_message(make_command("createStream", 4, Value::null(), {}));
  m.type = 17;
  m.payload.insert(m.payload.begin(), 0x00);
  auto c = parse_command(m, Limits{});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name, "createStream");
  m.payload[0] = 3;
  EXPECT_EQ(parse_command(m, Limits{}).error().code, Errc::kMalformed);
}

TEST(Command, RejectsNamelessOrTxnlessCommands) {
  Message m;
  m.type = 20;
  std::vector<uint8_t> body;
  ByteWriter w(body);
  amf0::encode(Value(1.0), w);
  m.payload = body;
  EXPECT_FALSE(parse_command(m, Limits{}).ok());
  body.clear();
  amf0::encode(Value("x"), w);
  amf0::encode(Value("notanumber"), w);
  m.payload = body;
  EXPECT_FALSE(parse_command(m, Limits{}).ok());
}

TEST(DataMessage, StripsSetDataFrame) {
  Message m = build_set_data_frame(Value::object({{"width", Value(1280.0)}}));
  auto d = parse_data_message(m);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->set_data_frame);
  EXPECT_EQ(d->handler, "onMetaData");
  ASSERT_EQ(d->values.size(), 1u);
  EXPECT_TRUE(d->values[0].is_ecma_array());  // sent as an ECMA array like ffmpeg/OBS
  EXPECT_EQ(d->values[0].get_number("width"), 1280.0);
}

TEST(DataMessage, PlainOnMetaDataAndClearDataFrame) {
  auto d = parse_data_message(build_data_message("onMetaData", {Value::object({})}));
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->set_data_frame);
  EXPECT_EQ(d->handler, "onMetaData");
  auto c = parse_data_message(build_data_message("@clearDataFrame", {}));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->clear_data_frame);
}

TEST(SharedObject, RoundTripsAndRejectsTruncation) {
  SharedObjectMessage so;
  so.name = "room";
  so.version = 3;
  so.persistent = true;
  so.events = {{1, {}}, {4, {0xAA, 0xBB}}};
  Message m = build_shared_object(so);
  auto back = parse_shared_object(m, Limits{});
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->name, "room");
  EXPECT_EQ(back->version, 3u);
  EXPECT_TRUE(back->persistent);
  ASSERT_EQ(back->events.size(), 2u);
  EXPECT_EQ(back->events[1].data, hex("AABB"));
  for (size_t n = 0; n + 1 < m.payload.size(); ++n) {
    Message t = m;
    t.payload.resize(n);
    auto r = parse_shared_object(t, Limits{});
    // Cutting exactly after the first event (header 18 + event 5 = 23 bytes) is valid.
    if (n != 18 && n != 23) {
      EXPECT_FALSE(r.ok()) << n;
    }
  }
}

}  // namespace
}  // namespace rtmp
