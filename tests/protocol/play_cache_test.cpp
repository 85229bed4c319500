#include "protocol/play_cache.h"

#include <gtest/gtest.h>

#include "protocol/command.h"
#include "tests/protocol/session_pair.h"
#include "tests/protocol/test_util.h"

namespace rtmp {
namespace {

using test::bytes_of;
using test::cat;
using test::hex;

Message msg(uint8_t type, uint64_t ts, std::vector<uint8_t> payload) {
  return test::make_message(type, ts, std::move(payload));
}

// Legacy FLV tag bodies (FLV 10.1 E.4.2/E.4.3).
Message avc_header(uint64_t ts, uint8_t version = 1) {  // 17 00 CT=0 avcC
  return msg(9, ts, cat({hex("17 00 000000"), {version}, hex("64001F FFE1")}));
}
Message avc_key(uint64_t ts, size_t size = 100) {  // 17 01 CT NALUs
  return msg(9, ts, cat({hex("17 01 000000"), std::vector<uint8_t>(size, 0x65)}));
}
Message avc_inter(uint64_t ts, size_t size = 50) {  // 27 01 CT NALUs
  return msg(9, ts, cat({hex("27 01 000000"), std::vector<uint8_t>(size, 0x41)}));
}
Message aac_header(uint64_t ts) {  // AF 00 AudioSpecificConfig
  return msg(8, ts, hex("AF 00 1210"));
}
Message aac(uint64_t ts, size_t size = 20) {  // AF 01 raw AAC
  return msg(8, ts, cat({hex("AF 01"), std::vector<uint8_t>(size, 0x21)}));
}
// E-RTMP (ertmp-wire.md A.2/A.5): HEVC as ExHeader video, OneTrack multitrack for track >= 1.
Message hevc_header(uint64_t ts, uint8_t track = 0) {
  if (track == 0) return msg(9, ts, cat({hex("90"), bytes_of("hvc1"), hex("01 02 03")}));
  return msg(9, ts, cat({hex("96 00"), bytes_of("hvc1"), {track}, hex("01 02 03")}));
}
Message hevc_key(uint64_t ts, uint8_t track = 0) {
  if (track == 0) return msg(9, ts, cat({hex("91"), bytes_of("hvc1"), hex("000000 2601")}));
  return msg(9, ts, cat({hex("96 01"), bytes_of("hvc1"), {track}, hex("000000 2601")}));
}
Message metadata(uint64_t ts, double width, bool set_data_frame = true) {
  Message m =
      set_data_frame
          ? build_set_data_frame(amf::Value::object({{"width", amf::Value(width)}}))
          : build_data_message("onMetaData", {amf::Value::object({{"width", amf::Value(width)}})});
  m.timestamp = ts;
  return m;
}

std::vector<std::vector<uint8_t>> payloads(const std::vector<SharedItem>& items) {
  std::vector<std::vector<uint8_t>> out;
  for (const auto& i : items) out.push_back(i->message.payload);
  return out;
}

TEST(PlayCache, JoinGivesMetadataHeadersThenTheGopFromTheLastKeyframe) {
  PlayCache cache;
  std::vector<Message> in = {metadata(0, 320), avc_header(0), aac_header(0), avc_key(0),   aac(10),
                             avc_inter(33),    avc_key(66),   aac(70),       avc_inter(99)};
  for (const auto& m : in) ASSERT_TRUE(cache.push(m));
  auto joined = cache.join();
  // onMetaData without "@setDataFrame" (02 000D "@setDataFrame": 16 bytes cut, the rest as
  // sent), the two headers, then keyframe 66 onwards.
  std::vector<uint8_t> stripped(in[0].payload.begin() + 16, in[0].payload.end());
  ASSERT_EQ(std::vector<uint8_t>(stripped.begin(), stripped.begin() + 13),
            cat({hex("02 000A"), bytes_of("onMetaData")}));
  EXPECT_EQ(payloads(joined),
            (std::vector<std::vector<uint8_t>>{stripped, in[1].payload, in[2].payload,
                                               in[6].payload, in[7].payload, in[8].payload}));
  EXPECT_EQ(joined[3]->kind, ItemKind::kKeyframe);
  EXPECT_TRUE(cache.has_gop());
  EXPECT_EQ(cache.gop_duration_ms(), 33u);
  EXPECT_EQ(cache.gop_bytes(), in[6].payload.size() + in[7].payload.size() + in[8].payload.size());
  EXPECT_EQ(cache.bytes(),
            cache.gop_bytes() + stripped.size() + in[1].payload.size() + in[2].payload.size());
}

TEST(PlayCache, LiveItemsAreClassifiedAndDataIsStrippedForPlayers) {
  PlayCache cache;
  auto md = cache.push(metadata(0, 1));
  EXPECT_EQ(md->kind, ItemKind::kMetadata);
  const std::vector<uint8_t> full = metadata(0, 1).payload;
  EXPECT_EQ(std::vector<uint8_t>(full.begin(), full.begin() + 16),
            cat({hex("02 000D"), bytes_of("@setDataFrame")}));
  EXPECT_EQ(md->message.payload, std::vector<uint8_t>(full.begin() + 16, full.end()));
  // Plain onMetaData (no @setDataFrame) stays as it is.
  EXPECT_EQ(cache.push(metadata(0, 2, false))->message.payload, metadata(0, 2, false).payload);
  // AMF3 data message (type 15): the format byte stays, the prefix after it goes.
  Message amf3 = metadata(0, 3);
  amf3.type = 15;
  amf3.payload.insert(amf3.payload.begin(), 0x00);
  auto md3 = cache.push(amf3);
  EXPECT_EQ(md3->kind, ItemKind::kMetadata);
  const std::vector<uint8_t> full3 = metadata(0, 3).payload;
  EXPECT_EQ(md3->message.payload,
            cat({hex("00"), std::vector<uint8_t>(full3.begin() + 16, full3.end())}));
  EXPECT_EQ(cache.push(avc_header(0))->kind, ItemKind::kHeader);
  EXPECT_EQ(cache.push(avc_key(0))->kind, ItemKind::kKeyframe);
  EXPECT_EQ(cache.push(avc_inter(1))->kind, ItemKind::kInterframe);
  EXPECT_EQ(cache.push(aac(1))->kind, ItemKind::kAudio);
  EXPECT_EQ(cache.push(msg(8, 2, {}))->kind, ItemKind::kAudio);  // legacy silence
  EXPECT_EQ(cache.push(msg(9, 3, hex("17 02 000000")))->kind, ItemKind::kSequenceEnd);
  EXPECT_EQ(cache.push(build_data_message("onTextData", {}))->kind, ItemKind::kData);
  EXPECT_EQ(cache.push(msg(9, 4, hex("91 7A7A7A31 00")))->kind, ItemKind::kUnparsed);
  EXPECT_FALSE(cache.push(msg(20, 0, hex("02 0001 61"))));  // a command: not a stream item
  // @clearDataFrame forgets the metadata.
  EXPECT_EQ(cache.push(build_data_message("@clearDataFrame", {}))->kind, ItemKind::kClearMetadata);
  for (const auto& i : cache.join()) EXPECT_NE(i->kind, ItemKind::kMetadata);
}

TEST(PlayCache, AHeaderChangedInsideTheGopStaysInPlace) {
  PlayCache cache;
  for (const auto& m :
       {avc_header(0, 1), avc_key(0), avc_inter(33), avc_header(50, 2), avc_inter(66)}) {
    cache.push(m);
  }
  auto j = cache.join();
  ASSERT_EQ(j.size(), 5u);
  EXPECT_EQ(j[0]->message.payload, avc_header(0, 1).payload);  // in force at the keyframe
  EXPECT_EQ(j[3]->message.payload, avc_header(0, 2).payload);
  // The next GOP starts with the new header only.
  cache.push(avc_key(100));
  j = cache.join();
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]->message.payload, avc_header(0, 2).payload);
}

