// ClientSession: arbitrary server bytes after a valid S0S1S2.
#include <cstddef>
#include <cstdint>

#include "protocol/client_session.h"
#include "protocol/handshake.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rtmp::ClientConfig cc;
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
