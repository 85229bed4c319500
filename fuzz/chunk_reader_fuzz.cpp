// Chunk reassembly fed in fuzzer-chosen pieces; every message is drained. The first byte picks
// the read size and the mode: receive() only, or the zero-copy loop a socket reader runs
// (direct_window()/commit_direct() when a window is open, else read_hint() bytes), which must
// end in the same messages as receive() alone.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "protocol/chunk_reader.h"

namespace {

rtmp::Limits limits() {
  rtmp::Limits l;
  l.max_message_size = 1 << 20;
  l.max_buffered_bytes = 4 << 20;
  return l;
}

std::vector<rtmp::Message> plain(const uint8_t* data, size_t size, size_t step) {
  rtmp::ChunkReader reader(limits());
  std::vector<rtmp::Message> out;
  for (size_t i = 0; i < size; i += step) {
    size_t n = step < size - i ? step : size - i;
    bool ok = reader.receive(rtmp::Bytes(data + i, n)).ok();
    while (auto m = reader.next_message()) out.push_back(std::move(*m));
    if (!ok) break;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool direct = data[0] & 0x80;
  const size_t step = size_t{data[0] & 0x7Fu} + 1;
  ++data;
  --size;
  auto want = plain(data, size, step);
  if (!direct) return 0;

  rtmp::ChunkReader reader(limits());
  std::vector<rtmp::Message> got;
  size_t pos = 0;
  bool ok = true;
  while (pos < size && ok) {
    size_t avail = size - pos < step ? size - pos : step;
    auto win = reader.direct_window(step);  // small windows, so that fuzz inputs open them
    size_t n;
    if (!win.empty()) {
      n = avail < win.size() ? avail : win.size();
      std::memcpy(win.data(), data + pos, n);
      ok = reader.commit_direct(n).ok();
    } else {
      size_t hint = reader.read_hint(step, step);
      if (hint == 0 || hint > step) abort();
      n = avail < hint ? avail : hint;
      ok = reader.receive(rtmp::Bytes(data + pos, n)).ok();
    }
    pos += n;
    while (auto m = reader.next_message()) got.push_back(std::move(*m));
  }
  // Same messages as receive() alone: the zero-copy path changes where bytes land, not what.
  if (got.size() != want.size()) abort();
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].payload != want[i].payload || got[i].timestamp != want[i].timestamp ||
        got[i].type != want[i].type || got[i].csid != want[i].csid) {
      abort();
    }
  }
  return 0;
}
