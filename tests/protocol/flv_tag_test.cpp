#include "protocol/flv_tag.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/protocol/test_util.h"

namespace rtmp {
namespace {

using test::bytes_of;
using test::cat;
using test::hex;

FlvTag parse_ok(TagType t, const std::vector<uint8_t>& b) {
  auto r = parse_flv_tag(t, b);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().to_string());
  return r.ok() ? *r : FlvTag{};
}

std::vector<uint8_t> payload_of(const std::vector<uint8_t>& body, const MediaUnit& u) {
  return std::vector<uint8_t>(body.begin() + static_cast<long>(u.offset),
                              body.begin() + static_cast<long>(u.offset + u.size));
}

std::vector<uint8_t> build_video(const VideoTagSpec& s) {
  std::vector<uint8_t> out;
  EXPECT_TRUE(build_video_tag(s, out).ok());
  return out;
}
std::vector<uint8_t> build_audio(const AudioTagSpec& s) {
  std::vector<uint8_t> out;
  EXPECT_TRUE(build_audio_tag(s, out).ok());
  return out;
}

const std::vector<uint8_t> kConfig = hex("01 64 00 1F FF E1");
const std::vector<uint8_t> kNalus = hex("00000005 6588840021");

// ---- legacy ------------------------------------------------------------------------------

TEST(FlvTag, LegacyAvcSequenceHeaderAndFrameFromTheTable) {
  auto seq = cat({hex("17 00 000000"), kConfig});
  auto t = parse_ok(TagType::kVideo, seq);
  ASSERT_EQ(t.units.size(), 1u);
  EXPECT_FALSE(t.enhanced);
  EXPECT_EQ(t.units[0].codec, Codec::kAvc);
  EXPECT_EQ(t.units[0].packet, PacketKind::kSequenceStart);
  EXPECT_EQ(payload_of(seq, t.units[0]), kConfig);

  auto frame = cat({hex("27 01 FFFFD8"), kNalus});  // inter frame, CT -40
  t = parse_ok(TagType::kVideo, frame);
  EXPECT_FALSE(t.units[0].keyframe);
  EXPECT_EQ(t.units[0].composition_time, -40);
  EXPECT_EQ(payload_of(frame, t.units[0]), kNalus);

  VideoTagSpec s;
  s.packet = VideoPacketType::kSequenceStart;
  s.units = {{0, Codec::kAvc, 0, kConfig}};
  EXPECT_EQ(build_video(s), seq);
  s.frame_type = VideoFrameType::kInter;
  s.packet = VideoPacketType::kCodedFrames;
  s.units = {{0, Codec::kAvc, -40, kNalus}};
  EXPECT_EQ(build_video(s), frame);
}

TEST(FlvTag, DeFactoHevcCodecId12IsParsed) {
  auto t = parse_ok(TagType::kVideo, cat({hex("1C 01 000021"), kNalus}));
  EXPECT_EQ(t.units[0].codec, Codec::kHevc);
  EXPECT_EQ(t.units[0].composition_time, 33);
}

TEST(FlvTag, EveryLegacyVideoCodecId) {
  for (int id : {2, 3, 4, 5, 6}) {
    std::vector<uint8_t> b = {static_cast<uint8_t>(0x10 | id), 0xAA, 0xBB};
    auto t = parse_ok(TagType::kVideo, b);
    EXPECT_EQ(legacy_video_codec_id(t.units[0].codec), static_cast<uint8_t>(id));
    EXPECT_EQ(t.units[0].size, 2u);
  }
  for (int id : {0, 1, 8, 9, 10, 11, 13, 14, 15}) {
    std::vector<uint8_t> b = {static_cast<uint8_t>(0x10 | id), 0xAA};
    auto r = parse_flv_tag(TagType::kVideo, b);
    ASSERT_FALSE(r.ok()) << int(id);
    EXPECT_EQ(r.error().code, Errc::kUnsupported);
  }
}

TEST(FlvTag, LegacyAacAndEverySoundFormat) {
  auto asc = hex("1210");
  auto seq = cat({hex("AF 00"), asc});
  auto t = parse_ok(TagType::kAudio, seq);
  EXPECT_EQ(t.units[0].codec, Codec::kAac);
  EXPECT_EQ(t.units[0].packet, PacketKind::kSequenceStart);
  EXPECT_EQ(t.units[0].sound_rate, 3);
  EXPECT_EQ(t.units[0].sound_type, 1);
  EXPECT_EQ(payload_of(seq, t.units[0]), asc);
  AudioTagSpec s;
  s.packet = AudioPacketType::kSequenceStart;
  s.units = {{0, Codec::kAac, 0, asc}};
  EXPECT_EQ(build_audio(s), seq);

  for (int f : {0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 14, 15}) {
    std::vector<uint8_t> b = {static_cast<uint8_t>((f << 4) | 0x0E), 0x11, 0x22};
    auto u = parse_ok(TagType::kAudio, b).units[0];
    EXPECT_EQ(legacy_sound_format(u.codec), static_cast<uint8_t>(f));
    EXPECT_EQ(u.sound_rate, 3);
    EXPECT_EQ(u.sound_size, 1);
    EXPECT_EQ(u.sound_type, 0);
    EXPECT_EQ(u.size, 2u);
  }
  for (int f : {12, 13}) {
    std::vector<uint8_t> b = {static_cast<uint8_t>(f << 4), 0};
    EXPECT_EQ(parse_flv_tag(TagType::kAudio, b).error().code, Errc::kUnsupported);
  }
}

TEST(FlvTag, ZeroLengthAudioIsSilenceNotAnError) {
  auto t = parse_ok(TagType::kAudio, {});
  ASSERT_EQ(t.units.size(), 1u);
  EXPECT_EQ(t.units[0].packet, PacketKind::kSilence);
}

// ---- E-RTMP video ------------------------------------------------------------------------

TEST(FlvTag, ExVideoExamplesFromTheReference) {
  // 90 'hvc1' <hvcC>: key SequenceStart
  auto seq = cat({hex("90"), bytes_of("hvc1"), kConfig});
  auto t = parse_ok(TagType::kVideo, seq);
  EXPECT_TRUE(t.enhanced);
  EXPECT_EQ(t.units[0].codec, Codec::kHevc);
  EXPECT_EQ(t.units[0].packet, PacketKind::kSequenceStart);
  EXPECT_TRUE(t.units[0].keyframe);
  EXPECT_EQ(payload_of(seq, t.units[0]), kConfig);

  // 91 'hvc1' <CT:3> <NALUs>: key CodedFrames with CT
  auto cf = cat({hex("91"), bytes_of("hvc1"), hex("000042"), kNalus});
  t = parse_ok(TagType::kVideo, cf);
  EXPECT_EQ(t.units[0].composition_time, 0x42);
  EXPECT_EQ(payload_of(cf, t.units[0]), kNalus);

  // A3 'hvc1' <NALUs>: inter CodedFramesX, CT 0
  auto fx = cat({hex("A3"), bytes_of("hvc1"), kNalus});
  t = parse_ok(TagType::kVideo, fx);
  EXPECT_FALSE(t.units[0].keyframe);
  EXPECT_EQ(t.units[0].composition_time, 0);
  EXPECT_EQ(payload_of(fx, t.units[0]), kNalus);

  // 92 'av01': SequenceEnd, empty
  auto end = cat({hex("92"), bytes_of("av01")});
  t = parse_ok(TagType::kVideo, end);
  EXPECT_EQ(t.units[0].codec, Codec::kAv1);
  EXPECT_EQ(t.units[0].packet, PacketKind::kSequenceEnd);
  EXPECT_EQ(t.units[0].size, 0u);

  // Build the same bytes.
  VideoTagSpec s;
  s.packet = VideoPacketType::kSequenceStart;
  s.units = {{0, Codec::kHevc, 0, kConfig}};
  EXPECT_EQ(build_video(s), seq);
  s.packet = VideoPacketType::kCodedFrames;
  s.units = {{0, Codec::kHevc, 0x42, kNalus}};
  EXPECT_EQ(build_video(s), cf);
  s.packet = VideoPacketType::kSequenceEnd;
  s.units = {{0, Codec::kAv1, 0, {}}};
  EXPECT_EQ(build_video(s), end);
}

TEST(FlvTag, Av1AndVp9CodedFramesHaveNoCompositionTime) {
  for (const char* f : {"av01", "vp09", "vp08"}) {
    auto b = cat({hex("91"), bytes_of(f), hex("0A0B0C")});
    auto t = parse_ok(TagType::kVideo, b);
    EXPECT_EQ(t.units[0].size, 3u) << f;
    EXPECT_EQ(t.units[0].composition_time, 0) << f;
  }
}

TEST(FlvTag, MultitrackOneTrackManyTracksManyCodecs) {
  // 96 01 'hvc1' 01 <CT:3> <NALUs>: OneTrack, track 1
  auto one = cat({hex("96 01"), bytes_of("hvc1"), hex("01 000000"), kNalus});
  auto t = parse_ok(TagType::kVideo, one);
  ASSERT_EQ(t.units.size(), 1u);
  EXPECT_EQ(t.multitrack, AvMultitrackType::kOneTrack);
  EXPECT_EQ(t.units[0].track_id, 1);
  EXPECT_EQ(payload_of(one, t.units[0]), kNalus);

  // 96 11 'hvc1' 00 <len:3> <CT><data> 01 <len:3> <CT><data>
  auto a = hex("AA BB"), b = hex("CC");
  auto many =
      cat({hex("96 11"), bytes_of("hvc1"), hex("00 000005 000000"), a, hex("01 000004 000001"), b});
  t = parse_ok(TagType::kVideo, many);
  ASSERT_EQ(t.units.size(), 2u);
  EXPECT_EQ(t.units[1].track_id, 1);
  EXPECT_EQ(t.units[1].composition_time, 1);
  EXPECT_EQ(payload_of(many, t.units[0]), a);
  EXPECT_EQ(payload_of(many, t.units[1]), b);

  // 96 21 'hvc1' 00 <len> ... 'av01' 01 <len> ...
  auto mixed = cat({hex("96 21"), bytes_of("hvc1"), hex("00 000005 000000"), a, bytes_of("av01"),
                    hex("01 000001"), b});
  t = parse_ok(TagType::kVideo, mixed);
  ASSERT_EQ(t.units.size(), 2u);
  EXPECT_EQ(t.units[0].codec, Codec::kHevc);
  EXPECT_EQ(t.units[1].codec, Codec::kAv1);
  EXPECT_EQ(payload_of(mixed, t.units[1]), b);

  // And build all three.
  VideoTagSpec s;
  s.multitrack = AvMultitrackType::kOneTrack;
  s.units = {{1, Codec::kHevc, 0, kNalus}};
  EXPECT_EQ(build_video(s), one);
  s.multitrack = AvMultitrackType::kManyTracks;
  s.units = {{0, Codec::kHevc, 0, a}, {1, Codec::kHevc, 1, b}};
  EXPECT_EQ(build_video(s), many);
  s.multitrack = AvMultitrackType::kManyTracksManyCodecs;
  s.units = {{0, Codec::kHevc, 0, a}, {1, Codec::kAv1, 0, b}};
  EXPECT_EQ(build_video(s), mixed);
}

TEST(FlvTag, TrackSizeLargerThanTheBodyIsAnError) {
  auto bad = cat({hex("96 11"), bytes_of("hvc1"), hex("00 0000FF 000000 AA")});
  auto r = parse_flv_tag(TagType::kVideo, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kTruncated);
}

TEST(FlvTag, ModExTimestampOffsetNano) {
  // 97 | size-1=2 | 0F423F (999999 ns) | ModExType 0, next packet type 1 | 'avc1' CT frames
  auto b = cat({hex("97 02 0F423F 01"), bytes_of("avc1"), hex("000000"), kNalus});
  auto t = parse_ok(TagType::kVideo, b);
  EXPECT_EQ(t.units[0].nano_offset, 999999u);
  EXPECT_EQ(t.units[0].packet, PacketKind::kCodedFrames);
  EXPECT_EQ(payload_of(b, t.units[0]), kNalus);
  VideoTagSpec s;
  s.nano_offset = 999999;
  s.units = {{0, Codec::kAvc, 0, kNalus}};
  EXPECT_EQ(build_video(s), b);
}

TEST(FlvTag, ModExWithSixteenBitSizeAndUnknownTypeIsSkipped) {
  std::vector<uint8_t> data(300, 0x11);
  auto b = cat({hex("97 FF 012B"), data, hex("51"), bytes_of("vp09"), hex("AB")});
  auto t = parse_ok(TagType::kVideo, b);
  EXPECT_EQ(t.units[0].nano_offset, 0u);  // ModExType 5 unknown: skipped
  EXPECT_EQ(t.units[0].size, 1u);
}

TEST(FlvTag, MetadataIgnoresTheFrameTypeBits) {
  // OBS: 84 'hvc1' <AMF>; ffmpeg: D4 'hvc1' <AMF>.
  for (const char* head : {"84", "D4"}) {
    auto b = cat({hex(head), bytes_of("hvc1"), hex("02 0009"), bytes_of("colorInfo")});
    auto t = parse_ok(TagType::kVideo, b);
    EXPECT_EQ(t.units[0].packet, PacketKind::kMetadata) << head;
    EXPECT_EQ(t.units[0].size, 12u);
  }
}

TEST(FlvTag, VideoCommandFrame) {
  auto t = parse_ok(TagType::kVideo, hex("D1 01"));  // Ex, frame type 5, packet 1 -> command
  EXPECT_EQ(t.units[0].packet, PacketKind::kCommand);
  EXPECT_EQ(t.units[0].video_command, 1);
  t = parse_ok(TagType::kVideo, hex("57 00"));  // legacy info frame
  EXPECT_EQ(t.units[0].packet, PacketKind::kCommand);
}

TEST(FlvTag, UnknownFourCcAndReservedPacketTypesAreSkippable) {
  auto r = parse_flv_tag(TagType::kVideo, cat({hex("91"), bytes_of("xyz1"), hex("00")}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnsupported);
  EXPECT_NE(r.error().detail.find("xyz1"), std::string::npos);
  r = parse_flv_tag(TagType::kVideo, cat({hex("98"), bytes_of("avc1")}));
  EXPECT_EQ(r.error().code, Errc::kUnsupported);
  r = parse_flv_tag(TagType::kAudio, cat({hex("93"), bytes_of("Opus")}));
  EXPECT_EQ(r.error().code, Errc::kUnsupported);
}

// ---- E-RTMP audio ------------------------------------------------------------------------

TEST(FlvTag, ExAudioEveryFourCc) {
  for (const char* f : {"mp4a", "Opus", "fLaC", "ac-3", "ec-3", ".mp3"}) {
    auto b = cat({hex("91"), bytes_of(f), hex("0102")});
    auto t = parse_ok(TagType::kAudio, b);
    EXPECT_TRUE(t.enhanced);
    EXPECT_EQ(fourcc_string(codec_fourcc(t.units[0].codec)), f);
    EXPECT_EQ(t.units[0].size, 2u);
    const auto data = hex("0102");  // UnitSpec::payload is a view: keep the bytes alive
    AudioTagSpec s;
    s.force_enhanced = true;
    s.units = {{0, t.units[0].codec, 0, data}};
    EXPECT_EQ(build_audio(s), b) << f;
  }
}

TEST(FlvTag, MultichannelConfigAllOrders) {
  auto custom = cat({hex("94"), bytes_of("Opus"), hex("02 03 00 01 03")});
  auto t = parse_ok(TagType::kAudio, custom);
  EXPECT_EQ(t.units[0].packet, PacketKind::kMultichannelConfig);
  EXPECT_EQ(t.units[0].multichannel.order, AudioChannelOrder::kCustom);
  EXPECT_EQ(t.units[0].multichannel.channels, hex("00 01 03"));
  auto native = cat({hex("94"), bytes_of("Opus"), hex("01 06 0000003F")});
  t = parse_ok(TagType::kAudio, native);
  EXPECT_EQ(t.units[0].multichannel.mask, 0x3Fu);
  EXPECT_EQ(t.units[0].multichannel.channel_count, 6);
  AudioTagSpec s;
  s.packet = AudioPacketType::kMultichannelConfig;
  s.multichannel.order = AudioChannelOrder::kNative;
  s.multichannel.channel_count = 6;
  s.multichannel.mask = 0x3F;
  s.units = {{0, Codec::kOpus, 0, {}}};
  EXPECT_EQ(build_audio(s), native);
}

TEST(FlvTag, AudioMultitrackObsStyle) {
  // OBS sends tracks >= 1 as OneTrack Ex messages: 95 | 01 (OneTrack, CodedFrames) 'mp4a' 02 data
  auto b = cat({hex("95 01"), bytes_of("mp4a"), hex("02 2122")});
  auto t = parse_ok(TagType::kAudio, b);
  EXPECT_EQ(t.units[0].track_id, 2);
  EXPECT_EQ(t.units[0].codec, Codec::kAac);
  EXPECT_EQ(payload_of(b, t.units[0]), hex("2122"));
}

TEST(FlvTag, NestedMultitrackIsMalformed) {
  auto r = parse_flv_tag(TagType::kVideo, cat({hex("96 06"), bytes_of("hvc1")}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kMalformed);
}

TEST(FlvTag, BuilderRejectsWhatTheFormatCannotCarry) {
  std::vector<uint8_t> out;
  VideoTagSpec s;
  s.units = {{0, Codec::kVp6, 0, kNalus}};
  s.multitrack = AvMultitrackType::kOneTrack;
  EXPECT_FALSE(build_video_tag(s, out).ok());  // VP6 has no FourCC
  VideoTagSpec two;
  two.units = {{0, Codec::kAvc, 0, kNalus}, {1, Codec::kAvc, 0, kNalus}};
  EXPECT_FALSE(build_video_tag(two, out).ok());  // two units without ManyTracks
  AudioTagSpec a;
  a.units = {{0, Codec::kSpeex, 0, kNalus}};
  a.force_enhanced = true;
  EXPECT_FALSE(build_audio_tag(a, out).ok());
}

TEST(FlvTag, TruncationAtEveryOffsetNeverCrashes) {
  std::vector<std::vector<uint8_t>> samples = {
      cat({hex("17 01 000010"), kNalus}),
      cat({hex("97 02 0F423F 01"), bytes_of("avc1"), hex("000000"), kNalus}),
      cat({hex("96 21"), bytes_of("hvc1"), hex("00 000005 000000 AABB"), bytes_of("av01"),
           hex("01 000001 CC")}),
      cat({hex("94"), bytes_of("Opus"), hex("02 03 00 01 03")}),
  };
  for (const auto& s : samples) {
    for (size_t n = 1; n < s.size(); ++n) {
      auto r = parse_flv_tag(TagType::kVideo, Bytes(s).first(n));
      if (r.ok()) {
        for (const auto& u : r->units) EXPECT_LE(u.offset + u.size, n);
      }
      (void)parse_flv_tag(TagType::kAudio, Bytes(s).first(n));
    }
  }
}

TEST(FlvTag, GarbageNeverCrashesAndViewsStayInBounds) {
  std::mt19937 rng(5);
  for (int i = 0; i < 20000; ++i) {
    auto b = test::random_bytes(rng, rng() % 40);
    for (TagType t : {TagType::kAudio, TagType::kVideo}) {
      auto r = parse_flv_tag(t, b);
      if (r.ok()) {
        for (const auto& u : r->units) ASSERT_LE(u.offset + u.size, b.size());
      }
    }
  }
}

// ---- ModEx TimestampOffsetNano, building ---------------------------------------------------

TEST(FlvTag, ModExNanoOnAudio) {
  // 97 | size-1=2 | 0003E8 (1000 ns) | ModExType 0, next AudioPacketType 1 | 'Opus' data
  const auto data = hex("FC FF FE");
  auto b = cat({hex("97 02 0003E8 01"), bytes_of("Opus"), data});
  AudioTagSpec s;
  s.nano_offset = 1000;
  s.units = {{0, Codec::kOpus, 0, data}};
  EXPECT_EQ(build_audio(s), b);
  auto t = parse_ok(TagType::kAudio, b);
  EXPECT_EQ(t.units[0].nano_offset, 1000u);
  EXPECT_EQ(t.units[0].codec, Codec::kOpus);
  EXPECT_EQ(payload_of(b, t.units[0]), data);
}

TEST(FlvTag, ModExNanoAroundOneTrackMultitrack) {
  // ModEx first, its next packet type is Multitrack (6); then OneTrack | CodedFrames, FourCC,
  // trackId, CT: 97 02 0F423F 06 | 01 'hvc1' 02 000021 <NALUs>
  auto b = cat({hex("97 02 0F423F 06 01"), bytes_of("hvc1"), hex("02 000021"), kNalus});
  VideoTagSpec s;
  s.nano_offset = 999'999;
  s.multitrack = AvMultitrackType::kOneTrack;
  s.units = {{2, Codec::kHevc, 0x21, kNalus}};
  EXPECT_EQ(build_video(s), b);
  std::vector<uint8_t> head;
  ASSERT_TRUE(build_video_tag_header(s, head).ok());
  EXPECT_EQ(head, std::vector<uint8_t>(b.begin(), b.end() - static_cast<long>(kNalus.size())));
  auto t = parse_ok(TagType::kVideo, b);
  ASSERT_EQ(t.units.size(), 1u);
  EXPECT_EQ(t.units[0].nano_offset, 999'999u);
  EXPECT_EQ(t.units[0].track_id, 2);
  EXPECT_EQ(t.units[0].composition_time, 0x21);
  EXPECT_EQ(payload_of(b, t.units[0]), kNalus);
}

TEST(FlvTag, ModExNanoAboveTheSpecMaximumIsRefused) {
  VideoTagSpec s;
  s.units = {{0, Codec::kHevc, 0, kNalus}};
  s.nano_offset = kMaxNanoOffset;
  std::vector<uint8_t> out;
  EXPECT_TRUE(build_video_tag(s, out).ok());
  s.nano_offset = kMaxNanoOffset + 1;
  EXPECT_EQ(build_video_tag(s, out).error().code, Errc::kInvalidArgument);
  AudioTagSpec a;
  a.units = {{0, Codec::kOpus, 0, kNalus}};
  a.nano_offset = 1'000'000;
  EXPECT_EQ(build_audio_tag(a, out).error().code, Errc::kInvalidArgument);
}

TEST(FlvTag, SplitTimestampKeepsTheSubMillisecondPart) {
  static_assert(split_timestamp_ns(1'234'567'891) == SplitTimestamp{1234, 567'891});
  // 29.97 fps (1001/30000 s a frame): the RTMP millisecond timestamps jitter by up to a
  // millisecond; ms * 1e6 + nano gives every frame time back exactly.
  for (uint64_t i = 0; i < 3000; ++i) {
    uint64_t ns = i * 1'001'000'000'000ull / 30'000'000ull;
    SplitTimestamp st = split_timestamp_ns(ns);
    ASSERT_LE(st.nano, kMaxNanoOffset);
    ASSERT_EQ(st.ms * 1'000'000 + st.nano, ns) << i;
  }
  EXPECT_EQ(split_timestamp_ns(33'366'666), (SplitTimestamp{33, 366'666}));
}

// ---- multitrack packing --------------------------------------------------------------------

TEST(FlvTag, MultitrackFormForUnitsOfOneInstant) {
  EXPECT_EQ(multitrack_form({}), std::nullopt);
  EXPECT_EQ(multitrack_form({{0, Codec::kHevc, 0, {}}}), std::nullopt);
  EXPECT_EQ(multitrack_form({{3, Codec::kHevc, 0, {}}}), AvMultitrackType::kOneTrack);
  EXPECT_EQ(multitrack_form({{0, Codec::kHevc, 0, {}}, {1, Codec::kHevc, 0, {}}}),
            AvMultitrackType::kManyTracks);
  EXPECT_EQ(multitrack_form({{0, Codec::kHevc, 0, {}}, {1, Codec::kAv1, 0, {}}}),
            AvMultitrackType::kManyTracksManyCodecs);
}

TEST(FlvTag, AudioManyTracksAndManyCodecsByteTables) {
  const auto a = hex("AA BB"), b = hex("CC");
  // 95 | 11 (ManyTracks, CodedFrames) 'mp4a' | 00 000002 AABB | 01 000001 CC
  auto many = cat({hex("95 11"), bytes_of("mp4a"), hex("00 000002"), a, hex("01 000001"), b});
  AudioTagSpec s;
  s.units = {{0, Codec::kAac, 0, a}, {1, Codec::kAac, 0, b}};
  s.multitrack = multitrack_form(s.units);
  EXPECT_EQ(build_audio(s), many);
  // 95 | 21 (ManyTracksManyCodecs, CodedFrames) | 'Opus' 00 000002 AABB | 'mp4a' 01 000001 CC
  auto mixed = cat(
      {hex("95 21"), bytes_of("Opus"), hex("00 000002"), a, bytes_of("mp4a"), hex("01 000001"), b});
  s.units = {{0, Codec::kOpus, 0, a}, {1, Codec::kAac, 0, b}};
  s.multitrack = multitrack_form(s.units);
  EXPECT_EQ(build_audio(s), mixed);
  for (const auto* body : {&many, &mixed}) {
    auto t = parse_ok(TagType::kAudio, *body);
    ASSERT_EQ(t.units.size(), 2u);
    EXPECT_EQ(t.units[0].track_id, 0);
    EXPECT_EQ(t.units[1].track_id, 1);
    EXPECT_EQ(payload_of(*body, t.units[0]), a);
    EXPECT_EQ(payload_of(*body, t.units[1]), b);
  }
  EXPECT_EQ(parse_ok(TagType::kAudio, mixed).units[0].codec, Codec::kOpus);
}

TEST(FlvTag, ManyTracksSequenceStartCarriesEveryTracksConfig) {
  const auto c0 = hex("01 02 03"), c1 = hex("01 04");
  // 90|6 key Multitrack | 10 (ManyTracks, SequenceStart) 'hvc1' | 00 000003 c0 | 05 000002 c1
  auto b = cat({hex("96 10"), bytes_of("hvc1"), hex("00 000003"), c0, hex("05 000002"), c1});
  VideoTagSpec s;
  s.packet = VideoPacketType::kSequenceStart;
  s.units = {{0, Codec::kHevc, 0, c0}, {5, Codec::kHevc, 0, c1}};
  s.multitrack = multitrack_form(s.units);
  EXPECT_EQ(build_video(s), b);
  auto t = parse_ok(TagType::kVideo, b);
  ASSERT_EQ(t.units.size(), 2u);
  EXPECT_EQ(t.units[1].packet, PacketKind::kSequenceStart);
  EXPECT_EQ(t.units[1].track_id, 5);
  EXPECT_EQ(payload_of(b, t.units[1]), c1);
}

// Every packing of three tracks at one instant comes back from the parser unit for unit.
TEST(FlvTag, ManyTracksRoundTripThroughTheParser) {
  const std::vector<std::vector<uint8_t>> payloads = {hex("0000000165AA"), hex("0101"), {}};
  const Codec codecs[][3] = {{Codec::kHevc, Codec::kHevc, Codec::kHevc},
                             {Codec::kHevc, Codec::kAv1, Codec::kAvc},
                             {Codec::kVp9, Codec::kVp8, Codec::kVvc}};
  for (const auto& cs : codecs) {
    for (VideoPacketType pkt : {VideoPacketType::kCodedFrames, VideoPacketType::kCodedFramesX,
                                VideoPacketType::kSequenceStart}) {
      VideoTagSpec s;
      s.frame_type = VideoFrameType::kInter;
      s.packet = pkt;
      for (uint8_t i = 0; i < 3; ++i) {
        s.units.push_back({static_cast<uint8_t>(i * 2), cs[i], -5 * i, payloads[i]});
      }
      s.multitrack = multitrack_form(s.units);
      auto b = build_video(s);
      auto t = parse_ok(TagType::kVideo, b);
      ASSERT_EQ(t.units.size(), 3u);
      EXPECT_EQ(t.multitrack, s.multitrack);
      for (size_t i = 0; i < 3; ++i) {
        const MediaUnit& u = t.units[i];
        EXPECT_EQ(u.track_id, s.units[i].track_id);
        EXPECT_EQ(u.codec, cs[i]);
        EXPECT_FALSE(u.keyframe);
        bool ct = pkt == VideoPacketType::kCodedFrames &&
                  (cs[i] == Codec::kHevc || cs[i] == Codec::kAvc || cs[i] == Codec::kVvc);
        EXPECT_EQ(u.composition_time, ct ? -5 * static_cast<int>(i) : 0);
        EXPECT_EQ(payload_of(b, u), payloads[i]);
      }
    }
  }
}

TEST(FlvTag, MultitrackBuilderRefusesWhatItCannotCarry) {
  std::vector<uint8_t> out;
  VideoTagSpec twice;
  twice.multitrack = AvMultitrackType::kManyTracks;
  twice.units = {{1, Codec::kHevc, 0, kNalus}, {1, Codec::kHevc, 0, kNalus}};
  EXPECT_EQ(build_video_tag(twice, out).error().code, Errc::kInvalidArgument);
  AudioTagSpec no_fourcc;
  no_fourcc.multitrack = AvMultitrackType::kManyTracksManyCodecs;
  no_fourcc.units = {{0, Codec::kAac, 0, kNalus}, {1, Codec::kSpeex, 0, kNalus}};
  EXPECT_EQ(build_audio_tag(no_fourcc, out).error().code, Errc::kInvalidArgument);
  VideoTagSpec audio_in_video;
  audio_in_video.multitrack = AvMultitrackType::kManyTracksManyCodecs;
  audio_in_video.units = {{0, Codec::kHevc, 0, kNalus}, {1, Codec::kOpus, 0, kNalus}};
  EXPECT_EQ(build_video_tag(audio_in_video, out).error().code, Errc::kInvalidArgument);
  EXPECT_TRUE(out.empty());
}

// ---- the packet types the elements do not turn into frames ---------------------------------

TEST(FlvTag, SequenceEndInEveryForm) {
  struct Case {
    TagType type;
    std::vector<uint8_t> body;
    Codec codec;
    uint8_t track;
  };
  const Case cases[] = {
      {TagType::kVideo, hex("17 02 000000"), Codec::kAvc, 0},                  // legacy AVC
      {TagType::kVideo, cat({hex("92"), bytes_of("hvc1")}), Codec::kHevc, 0},  // Ex
      {TagType::kVideo, cat({hex("96 02"), bytes_of("av01"), hex("03")}), Codec::kAv1, 3},
      {TagType::kAudio, cat({hex("92"), bytes_of("Opus")}), Codec::kOpus, 0},
      {TagType::kAudio, cat({hex("95 02"), bytes_of("mp4a"), hex("01")}), Codec::kAac, 1},
  };
  for (const auto& c : cases) {
    auto t = parse_ok(c.type, c.body);
    ASSERT_EQ(t.units.size(), 1u);
    EXPECT_EQ(t.units[0].packet, PacketKind::kSequenceEnd);
    EXPECT_EQ(t.units[0].codec, c.codec);
    EXPECT_EQ(t.units[0].track_id, c.track);
    EXPECT_EQ(t.units[0].size, 0u);
  }
  VideoTagSpec v;
  v.packet = VideoPacketType::kSequenceEnd;
  v.units = {{0, Codec::kAvc, 0, {}}};
  EXPECT_EQ(build_video(v), cases[0].body);
  v.units = {{3, Codec::kAv1, 0, {}}};
  v.multitrack = AvMultitrackType::kOneTrack;
  EXPECT_EQ(build_video(v), cases[2].body);
  AudioTagSpec a;
  a.packet = AudioPacketType::kSequenceEnd;
  a.units = {{0, Codec::kOpus, 0, {}}};
  EXPECT_EQ(build_audio(a), cases[3].body);
  a.units = {{1, Codec::kAac, 0, {}}};
  a.multitrack = AvMultitrackType::kOneTrack;
  EXPECT_EQ(build_audio(a), cases[4].body);
}

TEST(FlvTag, Mpeg2TsSequenceStartIsForAv1Only) {
  // AV1 video descriptor (AOM "Carriage of AV1 in MPEG-2 TS" §4.1): tag 0x80, length 4, then
  // marker|version, profile|level, tier..chroma position, hdr_wcg_idc|delay.
  const auto desc = hex("80 04 81 08 0C 00");
  auto b = cat({hex("95"), bytes_of("av01"), desc});
  auto t = parse_ok(TagType::kVideo, b);
  EXPECT_EQ(t.units[0].packet, PacketKind::kMpeg2TsSequenceStart);
  EXPECT_EQ(payload_of(b, t.units[0]), desc);
  VideoTagSpec s;
  s.packet = VideoPacketType::kMpeg2TsSequenceStart;
  s.units = {{0, Codec::kAv1, 0, desc}};
  EXPECT_EQ(build_video(s), b);

  auto r = parse_flv_tag(TagType::kVideo, cat({hex("95"), bytes_of("hvc1"), desc}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnsupported);  // skipped with a warning, never misread
  s.units = {{0, Codec::kHevc, 0, desc}};
  std::vector<uint8_t> out;
  EXPECT_EQ(build_video_tag(s, out).error().code, Errc::kInvalidArgument);
}

TEST(FlvTag, VideoCommandFramesEveryForm) {
  // Ex, frame type 5, packet type 1: one VideoCommand byte, no FourCC (0 StartSeek, 1 EndSeek).
  auto t = parse_ok(TagType::kVideo, hex("D1 00"));
  EXPECT_EQ(t.units[0].packet, PacketKind::kCommand);
  EXPECT_EQ(t.units[0].video_command, 0);
  EXPECT_FALSE(t.units[0].keyframe);
  // ModEx before the command: D7 02 000001 01 | 01
  t = parse_ok(TagType::kVideo, hex("D7 02 000001 01 01"));
  EXPECT_EQ(t.units[0].packet, PacketKind::kCommand);
  EXPECT_EQ(t.units[0].video_command, 1);
  EXPECT_EQ(t.units[0].nano_offset, 1u);
  // A Multitrack packet with frame type 5 is a command too (the check precedes Multitrack).
  t = parse_ok(TagType::kVideo, hex("D6 01"));
  EXPECT_EQ(t.units[0].packet, PacketKind::kCommand);
  EXPECT_EQ(t.units[0].video_command, 1);
  // A command byte missing is truncation, not a command.
  EXPECT_EQ(parse_flv_tag(TagType::kVideo, hex("D1")).error().code, Errc::kTruncated);

  VideoTagSpec s;
  s.frame_type = VideoFrameType::kCommand;
  s.video_command = 1;
  s.units = {{0, Codec::kHevc, 0, {}}};
  EXPECT_EQ(build_video(s), hex("D1 01"));
  s.units = {{0, Codec::kAvc, 0, {}}};
  EXPECT_EQ(build_video(s), hex("57 01"));  // legacy AVC info/command frame
}

TEST(FlvTag, SilenceIsOnlyTheEmptyAudioMessage) {
  auto t = parse_ok(TagType::kAudio, {});
  ASSERT_EQ(t.units.size(), 1u);
  EXPECT_EQ(t.units[0].packet, PacketKind::kSilence);
  EXPECT_FALSE(t.units[0].video);
  EXPECT_EQ(t.units[0].size, 0u);
  EXPECT_EQ(t.units[0].codec, Codec::kUnknown);
  // An empty video message, or an Ex audio header alone, is truncation.
  EXPECT_EQ(parse_flv_tag(TagType::kVideo, {}).error().code, Errc::kTruncated);
  EXPECT_EQ(parse_flv_tag(TagType::kAudio, hex("91")).error().code, Errc::kTruncated);
  // A legacy header with no data is an empty frame, not silence.
  t = parse_ok(TagType::kAudio, hex("2E"));
  EXPECT_EQ(t.units[0].packet, PacketKind::kCodedFrames);
  EXPECT_EQ(t.units[0].codec, Codec::kMp3);
}

TEST(FlvTag, TagHeaderPlusPayloadIsTheWholeTag) {
  const std::vector<uint8_t> payload = {0, 0, 0, 5, 0x65, 1, 2, 3, 4};
  auto check_video = [&](VideoTagSpec spec) {
    spec.units[0].payload = payload;
    std::vector<uint8_t> whole, head;
    ASSERT_TRUE(build_video_tag(spec, whole).ok());
    ASSERT_TRUE(build_video_tag_header(spec, head).ok());
    head.insert(head.end(), payload.begin(), payload.end());
    EXPECT_EQ(head, whole);
  };
  auto check_audio = [&](AudioTagSpec spec) {
    spec.units[0].payload = payload;
    std::vector<uint8_t> whole, head;
    ASSERT_TRUE(build_audio_tag(spec, whole).ok());
    ASSERT_TRUE(build_audio_tag_header(spec, head).ok());
    head.insert(head.end(), payload.begin(), payload.end());
    EXPECT_EQ(head, whole);
  };
  VideoTagSpec v;
  v.units = {UnitSpec{0, Codec::kAvc, 40, {}}};
  check_video(v);  // legacy AVC with CT
  v.units = {UnitSpec{0, Codec::kHevc, -33, {}}};
  check_video(v);  // E-RTMP CodedFrames with SI24 CT
  v.units = {UnitSpec{2, Codec::kAv1, 0, {}}};
  v.multitrack = AvMultitrackType::kOneTrack;
  check_video(v);  // multitrack OneTrack: FourCC, trackId
  v.nano_offset = 1234;
  check_video(v);  // ModEx prefix
  AudioTagSpec a;
  a.units = {UnitSpec{0, Codec::kAac, 0, {}}};
  check_audio(a);  // legacy AAC
  a.units = {UnitSpec{1, Codec::kOpus, 0, {}}};
  a.multitrack = AvMultitrackType::kOneTrack;
  check_audio(a);
  // ManyTracks carries sizes that depend on the payloads: no header of its own.
  a.multitrack = AvMultitrackType::kManyTracks;
  a.units = {UnitSpec{0, Codec::kOpus, 0, {}}, UnitSpec{1, Codec::kOpus, 0, {}}};
  std::vector<uint8_t> out;
  EXPECT_EQ(build_audio_tag_header(a, out).error().code, Errc::kInvalidArgument);
}

}  // namespace
}  // namespace rtmp
