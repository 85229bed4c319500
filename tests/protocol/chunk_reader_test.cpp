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

std::vector<Message> read_all(const std::vector<uint8_t>& bytes, const Limits& limits = {},
                              size_t step = 0, Status* status = nullptr) {
  ChunkReader r(limits);
  std::vector<Message> out;
  Status st;
  if (step == 0) {
    st = r.receive(bytes);
  } else {
    for (size_t i = 0; i < bytes.size() && st.ok(); i += step) {
      st = r.receive(Bytes(bytes).subspan(i, std::min(step, bytes.size() - i)));
    }
  }
  while (auto m = r.next_message()) out.push_back(std::move(*m));
  if (status) *status = st;
  return out;
}

TEST(ChunkReader, ParsesTheSpecAudioExampleWithDeltas) {
  auto msgs = read_all(spec_audio_table());
  ASSERT_EQ(msgs.size(), 4u);
  const uint64_t want_ts[] = {1000, 1020, 1040, 1060};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(msgs[i].csid, 3u);
    EXPECT_EQ(msgs[i].stream_id, 12345u);
    EXPECT_EQ(msgs[i].type, 8);
    EXPECT_EQ(msgs[i].timestamp, want_ts[i]);
    EXPECT_EQ(msgs[i].payload.size(), 32u);
  }
}

TEST(ChunkReader, ReassemblesTheSpecVideoExample) {
  auto msgs = read_all(spec_video_table());
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].payload.size(), 307u);
  EXPECT_EQ(msgs[0].payload[300], 300 & 0xFF);
  EXPECT_EQ(msgs[0].timestamp, 1000u);
  EXPECT_EQ(msgs[0].stream_id, 1u);
}

TEST(ChunkReader, EverySplitPointGivesTheSameMessages) {
  auto bytes = test::cat({spec_audio_table(), spec_video_table()});
  auto whole = read_all(bytes);
  ASSERT_EQ(whole.size(), 5u);
  for (size_t split = 1; split < bytes.size(); ++split) {
    ChunkReader r(Limits{});
    ASSERT_TRUE(r.receive(Bytes(bytes).first(split)).ok());
    ASSERT_TRUE(r.receive(Bytes(bytes).subspan(split)).ok());
    std::vector<Message> got;
    while (auto m = r.next_message()) got.push_back(std::move(*m));
    ASSERT_EQ(got.size(), whole.size()) << "split " << split;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].payload, whole[i].payload);
      EXPECT_EQ(got[i].timestamp, whole[i].timestamp);
    }
  }
  // And one byte at a time.
  auto bytewise = read_all(bytes, {}, 1);
  EXPECT_EQ(bytewise.size(), whole.size());
}

TEST(ChunkReader, BasicHeaderCsidBoundaries) {
  for (uint32_t csid : {2u, 63u, 64u, 319u, 320u, 65599u}) {
    ChunkWriter w;
    std::vector<uint8_t> out;
    Message m;
    m.type = 9;
    m.csid = csid;
    m.stream_id = 1;
    m.payload.assign(300, 7);
    w.write(m, out);
    size_t basic = csid < 64 ? 1 : csid < 320 ? 2 : 3;
    EXPECT_EQ(out.size(), basic + 11 + 300 + 2 * basic) << csid;
    auto msgs = read_all(out);
    ASSERT_EQ(msgs.size(), 1u) << csid;
    EXPECT_EQ(msgs[0].csid, csid);
  }
}

TEST(ChunkReader, ThreeByteCsidIsLittleEndian) {
  // csid 64 + 0x0102 = 322: bytes 01 | 02 01.
  auto bytes = test::cat({hex("01 02 01 | 000000 | 000001 | 08 | 01000000 | AA")});
  auto msgs = read_all(bytes);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].csid, 322u);
}

TEST(ChunkReader, ExtendedTimestampOnTypeThreeContinuationPresentOrAbsent) {
  std::vector<uint8_t> payload(200, 0x55);
  auto head = hex("06 | FFFFFF | 0000C8 | 09 | 01000000 | 01234567");
  auto with =
      test::cat({head, std::vector<uint8_t>(payload.begin(), payload.begin() + 128),
                 hex("C6 | 01234567"), std::vector<uint8_t>(payload.begin() + 128, payload.end())});
  auto without = test::cat({head, std::vector<uint8_t>(payload.begin(), payload.begin() + 128),
                            hex("C6"), std::vector<uint8_t>(payload.begin() + 128, payload.end())});
  for (const auto& bytes : {with, without}) {
    auto msgs = read_all(bytes);
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].timestamp, 0x01234567u);
    EXPECT_EQ(msgs[0].payload, payload);
  }
}

