// ServerSession: a valid handshake prefix (so the fuzzer reaches the chunk/command layers),
// then arbitrary bytes; publishes are accepted so media paths run too, and plays are accepted
// (then fed media and every notice) or refused. The first input byte picks: bit 0 raw mode
// (no handshake prefix) to fuzz the handshake path as well; bit 1 refuse plays.
#include <cstddef>
#include <cstdint>

#include "protocol/handshake.h"
#include "protocol/server_session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  bool raw = data[0] & 1;
  bool refuse_plays = data[0] & 2;
  // Small caps: a declared 8 MiB message is reserved up front, and under ASan each such
  // reservation costs a shadow memset, which made this target run at ~150 exec/s. The cap
  // paths are the same code at any size, and the fuzzer reaches them more often this way.
  rtmp::ServerConfig config;
  config.limits.max_message_size = 256 * 1024;
  config.limits.max_buffered_bytes = 1024 * 1024;
  rtmp::ServerSession s(config, 0);
  if (!raw) {
    rtmp::ClientHandshake hs;
    std::vector<uint8_t> c0c1(hs.pending_output().begin(), hs.pending_output().end());
    (void)s.receive(c0c1, 0);
    std::vector<uint8_t> c2(rtmp::kHandshakeSize, 0);
    (void)s.receive(c2, 0);
  }
  rtmp::Message video;
  video.type = 9;
  video.payload = {0x17, 0x01, 0, 0, 0, 0, 0, 0, 1, 0x65};
  uint64_t now = 0;
  for (size_t i = 1; i < size && !s.closed(); i += 97) {
    size_t n = size - i < 97 ? size - i : 97;
    (void)s.receive(rtmp::Bytes(data + i, n), now += 10);
    while (auto ev = s.next_event()) {
      if (auto p = std::get_if<rtmp::PublishRequested>(&*ev)) {
        (void)s.accept_publish(p->stream_id);
      } else if (auto q = std::get_if<rtmp::PlayRequested>(&*ev)) {
        if (refuse_plays) {
          (void)s.reject_play(q->stream_id, rtmp::PlayRejection::kFailed, "no");
        } else {
          (void)s.accept_play(q->stream_id, rtmp::PlayAccept{.recorded = q->start >= 0});
          video.timestamp = now;
          (void)s.send_media(q->stream_id, video);
          (void)s.notify_play(q->stream_id, rtmp::PlayNotice::kDry);
          (void)s.play_state(q->stream_id);
        }
      } else if (auto k = std::get_if<rtmp::SeekRequested>(&*ev)) {
        (void)s.accept_seek(k->stream_id, k->position_ms);
        (void)s.send_media(k->stream_id, video);
      } else if (auto e = std::get_if<rtmp::PlayPaused>(&*ev)) {
        (void)s.send_media(e->stream_id, video);
        (void)s.notify_play(e->stream_id, e->paused ? rtmp::PlayNotice::kUnpublished
                                                    : rtmp::PlayNotice::kPublished);
      }
    }
    s.consume_output(s.pending_output().size());
  }
  s.handle_timeout(now + 1'000'000);
  return 0;
}
