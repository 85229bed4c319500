// ertmp-inspect: prints what an FLV file or a captured RTMP byte stream contains, using the
// protocol library (so it shows exactly what our elements will see).
//
//   ertmp-inspect [--json] FILE.flv        one line per tag + a summary
//   ertmp-inspect [--json] --rtmp FILE     one direction of an RTMP connection (handshake
//                                          included), one line per message + a summary
// On bad input: everything before the fault is printed, then the error with its offset on
// stderr, exit code 1.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "protocol/amf0.h"
#include "protocol/chunk_reader.h"
#include "protocol/command.h"
#include "protocol/control.h"
#include "protocol/flv_file.h"
#include "protocol/flv_tag.h"
#include "protocol/handshake.h"

namespace {

using namespace rtmp;

struct TrackStats {
  std::string kind;
  int track = 0;
  std::string codec;
  uint64_t packets = 0;
  uint64_t keyframes = 0;
  uint64_t bytes = 0;
  int64_t first_ts = -1;
  int64_t last_ts = -1;
};

struct Printer {
  bool json = false;
  std::map<std::pair<std::string, int>, TrackStats> tracks;
  uint64_t items = 0;
  int64_t min_ts = -1, max_ts = -1;

  static std::string quote(const std::string& s) { return amf::to_json(amf::Value(s)); }

  void line(const std::string& text_form, const std::string& json_form) {
    std::printf("%s\n", json ? json_form.c_str() : text_form.c_str());
  }

  void note_ts(int64_t ts) {
    if (min_ts < 0 || ts < min_ts) min_ts = ts;
    if (ts > max_ts) max_ts = ts;
  }

  // One audio/video tag body (FLV tag or RTMP message).
  void media(const char* prefix, uint64_t index, bool video, int64_t ts, Bytes body) {
    note_ts(ts);
    auto tag = parse_flv_tag(video ? TagType::kVideo : TagType::kAudio, body);
    if (!tag.ok()) {
      line(std::string(prefix) + " " + std::to_string(index) + " " + (video ? "video" : "audio") +
               " ts=" + std::to_string(ts) + " size=" + std::to_string(body.size()) +
               " SKIPPED: " + tag.error().to_string(),
           "{\"" + std::string(prefix) + "\":" + std::to_string(index) + ",\"type\":\"" +
               (video ? "video" : "audio") + "\",\"ts\":" + std::to_string(ts) +
               ",\"size\":" + std::to_string(body.size()) +
               ",\"skipped\":" + quote(tag.error().to_string()) + "}");
      return;
    }
    for (const auto& u : tag->units) {
      static const char* kPacket[] = {"seq-start", "frames",  "seq-end", "metadata",
                                      "ts-seq",    "mc-conf", "command", "silence"};
      const char* packet = kPacket[static_cast<int>(u.packet)];
      std::string codec = codec_name(u.codec);
      if (codec_fourcc(u.codec) && tag->enhanced)
        codec += " (" + fourcc_string(codec_fourcc(u.codec)) + ")";
      std::string kind = video ? "video" : "audio";
      auto& st = tracks[{kind, u.track_id}];
      st.kind = kind;
      st.track = u.track_id;
      st.codec = codec;
      if (u.packet == PacketKind::kCodedFrames) {
        ++st.packets;
        st.keyframes += u.keyframe && video;
        st.bytes += u.size;
        if (st.first_ts < 0) st.first_ts = ts;
        st.last_ts = ts;
      }
      std::string text = std::string(prefix) + " " + std::to_string(index) + " " + kind +
                         " ts=" + std::to_string(ts) + " codec=" + codec + " packet=" + packet +
                         (video ? (u.keyframe ? " key" : " inter") : "") +
                         " size=" + std::to_string(u.size) + " track=" + std::to_string(u.track_id);
      if (u.composition_time) text += " cts=" + std::to_string(u.composition_time);
      if (u.nano_offset) text += " nano=" + std::to_string(u.nano_offset);
      std::string js =
          "{\"" + std::string(prefix) + "\":" + std::to_string(index) + ",\"type\":\"" + kind +
          "\",\"ts\":" + std::to_string(ts) + ",\"codec\":" + quote(codec) + ",\"packet\":\"" +
          packet + "\"" + ",\"keyframe\":" + (u.keyframe ? "true" : "false") +
          ",\"size\":" + std::to_string(u.size) + ",\"track\":" + std::to_string(u.track_id) +
          ",\"cts\":" + std::to_string(u.composition_time) + "}";
      line(text, js);
    }
  }