TEST(PlayCache, HeadersAreKeptPerTrackAndEndWithSequenceEnd) {
  PlayCache cache;
  cache.push(hevc_header(0, 0));
  cache.push(hevc_header(0, 1));
  cache.push(aac_header(0));
  cache.push(hevc_header(5, 0));  // replaces track 0's only
  auto j = cache.join();          // no keyframe yet: the current headers
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0]->message.payload, hevc_header(0, 1).payload);
  EXPECT_EQ(j[0]->track, 1);
  EXPECT_EQ(j[1]->message.payload, aac_header(0).payload);
  EXPECT_EQ(j[2]->track, 0);
  // SequenceEnd for video track 1 ("96 02 hvc1 01", E-RTMP OneTrack).
  auto end = cache.push(msg(9, 9, cat({hex("96 02"), bytes_of("hvc1"), hex("01")})));
  EXPECT_EQ(end->kind, ItemKind::kSequenceEnd);
  j = cache.join();
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]->message.payload, aac_header(0).payload);
}

TEST(PlayCache, ManyTracksHeaderIsKeptUntilEveryTrackItCarriesIsReplaced) {
  std::vector<uint8_t> cfg = hex("0102");
  VideoTagSpec s;
  s.packet = VideoPacketType::kSequenceStart;
  s.multitrack = AvMultitrackType::kManyTracks;
  s.units = {{0, Codec::kHevc, 0, cfg}, {1, Codec::kHevc, 0, cfg}};
  Message both = msg(9, 0, {});
  ASSERT_TRUE(build_video_tag(s, both.payload).ok());
  PlayCache cache;
  cache.push(both);
  cache.push(hevc_header(1, 0));
  auto j = cache.join();
  ASSERT_EQ(j.size(), 2u);  // track 1 still needs `both`; the new track 0 header follows it
  EXPECT_EQ(j[0]->message.payload, both.payload);
  cache.push(hevc_header(2, 1));
  j = cache.join();
  ASSERT_EQ(j.size(), 2u);  // `both` provides nothing any more
  EXPECT_EQ(j[0]->message.payload, hevc_header(1, 0).payload);
  EXPECT_EQ(j[1]->message.payload, hevc_header(2, 1).payload);
}