TEST(ChunkReader, UnwrapsTimestampsPastTheThirtyTwoBitWrap) {
  ChunkWriter w;
  std::vector<uint8_t> out;
  // Start 5 s before the 32-bit wrap, step 1 s across it.
  const uint64_t start = 0x100000000ull - 5000;
  for (int i = 0; i < 10; ++i) {
    Message m;
    m.type = 8;
    m.csid = 4;
    m.stream_id = 1;
    m.timestamp = start + 1000 * static_cast<uint64_t>(i);  // the writer sends it mod 2^32
    m.payload.assign(10, 1);
    w.write(m, out);
  }
  auto msgs = read_all(out);
  ASSERT_EQ(msgs.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(msgs[static_cast<size_t>(i)].timestamp, start + 1000 * static_cast<uint64_t>(i));
  }
}

TEST(ChunkReader, SmallBackwardStepIsNotAWrap) {
  auto bytes = test::cat({hex("04 | 000064 | 000001 | 08 | 01000000 | AA"),    // ts 100
                          hex("04 | 00005A | 000001 | 08 | 01000000 | BB")});  // ts 90
  auto msgs = read_all(bytes);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[1].timestamp, 90u);
}

TEST(ChunkReader, TypeThreeStartingAMessageOnAKnownCsidReusesTheDelta) {
  // OBS/FMLE send 0xC4 for audio after a type-1/2 header (ertmp-wire.md B.4 #4).
  auto bytes = test::cat({hex("04 | 000000 | 000001 | 08 | 01000000 | 01"),
                          hex("84 | 000017 | 02"),  // delta 23
                          hex("C4 | 03"), hex("C4 | 04")});
  auto msgs = read_all(bytes);
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[3].timestamp, 69u);
}

TEST(ChunkReader, TypeTwoOrThreeOnAFreshCsidIsAnError) {
  for (const char* h : {"C5 | 00", "85 | 000000 | 00"}) {
    Status st;
    auto msgs = read_all(hex(h), {}, 0, &st);
    ASSERT_FALSE(st.ok()) << h;
    EXPECT_EQ(st.error().code, Errc::kMalformed);
    EXPECT_EQ(st.error().csid, 5u);
  }
}

TEST(ChunkReader, TypeOneOnAFreshCsidIsAcceptedLikeLibrtmp) {
  auto msgs = read_all(hex("45 | 000010 | 000001 | 08 | AA"));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].timestamp, 16u);
}

TEST(ChunkReader, AppliesSetChunkSizeAndEmitsIt) {
  ChunkWriter w;
  std::vector<uint8_t> out;
  w.write(make_set_chunk_size(4096), out);
  w.set_chunk_size(4096);
  Message m;
  m.type = 9;
  m.csid = 6;
  m.stream_id = 1;
  m.payload.assign(5000, 3);
  w.write(m, out);
  EXPECT_EQ(out.size(), 12u + 4 + 12 + 5000 + 1);  // two chunks for 5000 bytes
  ChunkReader r(Limits{});
  ASSERT_TRUE(r.receive(out).ok());
  EXPECT_EQ(r.chunk_size(), 4096u);
  auto first = r.next_message();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->kind(), MessageType::kSetChunkSize);
  auto second = r.next_message();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->payload.size(), 5000u);
}

TEST(ChunkReader, RejectsChunkSizeZeroAndTopBitAndOverLimit) {
  Limits l;
  l.max_chunk_size = 65536;
  for (uint32_t size : {0u, 0x80000000u, 65537u}) {
    auto bytes = test::cat({hex("02 | 000000 | 000004 | 01 | 00000000"),
                            {static_cast<uint8_t>(size >> 24), static_cast<uint8_t>(size >> 16),
                             static_cast<uint8_t>(size >> 8), static_cast<uint8_t>(size)}});
    Status st;
    read_all(bytes, l, 0, &st);
    ASSERT_FALSE(st.ok()) << size;
  }
  // N is fine.
  auto ok = test::cat({hex("02 | 000000 | 000004 | 01 | 00000000 | 00010000")});
  Status st;
  auto msgs = read_all(ok, l, 0, &st);
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(msgs.size(), 1u);
}

