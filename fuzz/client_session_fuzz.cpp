// ClientSession: arbitrary server bytes after a valid S0S1S2.
#include <cstddef>
#include <cstdint>

#include "protocol/client_session.h"
#include "protocol/handshake.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rtmp::ClientConfig cc;
  // Small caps for speed under ASan (see server_session_fuzz.cpp); same code paths.
  cc.limits.max_message_size = 256 * 1024;
  cc.limits.max_buffered_bytes = 1024 * 1024;
  cc.url = *rtmp::parse_url("rtmp://h/live/k");
  rtmp::ClientSession c(cc, 0);
  std::vector<uint8_t> s012(1 + 2 * rtmp::kHandshakeSize, 0);
  s012[0] = 3;
  (void)c.receive(s012, 0);
  (void)c.receive(rtmp::Bytes(data, size), 1);
  while (c.next_event()) {
  }
  return 0;
}
