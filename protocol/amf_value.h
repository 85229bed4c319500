// One value type for AMF0 and AMF3 (Adobe AMF0 spec 2007, AMF3 spec 2013).
//
// AMF0 and AMF3 share most kinds; the ones only AMF3 has (integer, byte array, vectors,
// dictionary, mixed arrays, traits flags) still fit here so an AMF0 stream that switches to AMF3
// with the avmplus marker (0x11) decodes into the same tree. Objects and ECMA arrays keep their
// properties in wire order (a connect object is compared and re-encoded byte for byte).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace rtmp::amf {

class Value;
using Property = std::pair<std::string, Value>;
using Properties = std::vector<Property>;

struct Undefined {
  bool operator==(const Undefined&) const = default;
};
struct Null {
  bool operator==(const Null&) const = default;
};
// AMF0 0x0B / AMF3 0x08: milliseconds since the epoch (UTC); AMF0 carries a timezone field
// that the spec says to set to 0 and readers ignore; kept for byte-exact round trips.
struct Date {
  double ms = 0;
  int16_t timezone = 0;
  bool operator==(const Date&) const = default;
};
// AMF0 XML document (0x0F) or AMF3 XMLDocument (0x07) / XML (0x0B).
struct Xml {
  std::string text;
  bool e4x = false;  // AMF3 0x0B (E4X XML) rather than the legacy XMLDocument
  bool operator==(const Xml&) const = default;
};
struct ByteArray {
  std::vector<uint8_t> bytes;
  bool operator==(const ByteArray&) const = default;
};

// Anonymous object (AMF0 0x03 / AMF3 dynamic object), typed object (AMF0 0x10 / AMF3 sealed
// traits with a class name), or AMF3 externalizable object.
struct Object {
  Properties properties;
  std::string class_name;  // empty = anonymous
  // AMF3 traits: how many of `properties` (from the front) are sealed members; the rest are
  // dynamic members. AMF0 objects are all "dynamic".
  size_t sealed_count = 0;
  bool dynamic = true;
  bool externalizable = false;
  // Externalizable payload as decoded by the registered hook (one value), if any.
  std::vector<Value> external;
  bool operator==(const Object&) const;
};

struct EcmaArray {
  Properties properties;
  uint32_t declared_count = 0;  // the wire's count field (readers must not trust it)
  bool operator==(const EcmaArray&) const;
};

struct StrictArray {
  std::vector<Value> items;
  bool operator==(const StrictArray&) const;
};

// AMF3 array (0x09): associative part first, then the dense part.
struct MixedArray {
  Properties assoc;
  std::vector<Value> dense;
  bool operator==(const MixedArray&) const;
};

// AMF3 vectors (0x0D int, 0x0E uint, 0x0F double, 0x10 object).
struct Vector {
  enum class Kind : uint8_t { kInt, kUint, kDouble, kObject };
  Kind kind = Kind::kInt;
  bool fixed = false;
  std::string type_name;  // object vectors only
  std::vector<Value> items;
  bool operator==(const Vector&) const;
};

// AMF3 dictionary (0x11).
struct Dictionary {
  bool weak_keys = false;
  std::vector<std::pair<Value, Value>> entries;
  bool operator==(const Dictionary&) const;
};

class Value {
 public:
  using Storage =
      std::variant<Undefined, Null, bool, double, int32_t, std::string, Date, Object, EcmaArray,
                   StrictArray, Xml, ByteArray, MixedArray, Vector, Dictionary>;

