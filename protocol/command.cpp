#include "protocol/command.h"

#include "protocol/amf0.h"
#include "protocol/byte_writer.h"

namespace rtmp {
namespace {

// AMF3 command/data/shared-object bodies begin with a format selector byte (0).
Result<Bytes> amf_body(const Message& m) {
  Bytes body(m.payload);
  if (m.kind() == MessageType::kCommandAmf3 || m.kind() == MessageType::kDataAmf3 ||
      m.kind() == MessageType::kSharedObjectAmf3) {
    if (body.empty()) return make_error(Errc::kTruncated, "empty AMF3 message body", 0);
    if (body[0] != 0) {
      return make_error(Errc::kMalformed,
                        "AMF3 message format selector " + std::to_string(body[0]) + " (want 0)", 0);
    }
    body = body.subspan(1);
  }
  return body;
}

}  // namespace

std::string Command::arg_string(size_t i) const {
  if (i >= args.size() || !args[i].as_string()) return {};
  return *args[i].as_string();
}
std::optional<double> Command::arg_number(size_t i) const {
  if (i >= args.size()) return std::nullopt;
  return args[i].as_number();
}
std::optional<bool> Command::arg_bool(size_t i) const {
  if (i >= args.size()) return std::nullopt;
  return args[i].as_bool();
}

Result<Command> parse_command(const Message& m, const Limits& limits) {
  RTMP_TRY(Bytes body, amf_body(m));
  auto values = amf0::decode_all(body, limits);
  if (!values.ok()) {
    Error e = std::move(values).error();
    e.csid = m.csid;
    e.msg_type = m.type;
    return e;
  }
  auto& v = *values;
  if (v.empty() || !v[0].as_string()) {
    return make_error(Errc::kMalformed, "command without a name", 0);
  }
  Command c;
  c.name = *v[0].as_string();
  if (v.size() > 1) {
    auto txn = v[1].as_number();
    if (!txn)
      return make_error(Errc::kMalformed, "command '" + c.name + "' without a transaction id", 0);
    c.transaction_id = *txn;
  }
  if (v.size() > 2) c.command_object = std::move(v[2]);
  for (size_t i = 3; i < v.size(); ++i) c.args.push_back(std::move(v[i]));
  return c;
}

Message build_command_message(const Command& c) {
  Message m;
  m.type = static_cast<uint8_t>(MessageType::kCommandAmf0);
  m.csid = 3;
  ByteWriter w(m.payload);
  amf0::encode(amf::Value(c.name), w);
  amf0::encode(amf::Value(c.transaction_id), w);
  amf0::encode(c.command_object, w);
  amf0::encode_all(c.args, w);
  return m;
}

Command make_command(std::string name, double txn, amf::Value command_object,
                     std::vector<amf::Value> args) {
  Command c;
  c.name = std::move(name);
  c.transaction_id = txn;
  c.command_object = std::move(command_object);
  c.args = std::move(args);
  return c;
}

Command make_result(double txn, amf::Value properties, amf::Value information) {
  return make_command("_result", txn, std::move(properties), {std::move(information)});
}
Command make_error_reply(double txn, amf::Value properties, amf::Value information) {
  return make_command("_error", txn, std::move(properties), {std::move(information)});
}
Command make_on_status(amf::Value info) {
  return make_command("onStatus", 0, amf::Value::null(), {std::move(info)});
}

Result<DataMessage> parse_data_message(const Message& m, const Limits& limits) {
  RTMP_TRY(Bytes body, amf_body(m));
  RTMP_TRY(std::vector<amf::Value> v, amf0::decode_all(body, limits));
  DataMessage d;
  size_t i = 0;
  if (i < v.size() && v[i].as_string() && *v[i].as_string() == "@setDataFrame") {
    d.set_data_frame = true;
    ++i;
  } else if (i < v.size() && v[i].as_string() && *v[i].as_string() == "@clearDataFrame") {
    d.clear_data_frame = true;
    ++i;
  }
  if (i < v.size() && v[i].as_string()) {
    d.handler = *v[i].as_string();
    ++i;
  } else if (!d.clear_data_frame) {
    return make_error(Errc::kMalformed, "data message without a handler name", 0);
  }
  for (; i < v.size(); ++i) d.values.push_back(std::move(v[i]));
  return d;
}

Message build_data_message(std::string_view handler, const std::vector<amf::Value>& values) {
  Message m;
  m.type = static_cast<uint8_t>(MessageType::kDataAmf0);
  m.csid = 5;
  ByteWriter w(m.payload);
  amf0::encode(amf::Value(handler), w);
  amf0::encode_all(values, w);
  return m;
}

Message build_set_data_frame(const amf::Value& metadata) {
  amf::Value arr = metadata;
  if (const amf::Properties* props = metadata.properties()) {
    amf::EcmaArray a;
    a.properties = *props;
    a.declared_count = static_cast<uint32_t>(props->size());
    arr = amf::Value(std::move(a));
  }
  return build_data_message("@setDataFrame", {amf::Value("onMetaData"), arr});
}

Result<SharedObjectMessage> parse_shared_object(const Message& m, const Limits& limits) {
  RTMP_TRY(Bytes body, amf_body(m));
  ByteReader r(body);
  SharedObjectMessage so;
  RTMP_TRY(uint16_t name_len, r.u16be());
  RTMP_TRY(std::string_view name, r.string_view(name_len));
  so.name = std::string(name);
  RTMP_TRY(uint32_t version, r.u32be());
  RTMP_TRY(uint32_t flags, r.u32be());
  RTMP_CHECK(r.skip(4));
  so.version = version;
  so.persistent = flags != 0;
  while (!r.empty()) {
    if (so.events.size() >= limits.amf_max_elements) {
      return make_error(Errc::kLimitExceeded, "too many shared object events", r.offset());
    }
    SharedObjectEvent ev;
    RTMP_TRY(uint8_t type, r.u8());
    RTMP_TRY(uint32_t len, r.u32be());
    RTMP_TRY(Bytes data, r.bytes(len));
    ev.type = type;
    ev.data.assign(data.begin(), data.end());
    so.events.push_back(std::move(ev));
  }
  return so;
}

Message build_shared_object(const SharedObjectMessage& so) {
  Message m;
  m.type = static_cast<uint8_t>(MessageType::kSharedObjectAmf0);
  m.csid = 3;
  ByteWriter w(m.payload);
  w.u16be(static_cast<uint16_t>(so.name.size()));
  w.string(so.name);
  w.u32be(so.version);
  w.u32be(so.persistent ? 2 : 0);
  w.u32be(0);
  for (const auto& ev : so.events) {
    w.u8(ev.type);
    w.u32be(static_cast<uint32_t>(ev.data.size()));
    w.bytes(ev.data);
  }
  return m;
}

}  // namespace rtmp
