// Chunk stream reassembly (Adobe RTMP spec 2012 §5.3).
//
//   basic header (1-3 bytes)   fmt:2 | csid:6        csid 0 -> +1 byte (64..319),
//                                                    csid 1 -> +2 bytes LE (64..65599)
//   message header, by fmt:
//     0 (11 bytes)  timestamp:24 | length:24 | type:8 | stream id:32 LE
//     1 ( 7 bytes)  delta:24     | length:24 | type:8
//     2 ( 3 bytes)  delta:24
//     3 ( 0 bytes)
//   extended timestamp (4 bytes)  present when the 24-bit field is 0xFFFFFF; on a type-3
//                                 chunk when the last type 0/1/2 header of the csid had one
//   chunk data (min(chunk size, bytes left in the message))
//
// Decisions where the spec is silent or peers disagree (ertmp-wire.md B.4):
//  - Type-3 continuation after an extended timestamp: the spec says the 4 bytes repeat; OBS's
//    librtmp (before obs#10097) and ffmpeg may omit them. Like SRS, we look at the 4 bytes and
//    consume them only when they equal the expected extended timestamp; otherwise they are
//    payload.
//  - A type-3 chunk that starts a new message re-uses the csid's last delta; after a type-0
//    header that "delta" is the type-0 timestamp field, as ffmpeg's and librtmp's readers do.
//  - A fresh csid may start with type 0 or type 1 (librtmp sends type 1 first, SRS accepts it);
//    type 2 or 3 on a csid never seen is an error (its length is unknown).
//  - Timestamps are unwrapped per csid to 64 bits: a forward step is the unsigned 32-bit
//    difference (so the 2^32 wrap keeps counting), a backward step of less than 2^31 moves back.
// Set Chunk Size (1) and Abort (2) are applied here as soon as they are reassembled, because
// they change how the following bytes parse; they are still emitted as messages.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "protocol/byte_reader.h"
#include "protocol/error.h"
#include "protocol/limits.h"
#include "protocol/message.h"

namespace rtmp {

class ChunkReader {
 public:
  explicit ChunkReader(const Limits& limits);
  ~ChunkReader();

  // Consumes all of `data`: whole chunks are parsed, a partial header is kept (at most 18
  // bytes), partial payload goes straight into its message. Completed messages queue up for
  // next_message(). On a peer fault the error is returned (offset = connection byte offset)
  // and every later call returns it again; messages completed before the fault stay queued.
  Status receive(Bytes data);

  std::optional<Message> next_message();
  bool has_message() const { return !ready_.empty(); }

  // Changes the message-size and buffered-bytes bounds for messages that start from now on
  // (ServerSession tightens them until a publish is accepted, see Limits).
  void set_message_limits(uint32_t max_message_size, size_t max_buffered_bytes) {
    limits_.max_message_size = max_message_size;
    limits_.max_buffered_bytes = max_buffered_bytes;
  }

  // Incoming chunk size (128 until the peer's Set Chunk Size).
  uint32_t chunk_size() const { return chunk_size_; }
  // Bytes consumed so far (for acknowledgements).
  uint64_t bytes_received() const { return bytes_received_; }
  // Bytes of partially reassembled messages currently held.
  size_t buffered_bytes() const { return buffered_; }

 private:
  struct ChunkStream;
  ChunkStream* stream_for(uint32_t csid, bool create);
  // Parses one header from `h`. Returns bytes consumed, 0 when more bytes are needed.
  Result<size_t> parse_header(Bytes h, uint64_t offset);
  Status complete_message(ChunkStream& cs, uint64_t offset);
  Error fail(Error e);

  Limits limits_;
  uint32_t chunk_size_ = 128;
  uint64_t bytes_received_ = 0;
  size_t buffered_ = 0;
  size_t declared_ = 0;  // declared lengths of the messages being reassembled (reserved)
  std::optional<Error> error_;

  // The chunk whose payload is being read: its stream and the bytes left of this chunk.
  ChunkStream* current_ = nullptr;
  uint32_t chunk_left_ = 0;

  uint8_t header_buf_[18];
  size_t header_len_ = 0;

  std::unordered_map<uint32_t, std::unique_ptr<ChunkStream>> streams_;
  ChunkStream* last_ = nullptr;  // one-entry cache: consecutive chunks are usually on one csid
  std::deque<Message> ready_;
};

}  // namespace rtmp
