#include "protocol/chunk_writer.h"

#include "protocol/chunk_reader.h"

#include <gtest/gtest.h>

#include <random>

#include "protocol/chunk_writer.h"
#include "protocol/control.h"
#include "tests/protocol/chunk_tables.h"
#include "tests/protocol/test_util.h"

namespace rtmp {
namespace {

using test::hex;
using test::spec_audio_table;
using test::spec_video_table;

TEST(ChunkWriter, WritesTheSpecAudioExampleBytes) {
  // The writer never starts a message with type 3 right after a type 0 header, so the second
  // message is type 2 like the spec; the third and fourth are type 3.
  ChunkWriter w;
  std::vector<uint8_t> out;
  for (int i = 0; i < 4; ++i) {
    Message m;
    m.type = 8;
    m.csid = 3;
    m.stream_id = 12345;
    m.timestamp = 1000 + 20 * static_cast<uint64_t>(i);
    m.payload.assign(32, 0xA1);
    w.write(m, out);
  }
  EXPECT_EQ(out, spec_audio_table());
}

TEST(ChunkWriter, WritesTheSpecVideoExampleBytes) {
  ChunkWriter w;
  std::vector<uint8_t> out;
  Message m;
  m.type = 9;
  m.csid = 4;
  m.stream_id = 1;
  m.timestamp = 1000;
  for (int i = 0; i < 307; ++i) m.payload.push_back(static_cast<uint8_t>(i));
  w.write(m, out);
  EXPECT_EQ(out, spec_video_table());
}

TEST(ChunkWriter, RepeatsTheExtendedTimestampOnContinuations) {
  ChunkWriter w;
  std::vector<uint8_t> out;
  Message m;
  m.type = 9;
  m.csid = 6;
  m.stream_id = 1;
  m.timestamp = 0x01234567;
  m.payload.assign(200, 0x55);
  w.write(m, out);
  auto want = test::cat({hex("06 | FFFFFF | 0000C8 | 09 | 01000000 | 01234567"),
                         std::vector<uint8_t>(128, 0x55), hex("C6 | 01234567"),
                         std::vector<uint8_t>(72, 0x55)});
  EXPECT_EQ(out, want);
}

TEST(ChunkWriter, PicksTheMostCompactHeader) {
  ChunkWriter w;
  auto header_len = [&w](uint64_t ts, size_t len, uint8_t type, uint32_t sid) {
    std::vector<uint8_t> out;
    Message m;
    m.type = type;
    m.csid = 4;
    m.stream_id = sid;
    m.timestamp = ts;
    m.payload.assign(len, 0);
    w.write(m, out);
    return out.size() - len;
  };
  EXPECT_EQ(header_len(0, 10, 8, 1), 12u);   // first: type 0
  EXPECT_EQ(header_len(20, 10, 8, 1), 4u);   // delta changed: type 2
  EXPECT_EQ(header_len(40, 10, 8, 1), 1u);   // same delta: type 3
  EXPECT_EQ(header_len(60, 11, 8, 1), 8u);   // length changed: type 1
  EXPECT_EQ(header_len(50, 11, 8, 1), 12u);  // backwards: type 0
  EXPECT_EQ(header_len(70, 11, 8, 2), 12u);  // other stream: type 0
}

TEST(ChunkWriter, APayloadInTwoPartsIsChunkedLikeOne) {
  std::vector<uint8_t> payload(1000);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7 + 3);
  for (uint32_t chunk : {1u, 128u, 333u, 1000u, 4096u}) {
    for (size_t split : {size_t{0}, size_t{1}, size_t{5}, size_t{127}, size_t{128}, size_t{129},
                         size_t{999}, size_t{1000}}) {
      ChunkWriter one, two;
      one.set_chunk_size(chunk);
      two.set_chunk_size(chunk);
      Message m;
      m.type = 9;
      m.csid = 6;
      m.stream_id = 1;
      std::vector<uint8_t> a, b;
      for (uint64_t ts : {0u, 40u, 80u, 0x1000000u}) {  // type 0, 2, 3 and extended headers
        m.timestamp = ts;
        one.write(m, payload, a);
        two.write(m, Bytes(payload).first(split), Bytes(payload).subspan(split), b);
      }
      EXPECT_EQ(a, b) << "chunk " << chunk << " split " << split;
    }
  }
}

}  // namespace
}  // namespace rtmp
