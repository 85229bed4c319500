// PlayCache + admit_tag + PlayerGate: a stream of published messages parsed from the input,
//   type selector u8 (0 audio, 1 video, 2 data AMF0, 3 data AMF3, else ignored) | timestamp
//   delta u8 | length u16 | payload
// pushed in order; every eighth message a player joins (join() through admit_tag for a
// legacy and an E-RTMP player, and a PlayerGate fed queue sizes from the input).
#include <cstddef>
#include <cstdint>

#include "protocol/byte_reader.h"
#include "protocol/play_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rtmp::PlayCacheLimits limits;
  limits.max_gop_bytes = 64 * 1024;  // reach the bounds often
  limits.max_gop_ms = 2000;
  limits.max_header_entries = 8;
  limits.max_gop_messages = 256;
  rtmp::PlayCache cache(limits);
  rtmp::PeerCapabilities legacy;
  rtmp::PeerCapabilities ertmp = rtmp::default_server_capabilities();
  rtmp::PlayerGateLimits gl;
  gl.cut_bytes = 1000;
  gl.drop_bytes = 60'000;
  gl.drop_after_ms = 500;
  rtmp::PlayerGate gate(gl);
  rtmp::ByteReader r(rtmp::Bytes(data, size));
  uint64_t ts = 0;
  size_t count = 0;
  while (!r.empty()) {
    auto sel = r.u8();
    auto delta = r.u8();
    auto len = r.u16be();
    if (!sel.ok() || !delta.ok() || !len.ok()) break;
    auto body = r.bytes(std::min<size_t>(*len, r.remaining()));
    if (!body.ok()) break;
    static constexpr uint8_t kTypes[] = {8, 9, 18, 15};
    rtmp::Message m;
    m.type = *sel < 4 ? kTypes[*sel] : *sel;
    ts += *delta;
    m.timestamp = ts;
    m.payload.assign(body->begin(), body->end());
    rtmp::SharedItem item = cache.push(std::move(m));
    if (item) {
      (void)rtmp::admit_tag(*item, legacy);
      if (rtmp::admit_tag(*item, ertmp) == rtmp::Admission::kAllowed) {
        (void)gate.offer(*item, *len * 20u, ts);
      }
    }
    if (++count % 8 == 0) {
      (void)cache.admit(legacy);
      (void)cache.admit(ertmp);
      rtmp::PlayerGate joiner;
      for (const auto& i : cache.join()) {
        if (rtmp::admit_tag(*i, legacy) == rtmp::Admission::kAllowed) {
          (void)joiner.offer(*i, 0, ts);
        }
      }
      (void)cache.bytes();
    }
  }
  cache.reset();
  return 0;
}
