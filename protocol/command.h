// Command (20 AMF0, 17 AMF3), data (18 AMF0, 15 AMF3) and shared object (19, 16) messages.
// Adobe RTMP spec 2012 §7.1.1-§7.1.3, §7.2; ertmp-wire.md A.8 for the AMF3 forms.
//
//   command:  name (string) | transaction id (number) | command object (object or null) | args*
//   data:     handler (string) | values*          e.g. "@setDataFrame" "onMetaData" {..}
//   type 17 / 15 bodies start with one format-selector byte (0 = AMF0), then AMF0 values that
//   may switch to AMF3 per value with the avmplus marker.
//   shared object (§7.1.3):  name (u16 len + UTF-8) | version u32 | flags u32 (persistent) |
//                            reserved u32 | events: type u8, length u32, data
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "protocol/amf_value.h"
#include "protocol/byte_reader.h"
#include "protocol/error.h"
#include "protocol/limits.h"
#include "protocol/message.h"

namespace rtmp {

struct Command {
  std::string name;
  double transaction_id = 0;
  amf::Value command_object = amf::Value::null();
  std::vector<amf::Value> args;

  // Convenience accessors on args (index after the command object); defaults when absent.
  std::string arg_string(size_t i) const;
  std::optional<double> arg_number(size_t i) const;
  std::optional<bool> arg_bool(size_t i) const;
};

// Parses a type 20 or 17 message. Errors: decode errors, kMalformed when the name is not a
// string or the transaction id is not a number.
Result<Command> parse_command(const Message& m, const Limits& limits);
// A type-20 message on csid 3, stream 0 (callers set stream_id/csid as needed).
Message build_command_message(const Command& c);

Command make_command(std::string name, double txn, amf::Value command_object,
                     std::vector<amf::Value> args);
// _result / _error: (txn, properties, information).
Command make_result(double txn, amf::Value properties, amf::Value information);
Command make_error_reply(double txn, amf::Value properties, amf::Value information);
// onStatus: transaction 0, null command object, the info object.
Command make_on_status(amf::Value info);

struct DataMessage {
  std::string handler;             // "onMetaData" (after stripping "@setDataFrame"), ...
  std::vector<amf::Value> values;  // the values after the handler
  bool set_data_frame = false;     // the message was wrapped in "@setDataFrame"
  bool clear_data_frame = false;   // "@clearDataFrame"
};

// Parses a type 18 or 15 message. "@setDataFrame" is stripped (ertmp-wire.md B.4 #11).
Result<DataMessage> parse_data_message(const Message& m, const Limits& limits = Limits{});
// A type-18 message: handler then values.
Message build_data_message(std::string_view handler, const std::vector<amf::Value>& values);
// "@setDataFrame" "onMetaData" <metadata as an ECMA array>.
Message build_set_data_frame(const amf::Value& metadata);

struct SharedObjectEvent {
  uint8_t type = 0;  // 1 Use, 2 Release, 3 Request Change, 4 Change, 5 Success, 6 SendMessage,
                     // 7 Status, 8 Clear, 9 Remove, 10 Request Remove, 11 Use Success
  std::vector<uint8_t> data;
};
struct SharedObjectMessage {
  std::string name;
  uint32_t version = 0;
  bool persistent = false;
  std::vector<SharedObjectEvent> events;
};
Result<SharedObjectMessage> parse_shared_object(const Message& m, const Limits& limits);
Message build_shared_object(const SharedObjectMessage& so);

}  // namespace rtmp
