#include "protocol/amf0.h"

namespace rtmp::amf0 {
namespace {

using amf::Date;
using amf::EcmaArray;
using amf::Object;
using amf::Properties;
using amf::StrictArray;

Error malformed(const std::string& what, uint64_t offset) {
  return make_error(Errc::kMalformed, "AMF0 " + what, offset);
}

Result<std::string> read_string(ByteReader& r, uint32_t len, const Limits& limits) {
  if (len > limits.amf_max_string) {
    return make_error(Errc::kLimitExceeded,
                      "AMF0 string of " + std::to_string(len) + " bytes over the limit",
                      r.offset());
  }
  RTMP_TRY(std::string_view s, r.string_view(len));
  return std::string(s);
}

Result<std::string> read_short_string(ByteReader& r, const Limits& limits) {
  RTMP_TRY(uint16_t len, r.u16be());
  return read_string(r, len, limits);
}

// Reads "key value" pairs until the empty key + object-end marker.
Status read_properties(ByteReader& r, DecodeContext& ctx, Properties& out) {
  while (true) {
    RTMP_TRY(std::string key, read_short_string(r, ctx.limits));
    if (key.empty()) {
      RTMP_TRY(uint8_t end, r.peek_u8());
      if (end == static_cast<uint8_t>(Marker::kObjectEnd)) {
        (void)r.u8();
        return Ok{};
      }
      // An empty key with a value is legal (rare); fall through and read the value.
    }
    RTMP_TRY(Value v, decode(r, ctx));
    out.emplace_back(std::move(key), std::move(v));
  }
}

// Reserves a reference slot for a complex value that is about to be decoded.
size_t open_reference(DecodeContext& ctx) {
  ctx.references.emplace_back(std::nullopt);
  return ctx.references.size() - 1;
}

}  // namespace

Result<Value> decode(ByteReader& r, DecodeContext& ctx) {
  const uint64_t start = r.offset();
  RTMP_CHECK(ctx.amf3.charge(1, start));
  RTMP_TRY(uint8_t marker, r.u8());
  switch (static_cast<Marker>(marker)) {
    case Marker::kNumber: {
      RTMP_TRY(double d, r.f64be());
      return Value(d);
    }
    case Marker::kBoolean: {
      RTMP_TRY(uint8_t b, r.u8());
      return Value(b != 0);
    }
    case Marker::kString: {
      RTMP_TRY(std::string s, read_short_string(r, ctx.limits));
      return Value(std::move(s));
    }
    case Marker::kLongString:
    case Marker::kXmlDocument: {
      RTMP_TRY(uint32_t len, r.u32be());
      RTMP_TRY(std::string s, read_string(r, len, ctx.limits));
      if (static_cast<Marker>(marker) == Marker::kXmlDocument) return Value(amf::Xml{std::move(s)});
      return Value(std::move(s));
    }
    case Marker::kNull:
      return Value::null();
    case Marker::kUndefined:
    case Marker::kUnsupported:
      return Value();
    case Marker::kDate: {
      RTMP_TRY(double ms, r.f64be());
      RTMP_TRY(uint16_t tz, r.u16be());
      return Value(Date{ms, static_cast<int16_t>(tz)});
    }
    case Marker::kReference: {
      RTMP_TRY(uint16_t index, r.u16be());
      if (index >= ctx.references.size()) {
        return malformed("reference " + std::to_string(index) + " to a value not yet decoded",
                         start);
      }
      if (!ctx.references[index]) {
        return malformed("cyclic reference " + std::to_string(index), start);
      }
      const Value& ref = *ctx.references[index];
      // A reference copies the value: charge its size so references cannot multiply memory.
      RTMP_CHECK(ctx.amf3.charge(ref.node_count(), start));
      return ref;
    }
    case Marker::kObject:
    case Marker::kTypedObject:
    case Marker::kEcmaArray:
    case Marker::kStrictArray: {
      if (++ctx.depth > ctx.limits.amf_max_depth) {
        return make_error(Errc::kLimitExceeded,
                          "AMF0 nesting deeper than " + std::to_string(ctx.limits.amf_max_depth),
                          start);
      }
      size_t slot = open_reference(ctx);
      Value result;
      Marker m = static_cast<Marker>(marker);
      if (m == Marker::kStrictArray) {
        RTMP_TRY(uint32_t count, r.u32be());
        // Every element takes at least one byte: a count larger than the bytes left is a lie.
        if (count > r.remaining()) {
          return make_error(Errc::kTruncated,
                            "strict array of " + std::to_string(count) + " elements in " +
                                std::to_string(r.remaining()) + " bytes",
                            start);
        }
        RTMP_CHECK(ctx.amf3.charge(0, start));
        StrictArray a;
        for (uint32_t i = 0; i < count; ++i) {
          RTMP_TRY(Value v, decode(r, ctx));
          a.items.push_back(std::move(v));
        }
        result = Value(std::move(a));
      } else if (m == Marker::kEcmaArray) {
        RTMP_TRY(uint32_t count, r.u32be());
        EcmaArray a;
        a.declared_count = count;
        RTMP_CHECK(read_properties(r, ctx, a.properties));
        result = Value(std::move(a));
      } else {
        Object o;
        if (m == Marker::kTypedObject) {
          RTMP_TRY(std::string name, read_short_string(r, ctx.limits));
          o.class_name = std::move(name);
        }
        RTMP_CHECK(read_properties(r, ctx, o.properties));
        result = Value(std::move(o));
      }
      --ctx.depth;
      ctx.references[slot] = result;
      return result;
    }
    case Marker::kAvmPlus: {
      // Each avmplus switch starts fresh AMF3 reference tables (the switch is per value, not
      // sticky: AMF0 spec §3.1, E-RTMP v2 "AMF3 clarification"); our encoder does the same.
      ctx.amf3.strings.clear();
      ctx.amf3.objects.clear();
      ctx.amf3.traits.clear();
      ctx.amf3.depth = ctx.depth;
      return amf3::decode(r, ctx.amf3);
    }
    case Marker::kObjectEnd:
      return malformed("object-end marker outside an object", start);
    case Marker::kMovieClip:
    case Marker::kRecordSet:
      return malformed("reserved marker 0x" + std::to_string(marker), start);
  }
  return malformed("unknown marker " + std::to_string(marker), start);
}

Result<std::vector<Value>> decode_all(Bytes data, const Limits& limits) {
  ByteReader r(data);
  DecodeContext ctx(limits);
  std::vector<Value> values;
  while (!r.empty()) {
    RTMP_TRY(Value v, decode(r, ctx));
    values.push_back(std::move(v));
  }
  return values;
}

namespace {

void write_short_string(ByteWriter& w, const std::string& s) {
  w.u16be(static_cast<uint16_t>(s.size()));
  w.string(s);
}

void write_properties(ByteWriter& w, const Properties& props) {
  for (const auto& [k, v] : props) {
    write_short_string(w, k.size() > 0xFFFF ? k.substr(0, 0xFFFF) : k);
    encode(v, w);
  }
  w.u16be(0);
  w.u8(static_cast<uint8_t>(Marker::kObjectEnd));
}

}  // namespace

void encode(const Value& v, ByteWriter& w) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, amf::Undefined>) {
          w.u8(static_cast<uint8_t>(Marker::kUndefined));
        } else if constexpr (std::is_same_v<T, amf::Null>) {
          w.u8(static_cast<uint8_t>(Marker::kNull));
        } else if constexpr (std::is_same_v<T, bool>) {
          w.u8(static_cast<uint8_t>(Marker::kBoolean));
          w.u8(x ? 1 : 0);
        } else if constexpr (std::is_same_v<T, double>) {
          w.u8(static_cast<uint8_t>(Marker::kNumber));
          w.f64be(x);
        } else if constexpr (std::is_same_v<T, int32_t>) {
          w.u8(static_cast<uint8_t>(Marker::kNumber));
          w.f64be(static_cast<double>(x));
        } else if constexpr (std::is_same_v<T, std::string>) {
          if (x.size() > 0xFFFF) {
            w.u8(static_cast<uint8_t>(Marker::kLongString));
            w.u32be(static_cast<uint32_t>(x.size()));
          } else {
            w.u8(static_cast<uint8_t>(Marker::kString));
            w.u16be(static_cast<uint16_t>(x.size()));
          }
          w.string(x);
        } else if constexpr (std::is_same_v<T, Date>) {
          w.u8(static_cast<uint8_t>(Marker::kDate));
          w.f64be(x.ms);
          w.u16be(static_cast<uint16_t>(x.timezone));
        } else if constexpr (std::is_same_v<T, Object>) {
          if (x.externalizable || (x.sealed_count > 0 && x.class_name.empty())) {
            w.u8(static_cast<uint8_t>(Marker::kAvmPlus));
            amf3::encode(v, w);
          } else if (!x.class_name.empty()) {
            w.u8(static_cast<uint8_t>(Marker::kTypedObject));
            write_short_string(w, x.class_name);
            write_properties(w, x.properties);
          } else {
            w.u8(static_cast<uint8_t>(Marker::kObject));
            write_properties(w, x.properties);
          }
        } else if constexpr (std::is_same_v<T, EcmaArray>) {
          w.u8(static_cast<uint8_t>(Marker::kEcmaArray));
          w.u32be(static_cast<uint32_t>(x.properties.size()));
          write_properties(w, x.properties);
        } else if constexpr (std::is_same_v<T, StrictArray>) {
          w.u8(static_cast<uint8_t>(Marker::kStrictArray));
          w.u32be(static_cast<uint32_t>(x.items.size()));
          for (const auto& item : x.items) encode(item, w);
        } else if constexpr (std::is_same_v<T, amf::Xml>) {
          if (x.e4x) {
            w.u8(static_cast<uint8_t>(Marker::kAvmPlus));
            amf3::encode(v, w);
          } else {
            w.u8(static_cast<uint8_t>(Marker::kXmlDocument));
            w.u32be(static_cast<uint32_t>(x.text.size()));
            w.string(x.text);
          }
        } else {
          // Byte arrays, mixed arrays, vectors, dictionaries exist only in AMF3.
          w.u8(static_cast<uint8_t>(Marker::kAvmPlus));
          amf3::encode(v, w);
        }
      },
      v.storage());
}

void encode_all(const std::vector<Value>& values, ByteWriter& w) {
  for (const auto& v : values) encode(v, w);
}

}  // namespace rtmp::amf0
