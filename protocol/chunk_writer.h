// Chunk stream writer (Adobe RTMP spec 2012 §5.3): splits messages into chunks of the current
// outgoing chunk size and picks the most compact header per chunk stream:
//   type 0  first message on the csid, another message stream id, or a timestamp going back
//   type 1  length or type changed
//   type 2  only the timestamp delta changed
//   type 3  same length, type and delta as the previous message (only after a type 1/2 header,
//           where every reader agrees on what "the delta" is), and every continuation chunk
// Timestamps of 0xFFFFFF and above use the extended field, repeated on type-3 continuation
// chunks as §5.3.1.3 requires. Layout: see chunk_reader.h.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "protocol/byte_reader.h"
#include "protocol/message.h"

namespace rtmp {

class ChunkWriter {
 public:
  // Switches the outgoing chunk size. The caller sends make_set_chunk_size(n) first (in the
  // old size); every message written after this call uses n. n is clamped to [1, 0x7FFFFFFF].
  void set_chunk_size(uint32_t n);
  uint32_t chunk_size() const { return chunk_size_; }

  // Appends the chunks of one message (header fields from `m`, payload `payload`) to `out`.
  // csid must be in [2, 65599]. The timestamp is sent mod 2^32.
  void write(const Message& m, std::vector<uint8_t>& out) { write(m, m.payload, out); }
  void write(const Message& header, Bytes payload, std::vector<uint8_t>& out) {
    write(header, payload, Bytes(), out);
  }
  // The payload in two parts (a tag header built here and media bytes owned by the caller),
  // chunked as if they were one: the media is copied once, straight into `out`.
  void write(const Message& header, Bytes head, Bytes tail, std::vector<uint8_t>& out) {
    write(header, head, tail, out, nullptr);
  }
  // Zero-copy: as above, but the tail is not copied at all. Only the chunk headers (and `head`)
  // go into `out`; every run of tail bytes is listed in `borrowed` with the offset in `out` it
  // goes before, for a vectored send. The tail must outlive the send.
  struct Borrowed {
    size_t at;
    Bytes bytes;
  };
  void write(const Message& header, Bytes head, Bytes tail, std::vector<uint8_t>& out,
             std::vector<Borrowed>* borrowed);

 private:
  struct State {
    bool initialized = false;
    bool delta_valid = false;  // last header was type 1/2 (type 3 may start a message)
    uint32_t stream_id = 0;
    uint32_t length = 0;
    uint8_t type = 0;
    uint32_t timestamp = 0;
    uint32_t delta = 0;
  };
  uint32_t chunk_size_ = 128;
  std::unordered_map<uint32_t, State> states_;
};

}  // namespace rtmp
