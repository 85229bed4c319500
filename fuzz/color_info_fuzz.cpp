// E-RTMP video Metadata bodies (colorInfo): parsing never crashes, and whatever parses builds
// back into bytes that parse to the same colorInfo (so a sink can relay what an ingest read).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/color_info.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto md = rtmp::parse_video_metadata(rtmp::Bytes(data, size));
  if (!md.ok() || !md->color_info) return 0;
  std::vector<uint8_t> rebuilt;
  rtmp::build_video_metadata(*md->color_info, rebuilt);
  auto again = rtmp::parse_video_metadata(rebuilt);
  if (!again.ok() || again->color_info != md->color_info) std::abort();
  return 0;
}
