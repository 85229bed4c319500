// Server and client handshakes fed arbitrary bytes, split at a fuzzer-chosen point.
#include <cstddef>
#include <cstdint>

#include "protocol/handshake.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t split = data[0] % (size + 1);
  rtmp::Bytes in(data, size);
  rtmp::ServerHandshake server;
  auto a = server.receive(in.first(split));
  if (a.ok()) (void)server.receive(in.subspan(split));
  rtmp::HandshakeOptions o;
  o.digest = (data[0] & 1) != 0;
  rtmp::ClientHandshake client(o);
  auto b = client.receive(in.first(split));
  if (b.ok()) (void)client.receive(in.subspan(split));
  return 0;
}