  void data(const char* prefix, uint64_t index, int64_t ts, const Message& m) {
    note_ts(ts);
    auto d = parse_data_message(m);
    if (!d.ok()) {
      line(std::string(prefix) + " " + std::to_string(index) + " data ts=" + std::to_string(ts) +
               " MALFORMED: " + d.error().to_string(),
           "{\"" + std::string(prefix) + "\":" + std::to_string(index) +
               ",\"type\":\"data\",\"error\":" + quote(d.error().to_string()) + "}");
      return;
    }
    std::string vals, jvals;
    for (const auto& v : d->values) {
      vals += " " + amf::to_string(v);
      jvals += (jvals.empty() ? "" : ",") + amf::to_json(v);
    }
    line(std::string(prefix) + " " + std::to_string(index) + " data ts=" + std::to_string(ts) +
             (d->set_data_frame ? " @setDataFrame" : "") + " " + d->handler + vals,
         "{\"" + std::string(prefix) + "\":" + std::to_string(index) +
             ",\"type\":\"data\",\"ts\":" + std::to_string(ts) +
             ",\"handler\":" + quote(d->handler) + ",\"values\":[" + jvals + "]}");
  }

  void summary(const std::string& what, std::FILE* out = stdout) {
    double duration =
        max_ts >= min_ts && min_ts >= 0 ? static_cast<double>(max_ts - min_ts) / 1000.0 : 0;
    if (json) {
      std::string js = "{\"summary\":{\"" + what + "\":" + std::to_string(items) +
                       ",\"duration_s\":" + std::to_string(duration) + ",\"tracks\":[";
      bool first = true;
      for (const auto& [key, t] : tracks) {
        js += std::string(first ? "" : ",") + "{\"type\":\"" + t.kind +
              "\",\"track\":" + std::to_string(t.track) + ",\"codec\":" + quote(t.codec) +
              ",\"packets\":" + std::to_string(t.packets) +
              ",\"keyframes\":" + std::to_string(t.keyframes) +
              ",\"bytes\":" + std::to_string(t.bytes) + "}";
        first = false;
      }
      std::fprintf(out, "%s]}}\n", js.c_str());
      return;
    }
    std::fprintf(out, "summary: %llu %s, duration %.3f s\n", static_cast<unsigned long long>(items),
                 what.c_str(), duration);
    for (const auto& [key, t] : tracks) {
      std::fprintf(out, "  %s track %d: %s, %llu packets (%llu key), %llu bytes\n", t.kind.c_str(),
                   t.track, t.codec.c_str(), static_cast<unsigned long long>(t.packets),
                   static_cast<unsigned long long>(t.keyframes),
                   static_cast<unsigned long long>(t.bytes));
    }
  }
};

int fail(Printer& p, const std::string& what, const Error& e) {
  p.summary(what);
  std::fflush(stdout);
  std::fprintf(stderr, "ertmp-inspect: error at offset %llu: %s\n",
               static_cast<unsigned long long>(e.offset), e.to_string().c_str());
  return 1;
}

int inspect_flv(const std::vector<uint8_t>& bytes, Printer& p) {
  Limits limits;
  limits.max_message_size = 16 * 1024 * 1024;
  FlvReader reader(limits);
  Status st = reader.receive(bytes);
  while (auto t = reader.next_tag()) {
    ++p.items;
    if (t->type == 8 || t->type == 9) {
      p.media("tag", p.items, t->type == 9, t->timestamp, t->body);
    } else if (t->type == 18 || t->type == 15) {
      Message m;
      m.type = t->type;
      m.payload = t->body;
      p.data("tag", p.items, t->timestamp, m);
    } else {
      p.line("tag " + std::to_string(p.items) + " type=" + std::to_string(t->type) + " ignored",
             "{\"tag\":" + std::to_string(p.items) + ",\"type\":" + std::to_string(t->type) + "}");
    }
  }
  for (const auto& w : reader.warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (!st.ok()) return fail(p, "tags", st.error());
  if (!reader.at_boundary()) {
    return fail(p, "tags",
                make_error(Errc::kTruncated, "file ends inside a tag", reader.bytes_consumed()));
  }
  p.summary("tags");
  return 0;
}

std::string control_text(const Message& m) {
  switch (m.kind()) {
    case MessageType::kSetChunkSize: {
      auto v = parse_set_chunk_size(m.payload);
      return "SetChunkSize " + (v.ok() ? std::to_string(*v) : std::string("?"));
    }
    case MessageType::kAbort:
      return "Abort";
    case MessageType::kAcknowledgement: {
      auto v = parse_acknowledgement(m.payload);
      return "Acknowledgement " + (v.ok() ? std::to_string(*v) : std::string("?"));
    }
    case MessageType::kWindowAckSize: {
      auto v = parse_window_ack_size(m.payload);
      return "WindowAckSize " + (v.ok() ? std::to_string(*v) : std::string("?"));
    }
    case MessageType::kSetPeerBandwidth: {
      auto v = parse_set_peer_bandwidth(m.payload);
      return "SetPeerBandwidth " + (v.ok() ? std::to_string(v->window) + " limit " +
                                                 std::to_string(static_cast<int>(v->limit))
                                           : std::string("?"));
    }
    case MessageType::kUserControl: {
      auto v = parse_user_control(m.payload);
      if (!v.ok()) return "UserControl ?";
      static const char* kNames[] = {"StreamBegin", "StreamEOF", "StreamDry",   "SetBufferLength",
                                     "IsRecorded",  "?",         "PingRequest", "PingResponse"};
      auto t = static_cast<uint16_t>(v->type);
      std::string s = std::string("UserControl ") + (t < 8 ? kNames[t] : "unknown") + " " +
                      std::to_string(v->value);
      if (v->type == UserControlType::kSetBufferLength)
        s += " " + std::to_string(v->buffer_ms) + "ms";
      return s;
    }
    default:
      return "type " + std::to_string(m.type);
  }
}

int inspect_rtmp(const std::vector<uint8_t>& bytes, Printer& p) {
  Bytes rest = bytes;
  if (!rest.empty()) {
    if (rest[0] != kRtmpVersion) {
      return fail(
          p, "messages",
          make_error(Errc::kBadVersion,
                     "first byte " + std::to_string(rest[0]) + " is not RTMP version 3", 0));
    }
    size_t hs = 1 + 2 * kHandshakeSize;
    if (rest.size() < hs) {
      return fail(p, "messages",
                  make_error(Errc::kTruncated, "stream ends inside the handshake", rest.size()));
    }
    p.line("handshake version 3, 3073 bytes", "{\"handshake\":{\"version\":3,\"bytes\":3073}}");
    rest = rest.subspan(hs);
  }
  Limits limits;
  limits.max_message_size = 16 * 1024 * 1024;
  limits.max_chunk_size = 0x7FFFFFFF;
  ChunkReader reader(limits);
  Status st = reader.receive(rest);
  while (auto m = reader.next_message()) {
    ++p.items;
    auto ts = static_cast<int64_t>(m->timestamp);
    std::string head = "msg " + std::to_string(p.items) + " csid=" + std::to_string(m->csid) +
                       " stream=" + std::to_string(m->stream_id) + " ";
    std::string jhead = "{\"msg\":" + std::to_string(p.items) +
                        ",\"csid\":" + std::to_string(m->csid) +
                        ",\"stream\":" + std::to_string(m->stream_id);
    switch (m->kind()) {
      case MessageType::kAudio:
      case MessageType::kVideo:
        p.media("msg", p.items, m->kind() == MessageType::kVideo, ts, m->payload);
        break;
      case MessageType::kDataAmf0:
      case MessageType::kDataAmf3:
        p.data("msg", p.items, ts, *m);
        break;
      case MessageType::kCommandAmf0:
      case MessageType::kCommandAmf3: {
        auto c = parse_command(*m, limits);
        if (!c.ok()) {
          p.line(head + "command MALFORMED: " + c.error().to_string(),
                 jhead + ",\"type\":\"command\",\"error\":" +
                     Printer::quote(c.error().to_string()) + "}");
          break;
        }
        std::string args = amf::to_string(c->command_object),
                    jargs = amf::to_json(c->command_object);
        for (const auto& a : c->args) {
          args += " " + amf::to_string(a);
          jargs += "," + amf::to_json(a);
        }
        char txn[32];
        std::snprintf(txn, sizeof txn, "%g", c->transaction_id);
        p.line(head + "command " + c->name + " txn=" + txn + " " + args,
               jhead + ",\"type\":\"command\",\"name\":" + Printer::quote(c->name) +
                   ",\"txn\":" + txn + ",\"args\":[" + jargs + "]}");
        break;
      }
      case MessageType::kAggregate:
        p.line(
            head + "aggregate size=" + std::to_string(m->payload.size()),
            jhead + ",\"type\":\"aggregate\",\"size\":" + std::to_string(m->payload.size()) + "}");
        break;
      default:
        p.line(head + control_text(*m),
               jhead + ",\"type\":\"control\",\"text\":" + Printer::quote(control_text(*m)) + "}");
    }
  }
  if (!st.ok()) {
    Error e = st.error();
    e.offset += 1 + 2 * kHandshakeSize;
    return fail(p, "messages", e);
  }
  p.summary("messages");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Printer p;
  bool rtmp_mode = false;
  std::string path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") {
      p.json = true;
    } else if (a == "--rtmp") {
      rtmp_mode = true;
    } else if (a == "-h" || a == "--help") {
      std::printf(
          "usage: ertmp-inspect [--json] [--rtmp] FILE\n"
          "  FILE.flv          print every FLV tag and a summary\n"
          "  --rtmp FILE       FILE is one direction of an RTMP connection\n");
      return 0;
    } else {
      path = a;
    }
  }
  if (path.empty()) {
    std::fprintf(stderr, "usage: ertmp-inspect [--json] [--rtmp] FILE\n");
    return 2;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "ertmp-inspect: cannot open %s\n", path.c_str());
    return 2;
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  return rtmp_mode ? inspect_rtmp(bytes, p) : inspect_flv(bytes, p);
}
