// Every bound the protocol library enforces on peer input (STYLE rule 4).
//
// Each field has a default, names what it bounds, the worst-case memory it allows, and the
// attack it stops. Decoders check a bound *before* allocating; nothing reserves a size a peer
// declared without checking it here first.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rtmp {

struct Limits {
  // Largest RTMP message (24-bit length field, so at most 16 MiB - 1) accepted on one chunk
  // stream. Stops: a header declaring 16 MiB to make us buffer it. Memory: one message per open
  // chunk stream, reserved at its declared size when it starts (one copy, no regrowth); the
  // sum of those reservations is bounded by max_buffered_bytes.
  uint32_t max_message_size = 8u * 1024 * 1024;

  // Sum of the declared lengths of the messages being reassembled across all chunk streams of
  // a connection (their buffers are reserved at the declared size). Stops: many chunk streams
  // each holding an almost complete large message, or each declaring max_message_size and
  // sending one byte of it.
  size_t max_buffered_bytes = 32u * 1024 * 1024;

  // The same two bounds while the peer has no accepted publish or play yet (ServerSession applies
  // them until then). An unauthenticated peer needs only commands: connect with E-RTMP
  // capabilities is about 1 KiB. Stops: many connections that have not even sent `connect`
  // each declaring large messages (max_bytes_before_connect bounds what they send, not what
  // their declarations make us reserve). Memory per such connection: at most
  // max_buffered_bytes_before_publish of reassembly buffers.
  uint32_t max_message_size_before_publish = 64u * 1024;
  size_t max_buffered_bytes_before_publish = 128u * 1024;

  // Accepted range for a peer's Set Chunk Size. The spec allows 1..0x7FFFFFFF; 0 and values
  // with the top bit set are protocol errors. A huge chunk size costs no memory by itself
  // (message size bounds that), so the upper bound is generous.
  uint32_t min_chunk_size = 1;
  uint32_t max_chunk_size = 0x00FFFFFF;

  // Chunk stream ids open at once (each carries header state and maybe a partial message).
  // Stops: a peer cycling through 65599 csids to grow our tables. Real publishers use < 10
  // (OBS multitrack a few more).
  size_t max_chunk_streams = 64;

  // AMF nesting depth (objects, arrays) and total values in one decoded message.
  // Stops: stack exhaustion by deep nesting (depth bomb) and billion-laughs style expansion.
  size_t amf_max_depth = 32;
  size_t amf_max_elements = 65536;
  // Largest single AMF string/byte array/array count declared by a peer before we read it.
  uint32_t amf_max_string = 1u * 1024 * 1024;

  // Bytes a peer may send before `connect` completes / before `publish` is accepted.
  // Stops: unauthenticated peers pushing data we must parse and buffer.
  uint64_t max_bytes_before_connect = 64u * 1024;
  uint64_t max_bytes_before_publish = 1u * 1024 * 1024;

  // Session deadlines, milliseconds (0 = none). Stop slow-loris peers holding sockets open.
  uint64_t handshake_timeout_ms = 10'000;
  uint64_t connect_to_publish_timeout_ms = 30'000;
  uint64_t idle_timeout_ms = 60'000;

  // Largest PROXY protocol version 2 header (proxy_header.h), its 16 fixed bytes included; a
  // longer declared length is refused at byte 16, before anything is buffered. Room for the
  // largest address block (AF_UNIX, 216) and ~1.8 KiB of TLVs (HAProxy's SSL, unique-id,
  // authority and ALPN TLVs together stay under 700 bytes). Stops: a sender declaring 64 KiB of
  // TLVs to make every pre-handshake connection buffer it. Memory: this many bytes per
  // connection until its header is complete. (Version 1 is capped by the spec at 107 bytes.)
  size_t max_proxy_header_size = 2048;
};

}  // namespace rtmp
