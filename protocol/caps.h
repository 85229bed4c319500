// E-RTMP connect-time capability negotiation (E-RTMP v2 "Enhancing NetConnection connect
// Command"; ertmp-wire.md A.6).
//
//   fourCcList           strict array of FourCC strings the client can receive; "*" = any
//   videoFourCcInfoMap   object FourCC -> FourCcInfoMask (CanDecode 1, CanEncode 2, CanForward 4)
//   audioFourCcInfoMap   same for audio; a "*" key overrides the per-codec flags
//   capsEx               CapsExMask: Reconnect 1, Multitrack 2, ModEx 4, TimestampNanoOffset 8
//   videoFunction        0x01 client seek, 0x02 HDR, 0x04 VideoPacketType.Metadata,
//                        0x08 large-scale tile
//   objectEncoding       0 (AMF0) or 3 (AMF3)
// Parsing never fails: OBS sends none of these, gortmplib/SRS echo none, ffmpeg only sends
// fourCcList when asked. We record what we understood and ignore the rest.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/amf_value.h"

namespace rtmp {

enum FourCcInfo : uint32_t {
  kCanDecode = 0x01,
  kCanEncode = 0x02,
  kCanForward = 0x04,
};

enum CapsEx : uint32_t {
  kCapsExReconnect = 0x01,
  kCapsExMultitrack = 0x02,
  kCapsExModEx = 0x04,
  kCapsExTimestampNanoOffset = 0x08,
};

struct PeerCapabilities {
  std::vector<std::string> fourcc_list;
  std::map<std::string, uint32_t, std::less<>> video_fourcc_info;
  std::map<std::string, uint32_t, std::less<>> audio_fourcc_info;
  uint32_t caps_ex = 0;
  uint32_t video_function = 0;
  double object_encoding = 0;
  // True when any E-RTMP property was present (a legacy client sends none).
  bool present_any = false;

  // Whether the peer said it can handle `fourcc` for `mask` (info maps first, then the legacy
  // fourCcList which implies decode + forward), honouring "*".
  bool supports_video(std::string_view fourcc, uint32_t mask = kCanDecode) const;
  bool supports_audio(std::string_view fourcc, uint32_t mask = kCanDecode) const;
  bool operator==(const PeerCapabilities&) const = default;
};

// Reads the E-RTMP properties of a connect command object (or a _result properties object).
PeerCapabilities parse_capabilities(const amf::Value& object);
// Writes the properties into `object` (turned into an object if it is not one).
void add_capabilities(amf::Value& object, const PeerCapabilities& caps);

// What an ingest server that records/forwards everything announces: every FourCC we can parse
// with CanForward|CanDecode, and capsEx Multitrack | ModEx | TimestampNanoOffset | Reconnect.
PeerCapabilities default_server_capabilities();
// What a publishing client announces for the codecs it will send (CanEncode).
PeerCapabilities client_capabilities(const std::vector<std::string>& video_fourccs,
                                     const std::vector<std::string>& audio_fourccs,
                                     uint32_t caps_ex);
// The server's `_result` echo: ours, restricted to what the client offered where that makes
// sense (capsEx is the intersection; FourCC maps keep our own flags for codecs the client
// named, or all of ours when it named "*" or used only fourCcList).
PeerCapabilities server_echo(const PeerCapabilities& ours, const PeerCapabilities& client);

}  // namespace rtmp