TEST(PlayCache, OnlyTheReferenceTracksKeyframesStartAGop) {
  PlayCache cache;
  cache.push(hevc_header(0, 0));
  cache.push(hevc_header(0, 1));
  cache.push(hevc_key(0, 0));  // track 0 is the reference (first video seen)
  cache.push(hevc_key(10, 1));
  auto j = cache.join();
  ASSERT_EQ(j.size(), 4u);
  EXPECT_EQ(j[2]->message.timestamp, 0u);
  EXPECT_EQ(j[3]->track, 1);
}

TEST(PlayCache, AudioOnlyStreamsHaveNoGop) {
  PlayCache cache;
  cache.push(aac_header(0));
  for (int i = 0; i < 10; ++i) cache.push(aac(static_cast<uint64_t>(i) * 21));
  EXPECT_FALSE(cache.has_gop());
  EXPECT_EQ(payloads(cache.join()), (std::vector<std::vector<uint8_t>>{aac_header(0).payload}));
}

TEST(PlayCache, UnparsedTagsAreForwardedButNeverCached) {
  PlayCache cache;
  cache.push(avc_header(0));
  cache.push(avc_key(0));
  auto weird = cache.push(msg(9, 1, hex("91 7A7A7A31 00")));
  ASSERT_TRUE(weird);
  EXPECT_EQ(cache.join().size(), 2u);
}

TEST(PlayCache, GopBytesLimitAtNAndNPlusOne) {
  for (size_t extra : {0u, 1u}) {
    PlayCacheLimits l;
    const Message key = avc_key(0, 100), inter = avc_inter(10, 60);
    l.max_gop_bytes = key.payload.size() + inter.payload.size() - 1 + extra;
    PlayCache cache(l);
    cache.push(avc_header(0));
    cache.push(key);
    cache.push(inter);
    EXPECT_EQ(cache.has_gop(), extra == 1) << extra;
    EXPECT_EQ(cache.join().size(), extra == 1 ? 3u : 1u);  // over the bound: header only
    // The next keyframe starts a GOP again.
    cache.push(avc_key(20, 10));
    EXPECT_TRUE(cache.has_gop());
    EXPECT_EQ(cache.join().size(), 2u);
  }
}

TEST(PlayCache, GopDurationLimitAtNAndNPlusOne) {
  for (uint64_t span : {1000u, 1001u}) {
    PlayCacheLimits l;
    l.max_gop_ms = 1000;
    PlayCache cache(l);
    cache.push(avc_key(5000));
    cache.push(aac(5000 + span));
    EXPECT_EQ(cache.has_gop(), span == 1000) << span;
    EXPECT_EQ(cache.gop_duration_ms(), span == 1000 ? 1000u : 0u);
  }
}

