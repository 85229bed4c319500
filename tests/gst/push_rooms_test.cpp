// rtmppushsink's rooms without a network: the error map (rtmp2's table, row by row), the
// user-space pacer, the stream headers, and the packager's one sequence-header tracker for
// both input kinds.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <thread>

#include "gst/error_map.h"
#include "gst/push_headers.h"
#include "gst/push_packager.h"
#include "gst/push_publisher.h"
#include "protocol/command.h"
#include "protocol/flv_file.h"
#include "protocol/flv_tag.h"

namespace {

using gst_ertmp::PacketPtr;
using gst_ertmp::TrackKey;

class GstEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { gst_init(nullptr, nullptr); }
};
const auto* const kGstEnvironment = ::testing::AddGlobalTestEnvironment(new GstEnvironment);

// ---- error_map ---------------------------------------------------------------------------

TEST(ErrorMap, StatusCodesMapAsRtmp2sClientMapsThem) {
  using gst_ertmp::io_error_for_status;
  EXPECT_EQ(io_error_for_status("NetStream.Publish.BadName"), G_IO_ERROR_EXISTS);
  EXPECT_EQ(io_error_for_status("NetStream.Publish.Denied"), G_IO_ERROR_PERMISSION_DENIED);
  EXPECT_EQ(io_error_for_status("NetConnection.Connect.Rejected"), G_IO_ERROR_PERMISSION_DENIED);
  EXPECT_EQ(io_error_for_status("NetStream.Play.StreamNotFound"), G_IO_ERROR_NOT_FOUND);
  EXPECT_EQ(io_error_for_status("NetStream.Publish.Unauthorized"), G_IO_ERROR_PERMISSION_DENIED);
  EXPECT_EQ(io_error_for_status("NetStream.Something.Else"), G_IO_ERROR_FAILED);
  EXPECT_EQ(io_error_for_status(""), G_IO_ERROR_FAILED);
  EXPECT_EQ(gst_ertmp::io_error_for_errc(rtmp::Errc::kAuthFailed), G_IO_ERROR_PERMISSION_DENIED);
  EXPECT_EQ(gst_ertmp::io_error_for_errc(rtmp::Errc::kTimeout), G_IO_ERROR_TIMED_OUT);
  EXPECT_EQ(gst_ertmp::io_error_for_errc(rtmp::Errc::kBadVersion), G_IO_ERROR_INVALID_DATA);
}

