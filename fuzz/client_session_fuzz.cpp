// ClientSession: arbitrary server bytes after a valid S0S1S2, once in each role. The play
// role also issues every player command once it plays, so the stream paths (media, data
// statuses, aggregates, stream controls) and the command builders all run.
#include <cstddef>
#include <cstdint>

#include "protocol/client_session.h"
#include "protocol/handshake.h"

namespace {

void run(rtmp::ClientRole role, const uint8_t* data, size_t size) {
  rtmp::ClientConfig cc;
  cc.role = role;
  // Small caps for speed under ASan (see server_session_fuzz.cpp); same code paths.
  cc.limits.max_message_size = 256 * 1024;
  cc.limits.max_buffered_bytes = 1024 * 1024;
  cc.url = *rtmp::parse_url("rtmp://h/live/k");
  rtmp::ClientSession c(cc, 0);
  std::vector<uint8_t> s012(1 + 2 * rtmp::kHandshakeSize, 0);
  s012[0] = 3;
  (void)c.receive(s012, 0);
  // Fed in pieces so messages split across receive() calls too.
  bool commanded = false;
  for (size_t i = 0; i < size && !c.closed(); i += 211) {
    size_t n = size - i < 211 ? size - i : 211;
    (void)c.receive(rtmp::Bytes(data + i, n), 1 + i);
    while (c.next_event()) {
    }
    if (c.playing() && !commanded) {
      commanded = true;
      (void)c.pause(true, 10);
      (void)c.seek(20);
      (void)c.receive_audio(false);
      (void)c.receive_video(true);
      (void)c.set_buffer_length(100);
      (void)c.play2(rtmp::Play2Options{});
    }
    c.consume_output(c.pending_output().size());
  }
  c.handle_timeout(1'000'000);
  c.stop();
  while (c.next_event()) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  run(rtmp::ClientRole::kPublish, data, size);
  run(rtmp::ClientRole::kPlay, data, size);
  return 0;
}