TEST(PlayCache, GopMessagesLimitAtNAndNPlusOne) {
  // Empty audio messages at one timestamp: only the message count bounds them.
  for (size_t extra : {0u, 1u}) {
    PlayCacheLimits l;
    l.max_gop_messages = 10;
    PlayCache cache(l);
    cache.push(avc_key(0, 10));
    for (size_t i = 0; i < 9 + extra; ++i) cache.push(msg(8, 0, {}));
    EXPECT_EQ(cache.has_gop(), extra == 0) << extra;
  }
}

TEST(PlayCache, HeaderEntriesLimitAtNAndNPlusOne) {
  for (uint8_t extra : {uint8_t{0}, uint8_t{1}}) {
    PlayCacheLimits l;
    l.max_header_entries = 4;
    PlayCache cache(l);
    for (uint8_t t = 0; t < 4 + extra; ++t) cache.push(hevc_header(t, t));
    auto j = cache.join();
    ASSERT_EQ(j.size(), 4u);
    EXPECT_EQ(j[0]->track, extra);  // the oldest went first
  }
}

TEST(PlayCache, ResetForgetsEverything) {
  PlayCache cache;
  for (const auto& m : {metadata(0, 1), avc_header(0), avc_key(0)}) cache.push(m);
  cache.reset();
  EXPECT_TRUE(cache.join().empty());
  EXPECT_EQ(cache.bytes(), 0u);
  EXPECT_FALSE(cache.has_gop());
}

TEST(PlayCache, PushMediaReceivedUsesTheParsedTag) {
  PlayCache cache;
  MediaReceived mr = parse_media_message(avc_key(7));
  auto item = cache.push(std::move(mr));
  ASSERT_TRUE(item);
  EXPECT_EQ(item->kind, ItemKind::kKeyframe);
  EXPECT_EQ(item->tag.units.size(), 1u);
  MediaReceived broken = parse_media_message(msg(9, 8, hex("91 7A7A7A31")));
  ASSERT_TRUE(broken.tag_error);
  EXPECT_EQ(cache.push(std::move(broken))->kind, ItemKind::kUnparsed);
}

// --- admission ---------------------------------------------------------------------------

PeerCapabilities legacy_player() {
  return PeerCapabilities{};
}
PeerCapabilities ertmp_player(std::vector<std::string> fourccs, uint32_t caps_ex) {
  PeerCapabilities c;
  c.fourcc_list = std::move(fourccs);
  c.caps_ex = caps_ex;
  c.present_any = true;
  return c;
}

TEST(PlayCache, AdmitTagFollowsThePlayersConnectCaps) {
  PlayCache cache;  // only to classify
  auto item = [&cache](const Message& m) { return cache.push(m); };
  VideoTagSpec nano;
  nano.nano_offset = 500;
  nano.units = {{0, Codec::kHevc, 0, hex("2601")}};
  Message nano_msg = msg(9, 0, {});
  ASSERT_TRUE(build_video_tag(nano, nano_msg.payload).ok());
  PeerCapabilities forward_only;
  forward_only.video_fourcc_info["hvc1"] = kCanForward;
  forward_only.present_any = true;
  struct Row {
    Message m;
    PeerCapabilities player;
    Admission want;
  };
  const Row rows[] = {
      {avc_key(0), legacy_player(), Admission::kAllowed},
      {aac(0), legacy_player(), Admission::kAllowed},
      {msg(9, 0, hex("1C 01 000000 2601")), legacy_player(), Admission::kAllowed},  // HEVC 12
      {metadata(0, 1), legacy_player(), Admission::kAllowed},
      {hevc_key(0), legacy_player(), Admission::kNeedsEnhancedRtmp},
      {hevc_key(0), ertmp_player({"av01"}, 0), Admission::kCodecNotAdvertised},
      {hevc_key(0), ertmp_player({"hvc1"}, 0), Admission::kAllowed},
      {hevc_key(0), ertmp_player({"*"}, 0), Admission::kAllowed},
      {hevc_key(0), forward_only, Admission::kAllowed},
      {hevc_key(0, 1), ertmp_player({"hvc1"}, 0), Admission::kMultitrackNotAdvertised},
      {hevc_key(0, 1), ertmp_player({"hvc1"}, kCapsExMultitrack), Admission::kAllowed},
      {nano_msg, ertmp_player({"hvc1"}, 0), Admission::kModExNotAdvertised},
      {nano_msg, ertmp_player({"hvc1"}, kCapsExModEx), Admission::kAllowed},
      {msg(9, 0, hex("91 7A7A7A31 00")), legacy_player(), Admission::kNeedsEnhancedRtmp},
      {msg(9, 0, hex("91 7A7A7A31 00")), ertmp_player({"*"}, 0), Admission::kCodecNotAdvertised},
      {msg(9, 0, hex("1F 00")), legacy_player(), Admission::kAllowed},  // unparsed, legacy look
  };
  for (size_t i = 0; i < std::size(rows); ++i) {
    EXPECT_EQ(admit_tag(*item(rows[i].m), rows[i].player), rows[i].want) << i;
  }
  EXPECT_STRNE(admission_reason(Admission::kNeedsEnhancedRtmp), "unknown");
}

