#include "protocol/caps.h"

namespace rtmp {
namespace {

constexpr const char* kVideoFourCcs[] = {"avc1", "hvc1", "vp08", "vp09", "av01"};
constexpr const char* kAudioFourCcs[] = {"mp4a", "Opus", "fLaC", "ac-3", "ec-3", ".mp3"};

void read_info_map(const amf::Value* v, std::map<std::string, uint32_t, std::less<>>& out) {
  if (!v) return;
  const amf::Properties* props = v->properties();
  if (!props) return;
  for (const auto& [k, val] : *props) {
    auto n = val.as_number();
    if (n && *n >= 0 && *n <= 0xFFFFFFFF) out[k] = static_cast<uint32_t>(*n);
  }
}

bool lookup(const std::map<std::string, uint32_t, std::less<>>& info,
            const std::vector<std::string>& list, std::string_view fourcc, uint32_t mask) {
  if (!info.empty()) {
    auto star = info.find("*");
    if (star != info.end()) return (star->second & mask) == mask;
    auto it = info.find(fourcc);
    return it != info.end() && (it->second & mask) == mask;
  }
  // fourCcList: "codecs the client can receive/process" -> decode and forward.
  if ((mask & kCanEncode) != 0) return false;
  for (const auto& f : list) {
    if (f == "*" || f == fourcc) return true;
  }
  return false;
}

amf::Value info_map_value(const std::map<std::string, uint32_t, std::less<>>& m) {
  amf::Object o;
  for (const auto& [k, v] : m) o.properties.emplace_back(k, amf::Value(static_cast<double>(v)));
  return amf::Value(std::move(o));
}

}  // namespace

bool PeerCapabilities::supports_video(std::string_view fourcc, uint32_t mask) const {
  return lookup(video_fourcc_info, fourcc_list, fourcc, mask);
}
bool PeerCapabilities::supports_audio(std::string_view fourcc, uint32_t mask) const {
  return lookup(audio_fourcc_info, fourcc_list, fourcc, mask);
}

PeerCapabilities parse_capabilities(const amf::Value& object) {
  PeerCapabilities c;
  if (const amf::Value* list = object.get("fourCcList")) {
    c.present_any = true;
    auto collect = [&c](const std::vector<amf::Value>& items) {
      for (const auto& item : items) {
        if (item.as_string()) c.fourcc_list.push_back(*item.as_string());
      }
    };
    if (const auto* sa = list->as_strict_array()) collect(sa->items);
    if (const auto* ma = std::get_if<amf::MixedArray>(&list->storage())) collect(ma->dense);
  }
  if (const amf::Value* v = object.get("videoFourCcInfoMap")) {
    c.present_any = true;
    read_info_map(v, c.video_fourcc_info);
  }
  if (const amf::Value* v = object.get("audioFourCcInfoMap")) {
    c.present_any = true;
    read_info_map(v, c.audio_fourcc_info);
  }
  if (auto n = object.get_number("capsEx")) {
    c.present_any = true;
    if (*n >= 0 && *n <= 0xFFFFFFFF) c.caps_ex = static_cast<uint32_t>(*n);
  }
  if (auto n = object.get_number("videoFunction")) {
    if (*n >= 0 && *n <= 0xFFFFFFFF) c.video_function = static_cast<uint32_t>(*n);
  }
  c.object_encoding = object.get_number("objectEncoding").value_or(0);
  return c;
}

void add_capabilities(amf::Value& object, const PeerCapabilities& caps) {
  if (!caps.fourcc_list.empty()) {
    std::vector<amf::Value> items;
    for (const auto& f : caps.fourcc_list) items.emplace_back(f);
    object.set("fourCcList", amf::Value::strict_array(std::move(items)));
  }
  if (!caps.video_fourcc_info.empty()) {
    object.set("videoFourCcInfoMap", info_map_value(caps.video_fourcc_info));
  }
  if (!caps.audio_fourcc_info.empty()) {
    object.set("audioFourCcInfoMap", info_map_value(caps.audio_fourcc_info));
  }
  object.set("capsEx", amf::Value(static_cast<double>(caps.caps_ex)));
  if (caps.video_function) {
    object.set("videoFunction", amf::Value(static_cast<double>(caps.video_function)));
  }
}

PeerCapabilities default_server_capabilities() {
  PeerCapabilities c;
  for (const char* f : kVideoFourCcs) {
    c.fourcc_list.emplace_back(f);
    c.video_fourcc_info[f] = kCanDecode | kCanForward;
  }
  for (const char* f : kAudioFourCcs) {
    c.fourcc_list.emplace_back(f);
    c.audio_fourcc_info[f] = kCanDecode | kCanForward;
  }
  c.caps_ex = kCapsExReconnect | kCapsExMultitrack | kCapsExModEx | kCapsExTimestampNanoOffset;
  c.present_any = true;
  return c;
}

PeerCapabilities client_capabilities(const std::vector<std::string>& video_fourccs,
                                     const std::vector<std::string>& audio_fourccs,
                                     uint32_t caps_ex) {
  PeerCapabilities c;
  for (const auto& f : video_fourccs) {
    c.fourcc_list.push_back(f);
    c.video_fourcc_info[f] = kCanEncode;
  }
  for (const auto& f : audio_fourccs) {
    c.fourcc_list.push_back(f);
    c.audio_fourcc_info[f] = kCanEncode;
  }
  c.caps_ex = caps_ex;
  c.present_any = true;
  return c;
}

PeerCapabilities server_echo(const PeerCapabilities& ours, const PeerCapabilities& client) {
  PeerCapabilities echo;
  echo.present_any = true;
  echo.caps_ex = ours.caps_ex & client.caps_ex;
  echo.video_function = ours.video_function & client.video_function;
  echo.object_encoding = client.object_encoding;
  auto offered = [&client](const std::string& f, bool video) {
    const auto& info = video ? client.video_fourcc_info : client.audio_fourcc_info;
    if (info.empty()) {
      for (const auto& x : client.fourcc_list) {
        if (x == "*" || x == f) return true;
      }
      return false;
    }
    return info.count("*") > 0 || info.count(f) > 0;
  };
  for (const auto& [f, mask] : ours.video_fourcc_info) {
    if (offered(f, true)) echo.video_fourcc_info[f] = mask;
  }
  for (const auto& [f, mask] : ours.audio_fourcc_info) {
    if (offered(f, false)) echo.audio_fourcc_info[f] = mask;
  }
  for (const auto& f : ours.fourcc_list) {
    bool video = ours.video_fourcc_info.count(f) > 0;
    if (offered(f, video)) echo.fourcc_list.push_back(f);
  }
  return echo;
}

}  // namespace rtmp