TEST(ErrorMap, ConnectFailuresBecomeRtmp2sinksResourceErrors) {
  auto e = gst_ertmp::connect_error(G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  EXPECT_EQ(e.domain, GST_RESOURCE_ERROR);
  EXPECT_EQ(e.code, GST_RESOURCE_ERROR_NOT_AUTHORIZED);
  EXPECT_STREQ(e.what, "Not authorized to connect");
  e = gst_ertmp::connect_error(G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  EXPECT_EQ(e.code, GST_RESOURCE_ERROR_OPEN_READ);
  EXPECT_STREQ(e.what, "Connection refused");
  for (gint code :
       {G_IO_ERROR_EXISTS, G_IO_ERROR_TIMED_OUT, G_IO_ERROR_NOT_FOUND, G_IO_ERROR_FAILED}) {
    e = gst_ertmp::connect_error(G_IO_ERROR, code);
    EXPECT_EQ(e.code, GST_RESOURCE_ERROR_FAILED) << code;
    EXPECT_STREQ(e.what, "Failed to connect");
  }
  // Another domain (TLS, resolver) with the same number is not a GIO refusal.
  e = gst_ertmp::connect_error(G_TLS_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  EXPECT_EQ(e.code, GST_RESOURCE_ERROR_FAILED);
  EXPECT_EQ(gst_ertmp::connection_error(true).code, GST_RESOURCE_ERROR_WRITE);
  EXPECT_EQ(gst_ertmp::connection_error(false).code, GST_RESOURCE_ERROR_READ);
  EXPECT_EQ(gst_ertmp::settings_error().code, GST_RESOURCE_ERROR_SETTINGS);
}

// ---- the user-space pacer ----------------------------------------------------------------

TEST(Pacer, BooksBytesAtTheRateAndNeverAheadOfNow) {
  gst_ertmp::Pacer p;
  EXPECT_EQ(p.book(1'000'000, 5), 5) << "unlimited: at once";
  p.set_rate(1'000'000);                             // 1 MB/s
  EXPECT_EQ(p.book(500'000, 1'000'000), 1'000'000);  // the first goes at once
  EXPECT_EQ(p.book(500'000, 1'000'000), 1'500'000);  // the next after the first's 0.5 s
  EXPECT_EQ(p.book(1, 1'200'000), 2'000'000);
  // After an idle second the next goes at once: no credit saved up beyond now.
  EXPECT_EQ(p.book(1000, 5'000'000), 5'000'000);
  EXPECT_EQ(p.book(1000, 5'000'000), 5'001'000);
  // Over any span, what was booked stays within rate x span (+ the first packet).
  gst_ertmp::Pacer q;
  q.set_rate(125'000);  // 1 Mbit/s
  gint64 now = 0, last = 0;
  size_t total = 0;
  for (int i = 0; i < 1000; ++i) {
    last = q.book(4096, now);
    total += 4096;
    now += 100;  // the sender is much faster than the rate
  }
  EXPECT_GE(last, static_cast<gint64>((total - 4096) * 1'000'000 / 125'000));
}

// ---- stream headers ----------------------------------------------------------------------

PacketPtr packet(uint8_t tag) {
  auto p = std::make_shared<gst_ertmp::Packet>();
  p->body = {tag};
  return p;
}

TEST(StreamHeaders, KeepsTracksInFirstSeenOrderAndReplacesInPlace) {
  gst_ertmp::StreamHeaders h;
  auto v0 = packet(1), a0 = packet(2), v1 = packet(3), v0b = packet(4), meta = packet(5);
  h.set_sequence_header(TrackKey{true, 0}, v0);
  h.set_sequence_header(TrackKey{false, 0}, a0);
  h.set_sequence_header(TrackKey{true, 1}, v1);
  h.set_sequence_header(TrackKey{true, 0}, v0b);  // a caps change
  h.set_metadata(meta);
  auto s = h.snapshot();
  ASSERT_EQ(s.sequence_headers.size(), 3u);
  EXPECT_EQ(s.sequence_headers[0].second, v0b) << "video 0 keeps its place";
  EXPECT_EQ(s.sequence_headers[1].second, a0);
  EXPECT_EQ(s.sequence_headers[2].second, v1);
  EXPECT_EQ(s.metadata, meta);
  EXPECT_EQ(h.sequence_header(TrackKey{false, 0}), a0);
  h.set_sequence_header(TrackKey{false, 0}, nullptr);  // the codec has none any more
  EXPECT_EQ(h.sequence_header(TrackKey{false, 0}), nullptr);
  EXPECT_EQ(h.snapshot().sequence_headers.size(), 2u);
  h.clear();
  EXPECT_TRUE(h.snapshot().sequence_headers.empty());
  EXPECT_EQ(h.metadata(), nullptr);
}

TEST(StreamHeaders, AReaderOnAnotherThreadSeesWholeSnapshots) {
  gst_ertmp::StreamHeaders h;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 20000; ++i) {
      h.set_sequence_header(TrackKey{true, static_cast<uint8_t>(i % 4)}, packet(uint8_t(i)));
      h.set_metadata(packet(uint8_t(i)));
    }
    done = true;
  });
  size_t reads = 0;
  while (!done) {
    auto s = h.snapshot();
    for (const auto& [key, header] : s.sequence_headers) ASSERT_TRUE(header);
    ++reads;
  }
  writer.join();
  EXPECT_GT(reads, 0u);
  EXPECT_EQ(h.snapshot().sequence_headers.size(), 4u);
}

// ---- the packager: one tracker for both input kinds ----------------------------------------

GstBuffer* flv_buffer(const std::vector<uint8_t>& bytes) {
  return gst_buffer_new_memdup(bytes.data(), bytes.size());
}

std::vector<uint8_t> one_tag(uint8_t type, int64_t ts, const std::vector<uint8_t>& body) {
  std::vector<uint8_t> out;
  rtmp::FlvWriter::write_tag(out, type, ts, body);
  return out;
}

const std::vector<uint8_t> kAvcSeq = {0x17, 0, 0,    0,    0, 1,    0x64, 0, 0x1F, 0xFF, 0xE1,
                                      0,    4, 0x67, 0x64, 0, 0x1F, 1,    0, 2,    0x68, 0xEE};

TEST(Packager, FlvHeadersBecomeStreamHeadersAndFramesCarryThem) {
  gst_ertmp::StreamHeaders headers;
  gst_ertmp::StreamDescription description;
  gst_ertmp::Packager p(headers, description, gst_ertmp::EnhancedMode::kAuto, nullptr);
  std::vector<gst_ertmp::Packet> out;
  std::string error;
  std::vector<uint8_t> file;
  rtmp::FlvWriter::write_header(file, true, true);
  rtmp::Message meta = rtmp::build_data_message(
      "onMetaData", {rtmp::amf::Value::object({{"width", rtmp::amf::Value(640.0)}})});
  auto tags = one_tag(18, 0, meta.payload);
  auto seq = one_tag(9, 0, kAvcSeq);
  auto key = one_tag(9, 40, {0x17, 1, 0, 0, 0, 0xAA});
  auto inter = one_tag(9, 73, {0x27, 1, 0, 0, 0, 0xBB});
  // Header, metadata and sequence header in one buffer, frames one per buffer.
  std::vector<uint8_t> first = file;
  first.insert(first.end(), tags.begin(), tags.end());
  first.insert(first.end(), seq.begin(), seq.end());
  for (const auto& bytes : {first, key, inter}) {
    GstBuffer* b = flv_buffer(bytes);
    ASSERT_TRUE(p.package_flv(b, out, &error)) << error;
    gst_buffer_unref(b);
  }
  ASSERT_EQ(out.size(), 2u) << "headers are not media packets";
  auto snap = headers.snapshot();
  ASSERT_TRUE(snap.metadata);
  rtmp::Message m;
  m.type = 18;
  m.payload = snap.metadata->body;
  auto dm = rtmp::parse_data_message(m);
  ASSERT_TRUE(dm.ok());
  EXPECT_TRUE(dm->set_data_frame) << "published as @setDataFrame";
  ASSERT_EQ(snap.sequence_headers.size(), 1u);
  EXPECT_EQ(snap.sequence_headers[0].second->body, kAvcSeq);
  for (const auto& pk : out) {
    EXPECT_TRUE(pk.media);
    EXPECT_EQ(pk.sequence_header, snap.sequence_headers[0].second);
    EXPECT_EQ(pk.metadata, snap.metadata);
  }
  EXPECT_TRUE(out[0].keyframe);
  EXPECT_FALSE(out[1].keyframe);
  EXPECT_EQ(out[0].dts_ms, 40u);
  EXPECT_EQ(out[1].dts_ms, 73u);
  // A new sequence header in band: later frames carry it, earlier packets keep theirs.
  std::vector<uint8_t> seq2_body = kAvcSeq;
  seq2_body[8] = 0x28;  // level 4.0
  auto seq2 = one_tag(9, 100, seq2_body);
  auto after = one_tag(9, 106, {0x17, 1, 0, 0, 0, 0xCC});
  for (const auto& bytes : {seq2, after}) {
    GstBuffer* b = flv_buffer(bytes);
    ASSERT_TRUE(p.package_flv(b, out, &error)) << error;
    gst_buffer_unref(b);
  }
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].sequence_header->body, seq2_body);
  EXPECT_EQ(out[0].sequence_header->body, kAvcSeq);
  // A tag declaring more than Limits::max_message_size (8 MiB): an error, not an allocation.
  gst_ertmp::Packager fresh(headers, description, gst_ertmp::EnhancedMode::kAuto, nullptr);
  GstBuffer* junk = flv_buffer({0x09, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0x17});
  EXPECT_FALSE(fresh.package_flv(junk, out, &error));
  EXPECT_FALSE(error.empty());
  gst_buffer_unref(junk);
}

TEST(Packager, ElementaryCapsChangesGiveNewHeadersAndAnEarlyDtsKeepsThePts) {
  gst_ertmp::StreamHeaders headers;
  gst_ertmp::StreamDescription description;
  gst_ertmp::Packager p(headers, description, gst_ertmp::EnhancedMode::kAuto, nullptr);
  auto aac = [](const char* asc) {
    GstCaps* c = gst_caps_from_string(
        (std::string("audio/mpeg,mpegversion=4,stream-format=raw,rate=44100,channels=2,"
                     "codec_data=(buffer)") +
         asc)
            .c_str());
    std::string error;
    auto f = gst_ertmp::push_format_from_caps(c, &error);
    gst_caps_unref(c);
    return std::make_shared<const gst_ertmp::PushFormat>(*f);
  };
  auto f1 = aac("1210"), f2 = aac("1188");
  TrackKey audio{false, 0};
  description.declare_format(audio, f1);
  std::vector<gst_ertmp::Packet> out;
  auto frame = [&](std::shared_ptr<const gst_ertmp::PushFormat> f, gint64 dts_ms) {
    GstBuffer* b = gst_buffer_new_allocate(nullptr, 8, nullptr);
    gst_ertmp::ElementaryFrame fr;
    fr.buffer = b;
    fr.format = std::move(f);
    fr.track = audio;
    fr.dts = fr.pts = dts_ms * static_cast<gint64>(GST_MSECOND);
    p.package_frame(fr, out);
    gst_buffer_unref(b);
  };
  frame(f1, 0);
  frame(f1, 23);
  frame(f2, 46);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].sequence_header, out[1].sequence_header) << "one version per format";
  EXPECT_NE(out[1].sequence_header, out[2].sequence_header);
  EXPECT_EQ(headers.sequence_header(audio), out[2].sequence_header) << "the current one";
  EXPECT_NE(out[1].metadata, out[2].metadata) << "track 0 changed: described again";

  // Video whose first DTS precedes the base another track set: DTS clamps at 0 and CT is taken
  // against the DTS as sent, so the receiver's timestamp + CT is the frame's PTS (0 here). CT
  // against the unclamped DTS (67, as before) put that PTS 67 ms late.
  TrackKey video{true, 0};
  GstCaps* c = gst_caps_from_string(
      "video/x-h264,stream-format=avc,alignment=au,codec_data=(buffer)016400"
      "1fffe100046764001f01000268ee");
  std::string error;
  auto vf = gst_ertmp::push_format_from_caps(c, &error);
  gst_caps_unref(c);
  ASSERT_TRUE(vf) << error;
  GstBuffer* b = gst_buffer_new_allocate(nullptr, 16, nullptr);
  gst_ertmp::ElementaryFrame fr;
  fr.buffer = b;
  fr.format = std::make_shared<const gst_ertmp::PushFormat>(*vf);
  fr.track = video;
  fr.dts = -67 * static_cast<gint64>(GST_MSECOND);  // the audio base is 0
  fr.pts = 0;
  p.package_frame(fr, out);
  gst_buffer_unref(b);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[3].dts_ms, 0u);
  auto tag = rtmp::parse_flv_tag(rtmp::TagType::kVideo, out[3].body);
  ASSERT_TRUE(tag.ok());
  EXPECT_EQ(tag->units[0].composition_time, 0) << "PTS 0 = timestamp 0 + CT";
  // The next frame, DTS -33 ms (still clamped), PTS 100 ms: CT 100.
  b = gst_buffer_new_allocate(nullptr, 16, nullptr);
  fr.buffer = b;
  fr.dts = -33 * static_cast<gint64>(GST_MSECOND);
  fr.pts = 100 * static_cast<gint64>(GST_MSECOND);
  p.package_frame(fr, out);
  gst_buffer_unref(b);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[4].dts_ms, 0u);
  tag = rtmp::parse_flv_tag(rtmp::TagType::kVideo, out[4].body);
  ASSERT_TRUE(tag.ok());
  EXPECT_EQ(tag->units[0].composition_time, 100);
}

}  // namespace