TEST(PlayCache, AdmitAStreamWhenEveryMediaKindHasAPlayableTrack) {
  PlayCache legacy_stream;
  legacy_stream.push(avc_header(0));
  legacy_stream.push(aac_header(0));
  EXPECT_EQ(legacy_stream.admit(legacy_player()), Admission::kAllowed);

  PlayCache hevc_stream;
  hevc_stream.push(hevc_header(0));
  hevc_stream.push(aac_header(0));
  EXPECT_EQ(hevc_stream.admit(legacy_player()), Admission::kNeedsEnhancedRtmp);
  EXPECT_EQ(hevc_stream.admit(ertmp_player({"hvc1"}, 0)), Admission::kAllowed);
  EXPECT_EQ(hevc_stream.admit(ertmp_player({"av01"}, 0)), Admission::kCodecNotAdvertised);

  // AVC on track 0 plus an HEVC track 1: a legacy player still gets track 0.
  PlayCache mixed;
  mixed.push(avc_header(0));
  mixed.push(hevc_header(0, 1));
  EXPECT_EQ(mixed.admit(legacy_player()), Admission::kAllowed);
  // colorInfo metadata alone (E-RTMP video Metadata) does not decide playability.
  EXPECT_EQ(PlayCache().admit(legacy_player()), Admission::kAllowed);
}

// --- PlayerGate ----------------------------------------------------------------------------

struct GateFixture {
  PlayCache cache;
  SharedItem key = cache.push(avc_key(0));
  SharedItem inter = cache.push(avc_inter(33));
  SharedItem audio = cache.push(aac(40));
  SharedItem header = cache.push(avc_header(50));
  SharedItem md = cache.push(metadata(60, 1));
};

TEST(PlayerGate, VideoStartsAtAKeyframeAudioAtOnce) {
  GateFixture f;
  PlayerGate g;
  EXPECT_EQ(g.offer(*f.inter, 0, 0), GateVerdict::kSkip);
  EXPECT_EQ(g.offer(*f.audio, 0, 0), GateVerdict::kSend);
  EXPECT_EQ(g.offer(*f.header, 0, 0), GateVerdict::kSend);
  EXPECT_EQ(g.offer(*f.key, 0, 0), GateVerdict::kSend);
  EXPECT_EQ(g.offer(*f.inter, 0, 0), GateVerdict::kSend);
  g.restart();  // unpause / receiveVideo(true)
  EXPECT_EQ(g.offer(*f.inter, 0, 0), GateVerdict::kSkip);
  EXPECT_EQ(g.offer(*f.key, 0, 0), GateVerdict::kSend);
  EXPECT_EQ(g.skipped(), 2u);
}