TEST(ChunkReader, MessageSizeLimitAtNAndNPlusOne) {
  Limits l;
  l.max_message_size = 1000;
  auto header = [](uint32_t len) {
    return test::cat({hex("06 | 000000"),
                      {static_cast<uint8_t>(len >> 16), static_cast<uint8_t>(len >> 8),
                       static_cast<uint8_t>(len)},
                      hex("09 | 01000000")});
  };
  Status st;
  read_all(header(1000), l, 0, &st);
  EXPECT_TRUE(st.ok());
  read_all(header(1001), l, 0, &st);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kLimitExceeded);
  EXPECT_EQ(st.error().csid, 6u);
}

TEST(ChunkReader, ChunkStreamLimitAtNAndNPlusOne) {
  Limits l;
  l.max_chunk_streams = 4;
  auto open = [](uint32_t n) {
    std::vector<uint8_t> out;
    for (uint32_t i = 0; i < n; ++i) {
      auto m = hex("00 | 000000 | 000001 | 08 | 01000000 | 00");
      m[0] = static_cast<uint8_t>(3 + i);
      out.insert(out.end(), m.begin(), m.end());
    }
    return out;
  };
  Status st;
  EXPECT_EQ(read_all(open(4), l, 0, &st).size(), 4u);
  EXPECT_TRUE(st.ok());
  auto msgs = read_all(open(5), l, 0, &st);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kLimitExceeded);
  EXPECT_EQ(msgs.size(), 4u);  // what came before the fault is delivered
}

TEST(ChunkReader, BufferedBytesLimitAcrossStreams) {
  Limits l;
  l.max_buffered_bytes = 2000;
  auto start = [](uint8_t csid) {
    auto m = hex("00 | 000000 | 000400 | 09 | 01000000");  // 1024 bytes declared
    m[0] = csid;
    return test::cat({m, std::vector<uint8_t>(100, 1)});  // incomplete
  };
  Status st;
  read_all(test::cat({start(4), start(5)}), l, 0, &st);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kLimitExceeded);
}

TEST(ChunkReader, DeclaredLengthsCountAgainstTheBufferedLimitAtNAndNPlusOne) {
  // Chunk size 1: each stream declares 1024 bytes and sends one. What is declared is what the
  // reader sets aside, so it is what the limit bounds.
  Limits l;
  l.max_buffered_bytes = 2048;
  auto open = [](uint32_t n) {
    std::vector<uint8_t> out = hex("02 | 000000 | 000004 | 01 | 00000000 | 00000001");
    for (uint32_t i = 0; i < n; ++i) {
      auto m = hex("00 | 000000 | 000400 | 09 | 01000000 | 17");
      m[0] = static_cast<uint8_t>(4 + i);
      out.insert(out.end(), m.begin(), m.end());
    }
    return out;
  };
  Status st;
  read_all(open(2), l, 0, &st);
  EXPECT_TRUE(st.ok()) << st.error().to_string();
  read_all(open(3), l, 0, &st);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kLimitExceeded);
  EXPECT_NE(st.error().detail.find("exceed 2048 bytes"), std::string::npos);
}

TEST(ChunkReader, ACompletedOrAbortedMessageGivesItsDeclaredLengthBack) {
  Limits l;
  l.max_buffered_bytes = 1028;  // one 1024-byte message plus the 4-byte Abort beside it
  // 1024 declared and completed (8 chunks of 128), then 1024 declared and aborted after its
  // first chunk, then 1024 declared again: each fits only if the earlier one gave it back.
  std::vector<uint8_t> bytes = hex("04 | 000000 | 000400 | 09 | 01000000");
  for (int i = 0; i < 8; ++i) {
    if (i > 0) bytes.push_back(0xC4);
    bytes.insert(bytes.end(), 128, 1);
  }
  bytes =
      test::cat({bytes, hex("05 | 000000 | 000400 | 09 | 01000000"), std::vector<uint8_t>(128, 2),
                 hex("02 | 000000 | 000004 | 02 | 00000000 | 00000005"),
                 hex("06 | 000000 | 000400 | 09 | 01000000"), std::vector<uint8_t>(10, 3)});
  Status st;
  auto msgs = read_all(bytes, l, 0, &st);
  EXPECT_TRUE(st.ok()) << st.error().to_string();
  ASSERT_EQ(msgs.size(), 2u);  // the 1024-byte message and the Abort
  EXPECT_EQ(msgs[0].payload.size(), 1024u);
  EXPECT_EQ(msgs[1].kind(), MessageType::kAbort);
}

