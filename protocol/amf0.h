// AMF0 (Adobe "Action Message Format -- AMF 0", 2007), encode and decode.
//
//   marker  type            body
//   0x00    number          f64 BE
//   0x01    boolean         u8 (0 false, else true)
//   0x02    string          u16 length, UTF-8
//   0x03    object          (u16 key length, key, value)* then 00 00 09
//   0x04    movieclip       reserved: error
//   0x05    null
//   0x06    undefined
//   0x07    reference       u16 index into the complex values (object, typed object, ECMA
//                           array, strict array) decoded earlier in the same message
//   0x08    ECMA array      u32 count (advisory), then like an object
//   0x09    object end      only inside objects
//   0x0A    strict array    u32 count, values
//   0x0B    date            f64 ms, s16 timezone
//   0x0C    long string     u32 length, UTF-8
//   0x0D    unsupported     (decoded as undefined)
//   0x0E    recordset       reserved: error
//   0x0F    XML document    u32 length, UTF-8
//   0x10    typed object    u16 class name length, name, then like an object
//   0x11    avmplus         one AMF3 value follows, with fresh AMF3 reference tables (the
//                           switch is not sticky, E-RTMP v2 A.8)
#pragma once

#include <vector>

#include "protocol/amf3.h"
#include "protocol/amf_value.h"
#include "protocol/byte_reader.h"
#include "protocol/byte_writer.h"
#include "protocol/error.h"
#include "protocol/limits.h"

namespace rtmp::amf0 {

using amf::Value;

enum class Marker : uint8_t {
  kNumber = 0x00,
  kBoolean = 0x01,
  kString = 0x02,
  kObject = 0x03,
  kMovieClip = 0x04,
  kNull = 0x05,
  kUndefined = 0x06,
  kReference = 0x07,
  kEcmaArray = 0x08,
  kObjectEnd = 0x09,
  kStrictArray = 0x0A,
  kDate = 0x0B,
  kLongString = 0x0C,
  kUnsupported = 0x0D,
  kRecordSet = 0x0E,
  kXmlDocument = 0x0F,
  kTypedObject = 0x10,
  kAvmPlus = 0x11,
};

// State of one message's decode: the AMF0 reference table, the AMF3 tables for avmplus
// values, and the limit counters. One per message (references never cross messages).
struct DecodeContext {
  explicit DecodeContext(const Limits& l, const amf3::Externalizers* ext = nullptr)
      : limits(l), amf3(l, ext) {}
  const Limits& limits;
  amf3::DecodeContext amf3;
  std::vector<std::optional<Value>> references;  // nullopt while the value is being decoded
  size_t depth = 0;
};

// Decodes one value. Errors: kTruncated, kMalformed (reserved/unknown marker, object end out
// of place, bad reference), kLimitExceeded (depth, element count, string or count size).
// The element budget is shared with the AMF3 context (ctx.amf3.elements).
Result<Value> decode(ByteReader& r, DecodeContext& ctx);

// Decodes values until the end of `data` (a command or data message body).
Result<std::vector<Value>> decode_all(Bytes data, const Limits& limits);

// Encodes one value. AMF3-only kinds (byte array, vectors, dictionary, mixed array, AMF3
// integer outside the double range? no: integers become numbers) go out behind 0x11.
void encode(const Value& v, ByteWriter& w);
void encode_all(const std::vector<Value>& values, ByteWriter& w);

}  // namespace rtmp::amf0