TEST(PlayerGate, CutBackAtCutBytesNPlusOneAndResumeAtHalfAndAKeyframe) {
  PlayerGateLimits l;
  l.cut_bytes = 1000;
  l.drop_bytes = 100'000;
  for (size_t queued : {1000u, 1001u}) {
    GateFixture f;
    PlayerGate g(l);
    ASSERT_EQ(g.offer(*f.key, 0, 0), GateVerdict::kSend);
    EXPECT_EQ(g.offer(*f.inter, queued, 1),
              queued == 1000 ? GateVerdict::kSend : GateVerdict::kSkip);
    EXPECT_EQ(g.cut_back(), queued == 1001);
  }
  GateFixture f;
  PlayerGate g(l);
  ASSERT_EQ(g.offer(*f.key, 0, 0), GateVerdict::kSend);
  ASSERT_EQ(g.offer(*f.inter, 1001, 1), GateVerdict::kSkip);
  // Headers and metadata go even while cut back.
  EXPECT_EQ(g.offer(*f.header, 1001, 2), GateVerdict::kSend);
  EXPECT_EQ(g.offer(*f.md, 1001, 2), GateVerdict::kSend);
  // Above half the cut bound: still skipping (audio too).
  EXPECT_EQ(g.offer(*f.audio, 501, 3), GateVerdict::kSkip);
  EXPECT_EQ(g.offer(*f.key, 501, 3), GateVerdict::kSkip);
  // Drained to half: audio resumes, video waits for its keyframe.
  EXPECT_EQ(g.offer(*f.audio, 500, 4), GateVerdict::kSend);
  EXPECT_FALSE(g.cut_back());
  EXPECT_EQ(g.offer(*f.inter, 500, 5), GateVerdict::kSkip);
  EXPECT_EQ(g.offer(*f.key, 500, 6), GateVerdict::kSend);
  EXPECT_EQ(g.offer(*f.inter, 0, 7), GateVerdict::kSend);
}

TEST(PlayerGate, DropAtDropBytesNAndAfterDropAfterMsN) {
  PlayerGateLimits l;
  l.cut_bytes = 1000;
  l.drop_bytes = 5000;
  l.drop_after_ms = 2000;
  for (size_t queued : {4999u, 5000u}) {
    GateFixture f;
    PlayerGate g(l);
    EXPECT_EQ(g.offer(*f.header, queued, 0),
              queued == 5000 ? GateVerdict::kDrop : GateVerdict::kSend);
  }
  for (uint64_t after : {1999u, 2000u}) {
    GateFixture f;
    PlayerGate g(l);
    ASSERT_EQ(g.offer(*f.audio, 2000, 100), GateVerdict::kSkip);  // cut at t=100
    EXPECT_EQ(g.offer(*f.audio, 2000, 100 + after),
              after == 2000 ? GateVerdict::kDrop : GateVerdict::kSkip);
    if (after == 2000) {
      EXPECT_EQ(g.offer(*f.header, 0, 5000), GateVerdict::kDrop);  // for good
    }
  }
}

// --- end to end: publish into one ServerSession, play out of another through the cache ----

// A publisher pair whose media feeds the cache, and player pairs served from it, as a
// serving element drives them (see play_cache.h).
struct Relay {
  PlayCache cache;
  test::SessionPair publisher{test::client_config("rtmp://h/live/src"), ServerConfig{}};
  struct Player {
    std::unique_ptr<test::SessionPair> pair;
    uint32_t stream_id = 0;
    PeerCapabilities caps;
    PlayerGate gate;
    bool refused = false;
  };
  std::vector<std::unique_ptr<Player>> players;

  Relay() {
    publisher.on_server_event = [this](ServerSession& s, const ServerEvent& ev) {
      if (auto p = std::get_if<PublishRequested>(&ev)) {
        ASSERT_TRUE(s.accept_publish(p->stream_id).ok());
      } else if (auto m = std::get_if<MediaReceived>(&ev)) {
        forward(cache.push(MediaReceived(*m)));
      } else if (auto d = std::get_if<MetadataReceived>(&ev)) {
        forward(cache.push(Message(d->message)));
      }
    };
    EXPECT_TRUE(publisher.drive());
    EXPECT_TRUE(publisher.client.publishing());
  }
  void offer(Player& p, const SharedItem& item) {
    if (!item || p.stream_id == 0 || admit_tag(*item, p.caps) != Admission::kAllowed) return;
    size_t queued = p.pair->server.pending_output().size();
    if (p.gate.offer(*item, queued, p.pair->now) == GateVerdict::kSend) {
      ASSERT_TRUE(p.pair->server.send_media(p.stream_id, item->message).ok());
    }
  }
  void forward(const SharedItem& item) {
    for (auto& p : players) offer(*p, item);
  }
  Player& join(ClientConfig cc) {
    players.push_back(std::make_unique<Player>());
    Player& p = *players.back();
    p.pair = std::make_unique<test::SessionPair>(std::move(cc), ServerConfig{});
    p.pair->on_server_event = [this, &p](ServerSession& s, const ServerEvent& ev) {
      auto r = std::get_if<PlayRequested>(&ev);
      if (!r) return;
      Admission a = cache.admit(r->peer_caps);
      if (a != Admission::kAllowed) {
        p.refused = true;
        ASSERT_TRUE(
            s.reject_play(r->stream_id, PlayRejection::kNoSupportedTrack, admission_reason(a))
                .ok());
        return;
      }
      ASSERT_TRUE(s.accept_play(r->stream_id).ok());
      p.stream_id = r->stream_id;
      p.caps = r->peer_caps;
      for (const auto& item : cache.join()) offer(p, item);
    };
    EXPECT_TRUE(p.pair->drive());
    return p;
  }
  void publish(const Message& m) {
    Status st = m.type == 9 ? publisher.client.send_video(m.payload, m.timestamp)
                : m.type == 8
                    ? publisher.client.send_audio(m.payload, m.timestamp)
                    : publisher.client.send_message(MessageType::kDataAmf0, m.payload, m.timestamp);
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE(publisher.drive());
    for (auto& p : players) ASSERT_TRUE(p->pair->drive());
  }
};

