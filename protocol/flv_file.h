// FLV files (FLV 10.1 Annex E.2-E.3), streaming reader and writer.
//
//   header:   'F' 'L' 'V' | version 1 | flags: 0x04 audio, 0x01 video | data offset u32 (9)
//   then:     PreviousTagSize0 u32 (0), then per tag:
//   tag:      reserved:2 filter:1 TagType:5 | DataSize u24 | Timestamp u24 | TimestampExtended u8
//             | StreamID u24 (0) | body (DataSize bytes) | PreviousTagSize u32 (11 + DataSize)
// The timestamp is SI32 in ms: the extended byte is the upper 8 bits (ertmp-wire.md B.4 #2).
// Real files carry wrong PreviousTagSize values now and then (ffmpeg after a failed write,
// concatenations): the reader reports them as warnings, not errors.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "protocol/byte_reader.h"
#include "protocol/error.h"
#include "protocol/limits.h"

namespace rtmp {

struct FlvHeader {
  uint8_t version = 1;
  bool has_audio = false;
  bool has_video = false;
  uint32_t data_offset = 9;
};

struct FlvFileTag {
  uint8_t type = 0;       // 8 audio, 9 video, 18 script
  bool filter = false;    // encrypted (FLV 10.1 E.4.1): we do not decrypt
  int64_t timestamp = 0;  // ms, sign-extended SI32
  uint32_t stream_id = 0;
  std::vector<uint8_t> body;
  uint64_t file_offset = 0;  // of the tag header
};

class FlvReader {
 public:
  explicit FlvReader(const Limits& limits = Limits{}) : limits_(limits) {}

  // Consumes bytes; complete tags queue up for next_tag(). On error (bad signature, a tag over
  // max_message_size, ...) the error is returned now and on every later call; tags completed
  // before it stay available.
  Status receive(Bytes data);
  std::optional<FlvFileTag> next_tag();
  const std::optional<FlvHeader>& header() const { return header_; }
  // Back-pointer mismatches seen so far (each also described in warnings()).
  const std::vector<std::string>& warnings() const { return warnings_; }
  // True when no partial tag is pending (a clean end of file).
  bool at_boundary() const { return buf_.size() == pos_; }
  // True when the header and the last PreviousTagSize were read and nothing is pending: the
  // next byte starts a tag (a caller may split whole tags itself meanwhile).
  bool at_tag_start() const { return header_ && !need_prev_size_ && at_boundary(); }
  uint64_t bytes_consumed() const { return consumed_; }

 private:
  Status parse();
  Limits limits_;
  std::vector<uint8_t> buf_;
  size_t pos_ = 0;
  uint64_t consumed_ = 0;  // file offset of buf_[pos_]
  std::optional<FlvHeader> header_;
  bool need_prev_size_ = false;
  uint32_t expected_prev_size_ = 0;
  std::deque<FlvFileTag> tags_;
  std::vector<std::string> warnings_;
  std::optional<Error> error_;
};

// Appends FLV bytes to `out`.
class FlvWriter {
 public:
  static void write_header(std::vector<uint8_t>& out, bool has_audio, bool has_video);
  // Writes one tag and its PreviousTagSize. Timestamps are written as SI32 (mod 2^32).
  static void write_tag(std::vector<uint8_t>& out, uint8_t type, int64_t timestamp, Bytes body);
};

}  // namespace rtmp