TEST(ChunkReader, AbortDropsThePartialMessage) {
  auto bytes = test::cat({hex("06 | 000000 | 0000C8 | 09 | 01000000"),
                          std::vector<uint8_t>(128, 1),  // 128 of 200 bytes
                          hex("02 | 000000 | 000004 | 02 | 00000000 | 00000006"),  // Abort csid 6
                          hex("06 | 000000 | 000002 | 09 | 01000000 | 0102")});
  auto msgs = read_all(bytes);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].kind(), MessageType::kAbort);
  EXPECT_EQ(msgs[1].payload, hex("0102"));
}

TEST(ChunkReader, ErrorIsStickyAndCarriesTheOffset) {
  ChunkReader r(Limits{});
  auto bad = hex("C9 00");
  auto st = r.receive(bad);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().offset, 0u);
  EXPECT_FALSE(r.receive(hex("03 000000 000001 08 01000000 00")).ok());
}

TEST(ChunkRoundTrip, RandomMessagesAtEveryChunkSize) {
  std::mt19937 rng(1234);
  for (uint32_t chunk : {1u, 128u, 4096u, 65536u}) {
    ChunkWriter w;
    std::vector<uint8_t> out;
    w.write(make_set_chunk_size(chunk), out);
    w.set_chunk_size(chunk);
    std::vector<Message> sent;
    uint64_t ts = 0;
    for (int i = 0; i < 200; ++i) {
      Message m;
      bool video = rng() % 3 == 0;
      m.type = video ? 9 : 8;
      m.csid = video ? 6 : (rng() % 2 ? 4 : 400);
      m.stream_id = 1;
      ts += rng() % 50;
      if (rng() % 20 == 0) ts += 0x1000000;  // exercise extended timestamps
      m.timestamp = ts;
      m.payload = test::random_bytes(rng, rng() % (video ? 9000 : 300));
      w.write(m, out);
      sent.push_back(m);
    }
    Limits l;
    l.max_chunk_size = 65536;
    for (size_t step : {size_t{0}, size_t{7}, size_t{65536}}) {
      Status st;
      auto got = read_all(out, l, step, &st);
      ASSERT_TRUE(st.ok()) << st.error().to_string();
      ASSERT_EQ(got.size(), sent.size() + 1) << "chunk " << chunk;
      for (size_t i = 0; i < sent.size(); ++i) {
        EXPECT_EQ(got[i + 1].payload, sent[i].payload);
        EXPECT_EQ(got[i + 1].timestamp, sent[i].timestamp);
        EXPECT_EQ(got[i + 1].csid, sent[i].csid);
        EXPECT_EQ(got[i + 1].type, sent[i].type);
      }
    }
  }
}

TEST(ChunkReader, GarbageNeverCrashes) {
  std::mt19937 rng(99);
  for (int i = 0; i < 2000; ++i) {
    auto bytes = test::random_bytes(rng, rng() % 600);
    ChunkReader r(Limits{});
    (void)r.receive(bytes);
    while (r.next_message()) {
    }
  }
}

TEST(AckTracker, AcksAtTheWindowAndWrapsTheSequence) {
  AckTracker a;
  EXPECT_FALSE(a.on_bytes(1'000'000));  // no window yet: the peer never asked
  a.set_window(2500);
  auto first = a.on_bytes(1'000'000);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, 1'000'000u);
  EXPECT_FALSE(a.on_bytes(1'000'000 + 2499));  // N-1
  auto seq = a.on_bytes(1'000'000 + 2500);     // N
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, 1'002'500u);
  auto wrapped = a.on_bytes(0x100000000ull + 10);
  ASSERT_TRUE(wrapped);
  EXPECT_EQ(*wrapped, 10u);  // the u32 sequence number wraps like the wire field
}

}  // namespace
}  // namespace rtmp
