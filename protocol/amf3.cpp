#include "protocol/amf3.h"

#include <cstring>

namespace rtmp::amf3 {
namespace {

using amf::ByteArray;
using amf::Date;
using amf::Dictionary;
using amf::MixedArray;
using amf::Object;
using amf::Xml;

Error malformed(const std::string& what, uint64_t offset) {
  return make_error(Errc::kMalformed, "AMF3 " + what, offset);
}

Error too_deep(const Limits& l, uint64_t offset) {
  return make_error(Errc::kLimitExceeded,
                    "AMF3 nesting deeper than " + std::to_string(l.amf_max_depth), offset);
}

// A count that claims more items than bytes remain cannot be honest (each item takes at
// least `min_item` bytes): reject before allocating anything for it.
Status check_count(uint32_t count, size_t min_item, const ByteReader& r, uint64_t offset) {
  if (min_item != 0 && count > r.remaining() / min_item) {
    return make_error(Errc::kTruncated,
                      "AMF3 count " + std::to_string(count) + " larger than the " +
                          std::to_string(r.remaining()) + " bytes left",
                      offset);
  }
  return Ok{};
}

Result<std::string> read_string(ByteReader& r, DecodeContext& ctx) {
  const uint64_t start = r.offset();
  RTMP_TRY(uint32_t u, read_u29(r));
  if ((u & 1) == 0) {
    uint32_t index = u >> 1;
    if (index >= ctx.strings.size()) {
      return malformed("string reference " + std::to_string(index) + " out of range", start);
    }
    return ctx.strings[index];
  }
  uint32_t len = u >> 1;
  if (len > ctx.limits.amf_max_string) {
    return make_error(Errc::kLimitExceeded, "AMF3 string of " + std::to_string(len) + " bytes",
                      start);
  }
  RTMP_TRY(std::string_view s, r.string_view(len));
  std::string str(s);
  if (!str.empty()) ctx.strings.push_back(str);
  return str;
}

// Objects table helpers: a slot is reserved before the value's body is decoded so nested
// references get the right indexes; a reference to a slot still open is a cycle.
size_t open_object(DecodeContext& ctx) {
  ctx.objects.emplace_back(std::nullopt);
  return ctx.objects.size() - 1;
}

Result<Value> object_reference(DecodeContext& ctx, uint32_t u, uint64_t offset) {
  uint32_t index = u >> 1;
  if (index >= ctx.objects.size()) {
    return malformed("object reference " + std::to_string(index) + " out of range", offset);
  }
  if (!ctx.objects[index]) return malformed("cyclic object reference", offset);
  const Value& v = *ctx.objects[index];
  RTMP_CHECK(ctx.charge(v.node_count(), offset));
  return v;
}

struct DepthGuard {
  explicit DepthGuard(DecodeContext& c) : ctx(c) { ++ctx.depth; }
  ~DepthGuard() { --ctx.depth; }
  DecodeContext& ctx;
};

Result<Value> read_object(ByteReader& r, DecodeContext& ctx, uint32_t u, uint64_t start) {
  size_t slot = open_object(ctx);
  Traits traits;
  if ((u & 2) == 0) {
    uint32_t index = u >> 2;
    if (index >= ctx.traits.size()) {
      return malformed("traits reference " + std::to_string(index) + " out of range", start);
    }
    traits = ctx.traits[index];
  } else if (u & 4) {
    traits.externalizable = true;
    RTMP_TRY(std::string name, read_string(r, ctx));
    traits.class_name = std::move(name);
    ctx.traits.push_back(traits);
  } else {
    traits.dynamic = (u & 8) != 0;
    uint32_t sealed = u >> 4;
    RTMP_CHECK(check_count(sealed, 1, r, start));
    RTMP_TRY(std::string name, read_string(r, ctx));
    traits.class_name = std::move(name);
    for (uint32_t i = 0; i < sealed; ++i) {
      RTMP_TRY(std::string member, read_string(r, ctx));
      traits.sealed_names.push_back(std::move(member));
    }
    ctx.traits.push_back(traits);
  }

  Object o;
  o.class_name = traits.class_name;
  o.dynamic = traits.dynamic;
  o.externalizable = traits.externalizable;
  if (traits.externalizable) {
    auto it = ctx.externalizers->find(traits.class_name);
    if (it == ctx.externalizers->end()) {
      return make_error(Errc::kUnsupported,
                        "AMF3 externalizable class '" + traits.class_name + "' has no decoder",
                        start);
    }
    RTMP_TRY(std::vector<Value> ext, it->second(r, ctx));
    o.external = std::move(ext);
  } else {
    o.sealed_count = traits.sealed_names.size();
    for (const auto& name : traits.sealed_names) {
      RTMP_TRY(Value v, decode(r, ctx));
      o.properties.emplace_back(name, std::move(v));
    }
    if (traits.dynamic) {
      while (true) {
        RTMP_TRY(std::string key, read_string(r, ctx));
        if (key.empty()) break;
        RTMP_TRY(Value v, decode(r, ctx));
        o.properties.emplace_back(std::move(key), std::move(v));
      }
    }
  }
  Value result(std::move(o));
  ctx.objects[slot] = result;
  return result;
}

}  // namespace

Status DecodeContext::charge(size_t n, uint64_t offset) {
  elements += n;
  if (elements > limits.amf_max_elements) {
    return make_error(Errc::kLimitExceeded,
                      "more than " + std::to_string(limits.amf_max_elements) + " AMF values",
                      offset);
  }
  return Ok{};
}

const Externalizers& builtin_externalizers() {
  static const Externalizers kBuiltin = [] {
    Externalizers e;
    auto wrap_one = [](ByteReader& r, DecodeContext& ctx) -> Result<std::vector<Value>> {
      RTMP_TRY(Value v, decode(r, ctx));
      return std::vector<Value>{std::move(v)};
    };
    e.emplace("flex.messaging.io.ArrayCollection", wrap_one);
    e.emplace("flex.messaging.io.ObjectProxy", wrap_one);
    return e;
  }();
  return kBuiltin;
}

Result<uint32_t> read_u29(ByteReader& r) {
  uint32_t v = 0;
  for (int i = 0; i < 3; ++i) {
    RTMP_TRY(uint8_t b, r.u8());
    v = (v << 7) | (b & 0x7F);
    if ((b & 0x80) == 0) return v;
  }
  RTMP_TRY(uint8_t b, r.u8());
  return (v << 8) | b;
}

void write_u29(ByteWriter& w, uint32_t v) {
  v &= 0x1FFFFFFF;
  if (v < 0x80) {
    w.u8(static_cast<uint8_t>(v));
  } else if (v < 0x4000) {
    w.u8(static_cast<uint8_t>((v >> 7) | 0x80));
    w.u8(static_cast<uint8_t>(v & 0x7F));
  } else if (v < 0x200000) {
    w.u8(static_cast<uint8_t>((v >> 14) | 0x80));
    w.u8(static_cast<uint8_t>(((v >> 7) & 0x7F) | 0x80));
    w.u8(static_cast<uint8_t>(v & 0x7F));
  } else {
    w.u8(static_cast<uint8_t>((v >> 22) | 0x80));
    w.u8(static_cast<uint8_t>(((v >> 15) & 0x7F) | 0x80));
    w.u8(static_cast<uint8_t>(((v >> 8) & 0x7F) | 0x80));
    w.u8(static_cast<uint8_t>(v & 0xFF));
  }
}

Result<Value> decode(ByteReader& r, DecodeContext& ctx) {
  const uint64_t start = r.offset();
  RTMP_CHECK(ctx.charge(1, start));
  RTMP_TRY(uint8_t marker, r.u8());
  switch (static_cast<Marker>(marker)) {
    case Marker::kUndefined:
      return Value();
    case Marker::kNull:
      return Value::null();
    case Marker::kFalse:
      return Value(false);
    case Marker::kTrue:
      return Value(true);
    case Marker::kInteger: {
      RTMP_TRY(uint32_t u, read_u29(r));
      // Sign-extend the 29-bit value.
      int32_t i =
          (u & 0x10000000u) ? static_cast<int32_t>(u | 0xE0000000u) : static_cast<int32_t>(u);
      return Value::integer(i);
    }
    case Marker::kDouble: {
      RTMP_TRY(double d, r.f64be());
      return Value(d);
    }
    case Marker::kString: {
      RTMP_TRY(std::string s, read_string(r, ctx));
      return Value(std::move(s));
    }
    case Marker::kXmlDoc:
    case Marker::kXml:
    case Marker::kByteArray: {
      RTMP_TRY(uint32_t u, read_u29(r));
      if ((u & 1) == 0) return object_reference(ctx, u, start);
      uint32_t len = u >> 1;
      if (len > ctx.limits.amf_max_string) {
        return make_error(Errc::kLimitExceeded, "AMF3 value of " + std::to_string(len) + " bytes",
                          start);
      }
      RTMP_TRY(Bytes b, r.bytes(len));
      Value v;
      if (static_cast<Marker>(marker) == Marker::kByteArray) {
        v = Value(ByteArray{std::vector<uint8_t>(b.begin(), b.end())});
      } else {
        v = Value(Xml{std::string(reinterpret_cast<const char*>(b.data()), b.size()),
                      static_cast<Marker>(marker) == Marker::kXml});
      }
      ctx.objects.emplace_back(v);
      return v;
    }
    case Marker::kDate: {
      RTMP_TRY(uint32_t u, read_u29(r));
      if ((u & 1) == 0) return object_reference(ctx, u, start);
      RTMP_TRY(double ms, r.f64be());
      Value v(Date{ms, 0});
      ctx.objects.emplace_back(v);
      return v;
    }
    case Marker::kArray: {
      RTMP_TRY(uint32_t u, read_u29(r));
      if ((u & 1) == 0) return object_reference(ctx, u, start);
      if (ctx.depth >= ctx.limits.amf_max_depth) return too_deep(ctx.limits, start);
      DepthGuard guard(ctx);
      uint32_t dense = u >> 1;
      size_t slot = open_object(ctx);
      MixedArray a;
      while (true) {
        RTMP_TRY(std::string key, read_string(r, ctx));
        if (key.empty()) break;
        RTMP_TRY(Value v, decode(r, ctx));
        a.assoc.emplace_back(std::move(key), std::move(v));
      }
      RTMP_CHECK(check_count(dense, 1, r, start));
      for (uint32_t i = 0; i < dense; ++i) {
        RTMP_TRY(Value v, decode(r, ctx));
        a.dense.push_back(std::move(v));
      }
      Value v(std::move(a));
      ctx.objects[slot] = v;
      return v;
    }
    case Marker::kObject: {
      RTMP_TRY(uint32_t u, read_u29(r));
      if ((u & 1) == 0) return object_reference(ctx, u, start);
      if (ctx.depth >= ctx.limits.amf_max_depth) return too_deep(ctx.limits, start);
      DepthGuard guard(ctx);
      return read_object(r, ctx, u, start);
    }
    case Marker::kVectorInt:
    case Marker::kVectorUint:
    case Marker::kVectorDouble:
    case Marker::kVectorObject: {
      RTMP_TRY(uint32_t u, read_u29(r));
      if ((u & 1) == 0) return object_reference(ctx, u, start);
      if (ctx.depth >= ctx.limits.amf_max_depth) return too_deep(ctx.limits, start);
      DepthGuard guard(ctx);
      uint32_t count = u >> 1;
      size_t slot = open_object(ctx);
      amf::Vector vec;
      RTMP_TRY(uint8_t fixed, r.u8());
      vec.fixed = fixed != 0;
      Marker m = static_cast<Marker>(marker);
      vec.kind = m == Marker::kVectorInt      ? amf::Vector::Kind::kInt
                 : m == Marker::kVectorUint   ? amf::Vector::Kind::kUint
                 : m == Marker::kVectorDouble ? amf::Vector::Kind::kDouble
                                              : amf::Vector::Kind::kObject;
      if (vec.kind == amf::Vector::Kind::kObject) {
        RTMP_TRY(std::string type_name, read_string(r, ctx));
        vec.type_name = std::move(type_name);
      }
      size_t item_size = vec.kind == amf::Vector::Kind::kDouble   ? 8
                         : vec.kind == amf::Vector::Kind::kObject ? 1
                                                                  : 4;
      RTMP_CHECK(check_count(count, item_size, r, start));
      RTMP_CHECK(ctx.charge(vec.kind == amf::Vector::Kind::kObject ? 0 : count, start));
      vec.items.reserve(count);
      for (uint32_t i = 0; i < count; ++i) {
        switch (vec.kind) {
          case amf::Vector::Kind::kInt: {
            RTMP_TRY(uint32_t x, r.u32be());
            vec.items.push_back(Value::integer(static_cast<int32_t>(x)));
            break;
          }
          case amf::Vector::Kind::kUint: {
            RTMP_TRY(uint32_t x, r.u32be());
            vec.items.push_back(Value(static_cast<double>(x)));
            break;
          }
          case amf::Vector::Kind::kDouble: {
            RTMP_TRY(double x, r.f64be());
            vec.items.push_back(Value(x));
            break;
          }
          case amf::Vector::Kind::kObject: {
            RTMP_TRY(Value x, decode(r, ctx));
            vec.items.push_back(std::move(x));
            break;
          }
        }
      }
      Value v(std::move(vec));
      ctx.objects[slot] = v;
      return v;
    }
    case Marker::kDictionary: {
      RTMP_TRY(uint32_t u, read_u29(r));
      if ((u & 1) == 0) return object_reference(ctx, u, start);
      if (ctx.depth >= ctx.limits.amf_max_depth) return too_deep(ctx.limits, start);
      DepthGuard guard(ctx);
      uint32_t count = u >> 1;
      size_t slot = open_object(ctx);
      Dictionary d;
      RTMP_TRY(uint8_t weak, r.u8());
      d.weak_keys = weak != 0;
      RTMP_CHECK(check_count(count, 2, r, start));
      for (uint32_t i = 0; i < count; ++i) {
        RTMP_TRY(Value k, decode(r, ctx));
        RTMP_TRY(Value v, decode(r, ctx));
        d.entries.emplace_back(std::move(k), std::move(v));
      }
      Value v(std::move(d));
      ctx.objects[slot] = v;
      return v;
    }
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

void Encoder::string_body(const std::string& s) {
  if (s.empty()) {
    w_.u8(0x01);  // empty string: never a reference
    return;
  }
  auto it = strings_.find(s);
  if (it != strings_.end()) {
    write_u29(w_, it->second << 1);
    return;
  }
  uint32_t index = static_cast<uint32_t>(strings_.size());
  strings_.emplace(s, index);
  write_u29(w_, static_cast<uint32_t>(s.size() << 1) | 1);
  w_.string(s);
}

void Encoder::encode(const Value& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, amf::Undefined>) {
          w_.u8(static_cast<uint8_t>(Marker::kUndefined));
        } else if constexpr (std::is_same_v<T, amf::Null>) {
          w_.u8(static_cast<uint8_t>(Marker::kNull));
        } else if constexpr (std::is_same_v<T, bool>) {
          w_.u8(static_cast<uint8_t>(x ? Marker::kTrue : Marker::kFalse));
        } else if constexpr (std::is_same_v<T, double>) {
          w_.u8(static_cast<uint8_t>(Marker::kDouble));
          w_.f64be(x);
        } else if constexpr (std::is_same_v<T, int32_t>) {
          if (x >= -(1 << 28) && x < (1 << 28)) {
            w_.u8(static_cast<uint8_t>(Marker::kInteger));
            write_u29(w_, static_cast<uint32_t>(x) & 0x1FFFFFFF);
          } else {
            w_.u8(static_cast<uint8_t>(Marker::kDouble));
            w_.f64be(static_cast<double>(x));
          }
        } else if constexpr (std::is_same_v<T, std::string>) {
          w_.u8(static_cast<uint8_t>(Marker::kString));
          string_body(x);
        } else if constexpr (std::is_same_v<T, Date>) {
          w_.u8(static_cast<uint8_t>(Marker::kDate));
          w_.u8(0x01);
          w_.f64be(x.ms);
        } else if constexpr (std::is_same_v<T, Xml>) {
          w_.u8(static_cast<uint8_t>(x.e4x ? Marker::kXml : Marker::kXmlDoc));
          write_u29(w_, static_cast<uint32_t>(x.text.size() << 1) | 1);
          w_.string(x.text);
        } else if constexpr (std::is_same_v<T, ByteArray>) {
          w_.u8(static_cast<uint8_t>(Marker::kByteArray));
          write_u29(w_, static_cast<uint32_t>(x.bytes.size() << 1) | 1);
          w_.bytes(x.bytes);
        } else if constexpr (std::is_same_v<T, amf::StrictArray>) {
          w_.u8(static_cast<uint8_t>(Marker::kArray));
          write_u29(w_, static_cast<uint32_t>(x.items.size() << 1) | 1);
          w_.u8(0x01);  // no associative part
          for (const auto& item : x.items) encode(item);
        } else if constexpr (std::is_same_v<T, MixedArray>) {
          w_.u8(static_cast<uint8_t>(Marker::kArray));
          write_u29(w_, static_cast<uint32_t>(x.dense.size() << 1) | 1);
          for (const auto& [k, val] : x.assoc) {
            string_body(k);
            encode(val);
          }
          w_.u8(0x01);
          for (const auto& item : x.dense) encode(item);
        } else if constexpr (std::is_same_v<T, amf::EcmaArray>) {
          // An ECMA array is associative-only in AMF3.
          w_.u8(static_cast<uint8_t>(Marker::kArray));
          w_.u8(0x01);
          for (const auto& [k, val] : x.properties) {
            string_body(k);
            encode(val);
          }
          w_.u8(0x01);
        } else if constexpr (std::is_same_v<T, Object>) {
          w_.u8(static_cast<uint8_t>(Marker::kObject));
          Traits t;
          t.class_name = x.class_name;
          t.externalizable = x.externalizable;
          t.dynamic = x.dynamic;
          size_t sealed = std::min(x.sealed_count, x.properties.size());
          for (size_t i = 0; i < sealed; ++i) t.sealed_names.push_back(x.properties[i].first);
          size_t ref = traits_.size();
          for (size_t i = 0; i < traits_.size(); ++i) {
            const Traits& o = traits_[i];
            if (o.class_name == t.class_name && o.sealed_names == t.sealed_names &&
                o.dynamic == t.dynamic && o.externalizable == t.externalizable) {
              ref = i;
              break;
            }
          }
          if (ref < traits_.size()) {
            write_u29(w_, static_cast<uint32_t>(ref << 2) | 1);
          } else if (t.externalizable) {
            write_u29(w_, 0x07);
            string_body(t.class_name);
            traits_.push_back(t);
          } else {
            write_u29(w_, static_cast<uint32_t>(sealed << 4) | (t.dynamic ? 8u : 0u) | 3u);
            string_body(t.class_name);
            for (const auto& n : t.sealed_names) string_body(n);
            traits_.push_back(t);
          }
          if (t.externalizable) {
            for (const auto& e : x.external) encode(e);
            return;
          }
          for (size_t i = 0; i < sealed; ++i) encode(x.properties[i].second);
          if (t.dynamic) {
            for (size_t i = sealed; i < x.properties.size(); ++i) {
              string_body(x.properties[i].first);
              encode(x.properties[i].second);
            }
            w_.u8(0x01);
          }
        } else if constexpr (std::is_same_v<T, amf::Vector>) {
          Marker m = x.kind == amf::Vector::Kind::kInt      ? Marker::kVectorInt
                     : x.kind == amf::Vector::Kind::kUint   ? Marker::kVectorUint
                     : x.kind == amf::Vector::Kind::kDouble ? Marker::kVectorDouble
                                                            : Marker::kVectorObject;
          w_.u8(static_cast<uint8_t>(m));
          write_u29(w_, static_cast<uint32_t>(x.items.size() << 1) | 1);
          w_.u8(x.fixed ? 1 : 0);
          if (m == Marker::kVectorObject) string_body(x.type_name);
          for (const auto& item : x.items) {
            double d = item.as_number().value_or(0);
            switch (x.kind) {
              case amf::Vector::Kind::kInt:
                w_.u32be(static_cast<uint32_t>(static_cast<int32_t>(d)));
                break;
              case amf::Vector::Kind::kUint:
                w_.u32be(static_cast<uint32_t>(d));
                break;
              case amf::Vector::Kind::kDouble:
                w_.f64be(d);
                break;
              case amf::Vector::Kind::kObject:
                encode(item);
                break;
            }
          }
        } else if constexpr (std::is_same_v<T, Dictionary>) {
          w_.u8(static_cast<uint8_t>(Marker::kDictionary));
          write_u29(w_, static_cast<uint32_t>(x.entries.size() << 1) | 1);
          w_.u8(x.weak_keys ? 1 : 0);
          for (const auto& [k, val] : x.entries) {
            encode(k);
            encode(val);
          }
        }
      },
      v.storage());
}

void encode(const Value& v, ByteWriter& w) {
  Encoder e(w);
  e.encode(v);
}

}  // namespace rtmp::amf3