std::vector<std::vector<uint8_t>> received_payloads(const test::SessionPair& p) {
  std::vector<std::vector<uint8_t>> out;
  for (const auto& ev : p.client_events) {
    if (auto m = std::get_if<MediaReceived>(&ev)) out.push_back(m->message.payload);
    if (auto d = std::get_if<MetadataReceived>(&ev)) out.push_back(d->message.payload);
  }
  return out;
}

TEST(PlayCache, EndToEndALateJoinerStartsWithHeadersAndAKeyframeThenLive) {
  Relay relay;
  std::vector<Message> before = {metadata(0, 640), avc_header(0), aac_header(0),
                                 avc_key(0),       aac(10),       avc_inter(33),
                                 avc_key(66),      aac(70),       avc_inter(99)};
  for (const auto& m : before) relay.publish(m);
  auto& early_bird = relay.join(test::play_config("rtmp://h/live/src"));
  ASSERT_TRUE(early_bird.pair->client.playing());
  std::vector<Message> after = {aac(110), avc_inter(132), avc_key(165), aac(170)};
  for (const auto& m : after) relay.publish(m);

  // What the player got: stripped metadata, headers, GOP from keyframe 66, then live; every
  // payload byte-identical to what the publisher sent, timestamps kept.
  std::vector<std::vector<uint8_t>> want = {
      std::vector<uint8_t>(before[0].payload.begin() + 16, before[0].payload.end()),
      before[1].payload,
      before[2].payload,
      before[6].payload,
      before[7].payload,
      before[8].payload};
  for (const auto& m : after) want.push_back(m.payload);
  EXPECT_EQ(received_payloads(*early_bird.pair), want);
  auto media = early_bird.pair->client_of<MediaReceived>();
  ASSERT_GE(media.size(), 3u);
  EXPECT_EQ(media[2].message.timestamp, 66u);
  EXPECT_TRUE(media[2].tag.units[0].keyframe);
  auto md = early_bird.pair->client_of<MetadataReceived>();
  ASSERT_EQ(md.size(), 1u);
  EXPECT_EQ(md[0].handler, "onMetaData");
  EXPECT_EQ(md[0].values[0].get_number("width"), 640.0);
}

TEST(PlayCache, EndToEndALegacyPlayerIsRefusedAnHevcStreamAnErtmpPlayerGetsIt) {
  Relay relay;
  for (const auto& m : {hevc_header(0), aac_header(0), hevc_key(0), aac(5)}) relay.publish(m);
  auto& legacy = relay.join(test::play_config("rtmp://h/live/src"));
  EXPECT_TRUE(legacy.refused);
  auto closed = legacy.pair->client_of<ClientClosed>();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].status_code, "NetStream.Play.NoSupportedTrackFound");
  EXPECT_NE(closed[0].error->detail.find("E-RTMP"), std::string::npos);

  auto cc = test::play_config("rtmp://h/live/src");
  cc.capabilities = default_server_capabilities();
  auto& modern = relay.join(cc);
  ASSERT_TRUE(modern.pair->client.playing());
  relay.publish(hevc_key(40));
  auto media = modern.pair->client_of<MediaReceived>();
  ASSERT_EQ(media.size(), 5u);  // hvc1 header, AAC header, key, audio, then the live key
  EXPECT_EQ(media[0].tag.units[0].codec, Codec::kHevc);
  EXPECT_EQ(media[4].message.timestamp, 40u);
}

}  // namespace
}  // namespace rtmp
