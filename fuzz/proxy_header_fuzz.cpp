// PROXY protocol headers (v1 text, v2 binary): the one-shot parser and the reader, fed the same
// bytes in two pieces split at a fuzzer-chosen point and (short inputs) byte by byte, must
// agree on the outcome and never take a byte past the header.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "protocol/proxy_header.h"

namespace {

struct Outcome {
  bool error = false;
  bool done = false;
  size_t used = 0;
  rtmp::ProxyHeader header;
};

Outcome feed(rtmp::Bytes in, size_t piece, const rtmp::Limits& limits) {
  Outcome o;
  rtmp::ProxyHeaderReader reader(limits);
  for (size_t at = 0; at < in.size() && !o.done;) {
    size_t n = std::min(piece ? piece : in.size(), in.size() - at);
    auto r = reader.receive(in.subspan(at, n));
    if (!r.ok()) {
      o.error = true;
      return o;
    }
    o.used += *r;
    at += n;
    o.done = reader.done();
  }
  if (o.done) o.header = reader.header();
  return o;
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  rtmp::Limits limits;
  limits.max_proxy_header_size = (data[0] & 1) ? 2048 : 256;
  rtmp::Bytes in(data + 1, size - 1);
  auto whole = rtmp::parse_proxy_header(in, limits);
  const bool complete = whole.ok() && whole->has_value();
  if (complete) {
    const rtmp::ProxyHeader& h = **whole;
    check(h.size <= in.size());
    check(h.size <= (h.version == 1 ? rtmp::kProxyV1MaxSize : limits.max_proxy_header_size));
  }
  const size_t split = in.empty() ? 0 : data[0] % in.size();
  Outcome pieces[2] = {feed(in, split, limits), feed(in, in.size() < 300 ? 1 : 0, limits)};
  for (const Outcome& o : pieces) {
    check(o.error == !whole.ok());
    check(o.done == complete);
    if (complete) {
      check(o.used == (*whole)->size);
      check(o.header.source.address == (*whole)->source.address);
      check(o.header.source.port == (*whole)->source.port);
      check(o.header.destination.address == (*whole)->destination.address);
      check(o.header.tlv_count == (*whole)->tlv_count);
    }
  }
  return 0;
}