  Value() : v_(Undefined{}) {}
  Value(Undefined u) : v_(u) {}                      // NOLINT: implicit by design
  Value(Null n) : v_(n) {}                           // NOLINT
  Value(bool b) : v_(b) {}                           // NOLINT
  Value(double d) : v_(d) {}                         // NOLINT
  Value(int i) : v_(static_cast<double>(i)) {}       // NOLINT: numbers are doubles in AMF0
  Value(std::string s) : v_(std::move(s)) {}         // NOLINT
  Value(std::string_view s) : v_(std::string(s)) {}  // NOLINT
  Value(const char* s) : v_(std::string(s)) {}       // NOLINT: not bool
  Value(Date d) : v_(d) {}                           // NOLINT
  Value(Object o) : v_(std::move(o)) {}              // NOLINT
  Value(EcmaArray a) : v_(std::move(a)) {}           // NOLINT
  Value(StrictArray a) : v_(std::move(a)) {}         // NOLINT
  Value(Xml x) : v_(std::move(x)) {}                 // NOLINT
  Value(ByteArray b) : v_(std::move(b)) {}           // NOLINT
  Value(MixedArray a) : v_(std::move(a)) {}          // NOLINT
  Value(Vector v) : v_(std::move(v)) {}              // NOLINT
  Value(Dictionary d) : v_(std::move(d)) {}          // NOLINT

  static Value null() { return Value(Null{}); }
  static Value integer(int32_t i) {
    Value v;
    v.v_ = i;
    return v;
  }
  static Value object(std::initializer_list<Property> props);
  static Value ecma_array(std::initializer_list<Property> props);
  static Value strict_array(std::vector<Value> items);

  const Storage& storage() const { return v_; }
  Storage& storage() { return v_; }

  bool is_undefined() const { return std::holds_alternative<Undefined>(v_); }
  bool is_null() const { return std::holds_alternative<Null>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_number() const {
    return std::holds_alternative<double>(v_) || std::holds_alternative<int32_t>(v_);
  }
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_object() const { return std::holds_alternative<Object>(v_); }
  bool is_ecma_array() const { return std::holds_alternative<EcmaArray>(v_); }
  bool is_strict_array() const { return std::holds_alternative<StrictArray>(v_); }

  // Typed access; nullopt / nullptr when the value is of another kind.
  std::optional<double> as_number() const;
  std::optional<bool> as_bool() const;
  const std::string* as_string() const { return std::get_if<std::string>(&v_); }
  const Object* as_object() const { return std::get_if<Object>(&v_); }
  const EcmaArray* as_ecma_array() const { return std::get_if<EcmaArray>(&v_); }
  const StrictArray* as_strict_array() const { return std::get_if<StrictArray>(&v_); }

  // Key/value access on objects, ECMA arrays and the associative part of AMF3 arrays
  // (the kinds that onMetaData and connect use interchangeably; ertmp-wire.md A.1).
  const Properties* properties() const;
  const Value* get(std::string_view key) const;
  std::string get_string(std::string_view key) const;  // "" when absent or not a string
  std::optional<double> get_number(std::string_view key) const;
  // Sets or replaces `key` on an object/ECMA array; turns any other value into an object.
  void set(std::string key, Value value);

  bool operator==(const Value& o) const { return v_ == o.v_; }

  // Number of nodes in the tree (this value included); used to charge copies made by
  // references against Limits::amf_max_elements.
  size_t node_count() const;

 private:
  Storage v_;
};

inline bool Object::operator==(const Object& o) const {
  return properties == o.properties && class_name == o.class_name &&
         sealed_count == o.sealed_count && dynamic == o.dynamic &&
         externalizable == o.externalizable && external == o.external;
}
inline bool EcmaArray::operator==(const EcmaArray& o) const {
  return properties == o.properties;  // the declared count is advisory
}
inline bool StrictArray::operator==(const StrictArray& o) const {
  return items == o.items;
}
inline bool MixedArray::operator==(const MixedArray& o) const {
  return assoc == o.assoc && dense == o.dense;
}
inline bool Vector::operator==(const Vector& o) const {
  return kind == o.kind && fixed == o.fixed && type_name == o.type_name && items == o.items;
}
inline bool Dictionary::operator==(const Dictionary& o) const {
  return weak_keys == o.weak_keys && entries == o.entries;
}

// Readable one-line rendering for logs and ertmp-inspect: {app: "live", n: 1, ...}.
std::string to_string(const Value& v);
// JSON rendering (numbers as JSON numbers, byte arrays as hex strings).
std::string to_json(const Value& v);

}  // namespace rtmp::amf
