// Regenerates the seed corpus in fuzz/corpus/ from the same builders the tests use.
// Run from the source root: build/fuzz/make_fuzz_seeds
#include <cstdio>
#include <fstream>
#include "protocol/aggregate.h"
#include "protocol/amf0.h"
#include "protocol/amf3.h"
#include "protocol/color_info.h"
#include "protocol/command.h"
#include "protocol/flv_file.h"
#include "protocol/flv_tag.h"
#include "protocol/handshake.h"
#include "tests/protocol/hdr10.h"
#include "tests/protocol/session_pair.h"
using namespace rtmp;
void put(const std::string& dir, const std::string& name, const std::vector<uint8_t>& b) {
  std::ofstream(("fuzz/corpus/" + dir + "/" + name).c_str(), std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
int main() {
  // AMF0: connect command, metadata
  Message c = build_command_message(make_command(
      "connect", 1,
      amf::Value::object({{"app", amf::Value("live")},
                          {"tcUrl", amf::Value("rtmp://h/live")},
                          {"fourCcList", amf::Value::strict_array({amf::Value("hvc1")})}}),
      {}));
  put("amf0", "connect", c.payload);
  put("amf0", "metadata",
      build_set_data_frame(
          amf::Value::object({{"width", amf::Value(1280.0)}, {"d", amf::Value(amf::Date{1.0, 0})}}))
          .payload);
  put("amf0", "reference", {0x03, 0, 1, 'a', 0, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0x07, 0, 0});
  put("amf0", "avmplus", {0x11, 0x0A, 0x0B, 0x01, 0x03, 'a', 0x04, 0x01, 0x01});
  // AMF3
  {
    amf::Object o;
    o.class_name = "Pt";
    o.dynamic = true;
    o.sealed_count = 1;
    o.properties = {{"x", amf::Value::integer(1)}, {"dyn", amf::Value("s")}};
    amf::MixedArray arr;
    arr.dense = {amf::Value(o), amf::Value(o), amf::Value(amf::ByteArray{{1, 2}})};
    std::vector<uint8_t> out;
    ByteWriter w(out);
    amf3::encode(amf::Value(arr), w);
    put("amf3", "objects", out);
    amf::Dictionary d;
    d.entries = {{amf::Value("k"), amf::Value(1.0)}};
    amf::Vector v;
    v.kind = amf::Vector::Kind::kDouble;
    v.items = {amf::Value(2.0)};
    out.clear();
    amf3::encode(amf::Value(d), w);
    amf3::encode(amf::Value(v), w);
    put("amf3", "dict_vector", out);
  }
  // handshake
  {
    ClientHandshake h;
    std::vector<uint8_t> b(h.pending_output().begin(), h.pending_output().end());
    b.insert(b.begin(), 0x10);
    put("handshake", "plain", b);
  }
  {
    HandshakeOptions o;
    o.digest = true;
    ClientHandshake h(o);
    std::vector<uint8_t> b(h.pending_output().begin(), h.pending_output().end());
    b.insert(b.begin(), 0x11);
    put("handshake", "digest", b);
  }
  // a real publish via the in-memory pair
  test::SessionPair p(test::client_config("rtmp://h/live/k?t=1"), ServerConfig{}, 1 << 20);
  p.on_server_event = [](ServerSession& s, const ServerEvent& ev) {
    if (auto r = std::get_if<PublishRequested>(&ev)) (void)s.accept_publish(r->stream_id);
  };
  p.drive();
  std::vector<uint8_t> nal(3000, 0x65);
  VideoTagSpec vs;
  vs.units = {{0, Codec::kAvc, 33, nal}};
  std::vector<uint8_t> vt;
  (void)build_video_tag(vs, vt);
  VideoTagSpec hs;
  hs.multitrack = AvMultitrackType::kManyTracksManyCodecs;
  hs.units = {{0, Codec::kHevc, 0, nal}, {1, Codec::kAv1, 0, nal}};
  std::vector<uint8_t> ht;
  (void)build_video_tag(hs, ht);
  std::vector<uint8_t> aac = {1, 2, 3, 4};
  AudioTagSpec as;
  as.units = {{0, Codec::kAac, 0, aac}};
  std::vector<uint8_t> at;
  (void)build_audio_tag(as, at);
  AudioTagSpec os;
  os.nano_offset = 500;
  os.units = {{0, Codec::kOpus, 0, aac}};
  std::vector<uint8_t> ot;
  (void)build_audio_tag(os, ot);
  (void)p.client.send_metadata(amf::Value::object({{"width", amf::Value(1.0)}}), 0);
  for (int i = 0; i < 3; ++i) {
    (void)p.client.send_video(vt, 33u * i);
    (void)p.client.send_audio(at, 21u * i);
    (void)p.client.send_video(ht, 33u * i + 1);
    (void)p.client.send_audio(ot, 21u * i + 1);
  }
  p.client.stop();
  p.drive();
  std::vector<uint8_t> c2s = p.c2s_log;
  std::vector<uint8_t> after(c2s.begin() + 1 + 2 * 1536, c2s.end());
  {
    std::vector<uint8_t> b = {0x7F};
    b.insert(b.end(), after.begin(), after.end());
    put("chunk_reader", "publish", b);
  }
  {
    std::vector<uint8_t> b = {0x00};
    b.insert(b.end(), after.begin(), after.end());
    put("server_session", "publish", b);
  }
  {
    std::vector<uint8_t> b = {0x01};
    b.insert(b.end(), c2s.begin(), c2s.begin() + 1537);
    put("server_session", "raw_handshake", b);
  }
  std::vector<uint8_t> s2c(p.s2c_log.begin() + 1 + 2 * 1536, p.s2c_log.end());
  put("client_session", "replies", s2c);
  put("flv_tag", "avc", vt);
  put("flv_tag", "multitrack", ht);
  put("flv_tag", "aac", at);
  put("flv_tag", "opus_modex", ot);
  put("flv_tag", "hvc_seq", {0x90, 'h', 'v', 'c', '1', 1, 2, 3});
  put("flv_tag", "mc", {0x94, 'O', 'p', 'u', 's', 2, 2, 0, 1});
  // E-RTMP Metadata: HDR10 colorInfo (the body alone and as tags on tracks 0 and 2), a reset.
  {
    const ColorInfo hdr = test::hdr10_color_info();
    std::vector<uint8_t> body;
    build_video_metadata(hdr, body);
    put("color_info", "hdr10", body);
    body.clear();
    build_video_metadata(ColorInfo{}, body);
    put("color_info", "reset", body);
    std::vector<uint8_t> tag;
    (void)build_color_info_tag(Codec::kHevc, 0, hdr, tag);
    put("flv_tag", "metadata_hdr10", tag);
    tag.clear();
    (void)build_color_info_tag(Codec::kAv1, 2, hdr, tag);
    put("flv_tag", "metadata_track2", tag);
  }
  put("flv_tag", "mpeg2ts_av1", {0x95, 'a', 'v', '0', '1', 0x80, 4, 0x81, 0x28, 0xC0, 0x93});
  std::vector<uint8_t> f;
  FlvWriter::write_header(f, true, true);
  FlvWriter::write_tag(f, 9, 0, vt);
  FlvWriter::write_tag(f, 8, 5, at);
  FlvWriter::write_tag(f, 9, 40, ht);
  put("flv_file", "small", f);
  Message m1;
  m1.type = 9;
  m1.timestamp = 10;
  m1.payload = vt;
  Message m2;
  m2.type = 8;
  m2.timestamp = 30;
  m2.payload = at;
  put("aggregate", "two", build_aggregate({m1, m2}).payload);

  // Play: a player ClientSession against our ServerSession, every play feature once.
  {
    auto pc = test::client_config("rtmp://h/live/k?t=1");
    pc.role = ClientRole::kPlay;
    pc.capabilities = default_server_capabilities();
    test::SessionPair pp(pc, ServerConfig{}, 1 << 20);
    uint32_t sid = 0;
    pp.on_server_event = [&sid](ServerSession& s, const ServerEvent& ev) {
      if (auto r = std::get_if<PlayRequested>(&ev)) {
        sid = r->stream_id;
        (void)s.accept_play(r->stream_id, PlayAccept{.recorded = true});
      }
      if (auto k = std::get_if<SeekRequested>(&ev)) (void)s.accept_seek(k->stream_id, 0);
    };
    pp.drive();
    Message md = build_set_data_frame(amf::Value::object({{"width", amf::Value(2.0)}}));
    (void)pp.server.send_media(sid, md);
    for (const Message* m : {&m1, &m2}) (void)pp.server.send_media(sid, *m);
    Message agg = build_aggregate({m1, m2});
    (void)pp.server.send_media(sid, agg);
    Message hv;
    hv.type = 9;
    hv.payload = ht;
    (void)pp.server.send_media(sid, hv);
    (void)pp.server.notify_play(sid, PlayNotice::kDry);
    (void)pp.server.notify_play(sid, PlayNotice::kUnpublished);
    (void)pp.server.notify_play(sid, PlayNotice::kPublished);
    pp.drive();
    (void)pp.client.pause(true, 5);
    (void)pp.client.pause(false, 5);
    (void)pp.client.seek(100);
    (void)pp.client.receive_audio(false);
    (void)pp.client.set_buffer_length(1000);
    Play2Options o;
    o.stream_name = "k2";
    (void)pp.client.play2(o);
    pp.drive();
    (void)pp.server.notify_play(sid, PlayNotice::kStopped);
    pp.client.stop();
    pp.drive();
    std::vector<uint8_t> play_s2c(pp.s2c_log.begin() + 1 + 2 * 1536, pp.s2c_log.end());
    put("client_session", "play", play_s2c);
    std::vector<uint8_t> play_c2s(pp.c2s_log.begin() + 1 + 2 * 1536, pp.c2s_log.end());
    std::vector<uint8_t> b = {0x00};
    b.insert(b.end(), play_c2s.begin(), play_c2s.end());
    put("server_session", "play", b);
    b[0] = 0x02;  // refuse plays
    put("server_session", "play_refused", b);
  }
  // PlayCache: sel u8 | ts delta u8 | len u16 | payload, a stream with metadata, headers,
  // two GOPs, multitrack and data.
  {
    std::vector<uint8_t> seed;
    auto add = [&seed](uint8_t sel, uint8_t delta, const std::vector<uint8_t>& body) {
      seed.push_back(sel);
      seed.push_back(delta);
      seed.push_back(static_cast<uint8_t>(body.size() >> 8));
      seed.push_back(static_cast<uint8_t>(body.size()));
      seed.insert(seed.end(), body.begin(), body.end());
    };
    add(2, 0, build_set_data_frame(amf::Value::object({{"width", amf::Value(1.0)}})).payload);
    add(1, 0, {0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1F, 0xFF, 0xE1});
    add(0, 0, {0xAF, 0, 0x12, 0x10});
    add(1, 0, std::vector<uint8_t>(vt.begin(), vt.begin() + 200));
    add(0, 10, at);
    add(1, 23, {0x27, 1, 0, 0, 0, 0x41});
    add(1, 10, {0x90, 'h', 'v', 'c', '1', 1, 2});
    add(1, 0, std::vector<uint8_t>(ht.begin(), ht.begin() + 300));
    add(0, 5, ot);
    add(2, 0, build_data_message("onTextData", {amf::Value("x")}).payload);
    add(1, 33, std::vector<uint8_t>(vt.begin(), vt.begin() + 200));
    add(2, 0, build_data_message("@clearDataFrame", {}).payload);
    add(1, 1, {0x17, 2, 0, 0, 0});
    put("play_cache", "stream", seed);
  }
  printf("ok\n");
}
