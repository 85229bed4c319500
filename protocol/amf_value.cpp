#include "protocol/amf_value.h"

#include <cmath>
#include <cstdio>

namespace rtmp::amf {

Value Value::object(std::initializer_list<Property> props) {
  Object o;
  o.properties.assign(props.begin(), props.end());
  return Value(std::move(o));
}

Value Value::ecma_array(std::initializer_list<Property> props) {
  EcmaArray a;
  a.properties.assign(props.begin(), props.end());
  a.declared_count = static_cast<uint32_t>(a.properties.size());
  return Value(std::move(a));
}

Value Value::strict_array(std::vector<Value> items) {
  return Value(StrictArray{std::move(items)});
}

std::optional<double> Value::as_number() const {
  if (auto d = std::get_if<double>(&v_)) return *d;
  if (auto i = std::get_if<int32_t>(&v_)) return static_cast<double>(*i);
  return std::nullopt;
}

std::optional<bool> Value::as_bool() const {
  if (auto b = std::get_if<bool>(&v_)) return *b;
  return std::nullopt;
}

const Properties* Value::properties() const {
  if (auto o = std::get_if<Object>(&v_)) return &o->properties;
  if (auto a = std::get_if<EcmaArray>(&v_)) return &a->properties;
  if (auto m = std::get_if<MixedArray>(&v_)) return &m->assoc;
  return nullptr;
}

const Value* Value::get(std::string_view key) const {
  const Properties* props = properties();
  if (!props) return nullptr;
  for (const auto& [k, v] : *props) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string Value::get_string(std::string_view key) const {
  const Value* v = get(key);
  if (!v || !v->as_string()) return {};
  return *v->as_string();
}

std::optional<double> Value::get_number(std::string_view key) const {
  const Value* v = get(key);
  return v ? v->as_number() : std::nullopt;
}

void Value::set(std::string key, Value value) {
  Properties* props = nullptr;
  if (auto o = std::get_if<Object>(&v_)) props = &o->properties;
  if (auto a = std::get_if<EcmaArray>(&v_)) props = &a->properties;
  if (!props) {
    v_ = Object{};
    props = &std::get<Object>(v_).properties;
  }
  for (auto& [k, v] : *props) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  props->emplace_back(std::move(key), std::move(value));
  if (auto a = std::get_if<EcmaArray>(&v_))
    a->declared_count = static_cast<uint32_t>(props->size());
}

size_t Value::node_count() const {
  size_t n = 1;
  auto props = [&n](const Properties& ps) {
    for (const auto& p : ps) n += p.second.node_count();
  };
  auto items = [&n](const std::vector<Value>& vs) {
    for (const auto& v : vs) n += v.node_count();
  };
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Object>) {
          props(x.properties);
          items(x.external);
        } else if constexpr (std::is_same_v<T, EcmaArray>) {
          props(x.properties);
        } else if constexpr (std::is_same_v<T, StrictArray> || std::is_same_v<T, Vector>) {
          items(x.items);
        } else if constexpr (std::is_same_v<T, MixedArray>) {
          props(x.assoc);
          items(x.dense);
        } else if constexpr (std::is_same_v<T, Dictionary>) {
          for (const auto& [k, v] : x.entries) n += k.node_count() + v.node_count();
        }
      },
      v_);
  return n;
}

namespace {

void quote(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

void number(std::string& out, double d, bool json) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) {
    out += std::to_string(static_cast<long long>(d));
  } else if (!std::isfinite(d)) {
    out += json ? "null" : (std::isnan(d) ? "NaN" : (d > 0 ? "Infinity" : "-Infinity"));
  } else {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", d);
    out += buf;
  }
}

void render(std::string& out, const Value& v, bool json);

void render_props(std::string& out, const Properties& ps, bool json) {
  out += '{';
  bool first = true;
  for (const auto& [k, val] : ps) {
    if (!first) out += ", ";
    first = false;
    if (json) {
      quote(out, k);
    } else {
      out += k;
    }
    out += ": ";
    render(out, val, json);
  }
  out += '}';
}

void render_items(std::string& out, const std::vector<Value>& vs, bool json) {
  out += '[';
  for (size_t i = 0; i < vs.size(); ++i) {
    if (i) out += ", ";
    render(out, vs[i], json);
  }
  out += ']';
}

void render(std::string& out, const Value& v, bool json) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Undefined>) {
          out += json ? "null" : "undefined";
        } else if constexpr (std::is_same_v<T, Null>) {
          out += "null";
        } else if constexpr (std::is_same_v<T, bool>) {
          out += x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          number(out, x, json);
        } else if constexpr (std::is_same_v<T, int32_t>) {
          out += std::to_string(x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          quote(out, x);
        } else if constexpr (std::is_same_v<T, Date>) {
          if (!json) out += "date(";
          number(out, x.ms, json);
          if (!json) out += ')';
        } else if constexpr (std::is_same_v<T, Object>) {
          if (!x.class_name.empty() && !json) out += x.class_name;
          render_props(out, x.properties, json);
        } else if constexpr (std::is_same_v<T, EcmaArray>) {
          render_props(out, x.properties, json);
        } else if constexpr (std::is_same_v<T, StrictArray>) {
          render_items(out, x.items, json);
        } else if constexpr (std::is_same_v<T, Xml>) {
          quote(out, x.text);
        } else if constexpr (std::is_same_v<T, ByteArray>) {
          std::string hex;
          char buf[4];
          for (uint8_t b : x.bytes) {
            std::snprintf(buf, sizeof buf, "%02x", b);
            hex += buf;
          }
          quote(out, hex);
        } else if constexpr (std::is_same_v<T, MixedArray>) {
          if (x.assoc.empty()) {
            render_items(out, x.dense, json);
          } else {
            render_props(out, x.assoc, json);
            if (!x.dense.empty() && !json) render_items(out, x.dense, json);
          }
        } else if constexpr (std::is_same_v<T, Vector>) {
          render_items(out, x.items, json);
        } else if constexpr (std::is_same_v<T, Dictionary>) {
          out += json ? "[" : "dict[";
          for (size_t i = 0; i < x.entries.size(); ++i) {
            if (i) out += ", ";
            out += '[';
            render(out, x.entries[i].first, json);
            out += ", ";
            render(out, x.entries[i].second, json);
            out += ']';
          }
          out += ']';
        }
      },
      v.storage());
}

}  // namespace

std::string to_string(const Value& v) {
  std::string s;
  render(s, v, false);
  return s;
}

std::string to_json(const Value& v) {
  std::string s;
  render(s, v, true);
  return s;
}

}  // namespace rtmp::amf
