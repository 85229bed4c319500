// AMF3 (Adobe "Action Message Format -- AMF 3", 2013), encode and decode.
//
//   marker  type          body
//   0x00    undefined     0x01 null     0x02 false     0x03 true
//   0x04    integer       U29 (29-bit, sign-extended)
//   0x05    double        f64 BE
//   0x06    string        U29S-ref | U29S-value: (len<<1|1) UTF-8; empty string never referenced
//   0x07    XMLDocument   U29X: (len<<1|1) UTF-8, or object reference
//   0x08    date          U29D: 1 then f64 ms, or object reference
//   0x09    array         U29A: (dense count<<1|1), assoc (string key, value)* "", dense values
//   0x0A    object        U29O: bit0=1 inline; bit1=1 inline traits (else traits ref);
//                         bit2 externalizable; bit3 dynamic; rest = sealed member count;
//                         class name string, sealed names, sealed values, dynamic pairs, ""
//   0x0B    XML           like 0x07
//   0x0C    ByteArray     U29B: (len<<1|1) bytes
//   0x0D-0x10 vectors     U29V: (count<<1|1), u8 fixed, items (int/uint s32/u32 BE, f64,
//                         object vector: type name string then values)
//   0x11    dictionary    U29Dict: (count<<1|1), u8 weak keys, (key, value)*
// U29: 1-4 bytes, 7 bits per byte with the high bit as continuation; the 4th byte gives 8 bits.
// References index three tables kept per message: strings, objects (all complex values), traits.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "protocol/amf_value.h"
#include "protocol/byte_reader.h"
#include "protocol/byte_writer.h"
#include "protocol/error.h"
#include "protocol/limits.h"

namespace rtmp::amf3 {

using amf::Value;

enum class Marker : uint8_t {
  kUndefined = 0x00,
  kNull = 0x01,
  kFalse = 0x02,
  kTrue = 0x03,
  kInteger = 0x04,
  kDouble = 0x05,
  kString = 0x06,
  kXmlDoc = 0x07,
  kDate = 0x08,
  kArray = 0x09,
  kObject = 0x0A,
  kXml = 0x0B,
  kByteArray = 0x0C,
  kVectorInt = 0x0D,
  kVectorUint = 0x0E,
  kVectorDouble = 0x0F,
  kVectorObject = 0x10,
  kDictionary = 0x11,
};

struct DecodeContext;

// Decoder for an externalizable class: reads the class's private encoding and returns the
// values it holds (stored in Object::external). Registered per class name by the caller.
using Externalizer = std::function<Result<std::vector<Value>>(ByteReader&, DecodeContext&)>;
using Externalizers = std::map<std::string, Externalizer, std::less<>>;

// Externalizers for the classes Flash Media Server/Flex actually send:
// flex.messaging.io.ArrayCollection and ObjectProxy (each wraps one AMF3 value).
const Externalizers& builtin_externalizers();

struct Traits {
  std::string class_name;
  std::vector<std::string> sealed_names;
  bool dynamic = false;
  bool externalizable = false;
};

struct DecodeContext {
  explicit DecodeContext(const Limits& l, const Externalizers* ext = nullptr)
      : limits(l), externalizers(ext ? ext : &builtin_externalizers()) {}
  const Limits& limits;
  const Externalizers* externalizers;
  std::vector<std::string> strings;
  std::vector<std::optional<Value>> objects;  // nullopt while being decoded
  std::vector<Traits> traits;
  size_t depth = 0;
  size_t elements = 0;  // values decoded so far (shared with an enclosing AMF0 decode)

  Status charge(size_t n, uint64_t offset);
};

Result<uint32_t> read_u29(ByteReader& r);
void write_u29(ByteWriter& w, uint32_t v);  // v < 2^29

Result<Value> decode(ByteReader& r, DecodeContext& ctx);
Result<std::vector<Value>> decode_all(Bytes data, const Limits& limits);

// Encoder with its own reference tables (strings and traits are referenced when repeated).
class Encoder {
 public:
  explicit Encoder(ByteWriter& w) : w_(w) {}
  void encode(const Value& v);

 private:
  void string_body(const std::string& s);
  ByteWriter& w_;
  std::map<std::string, uint32_t, std::less<>> strings_;
  std::vector<Traits> traits_;
};

void encode(const Value& v, ByteWriter& w);

}  // namespace rtmp::amf3
