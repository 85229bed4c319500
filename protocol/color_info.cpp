#include "protocol/color_info.h"

#include <cmath>

#include "protocol/amf0.h"
#include "protocol/byte_writer.h"

namespace rtmp {
namespace {

using amf::Value;

Error malformed(std::string what) {
  return make_error(Errc::kMalformed, "colorInfo: " + std::move(what), 0);
}

// The properties of an Object or ECMA array (what E-RTMP says readers must accept); nullptr
// for Undefined/null (= absent). Any other kind is malformed.
Result<const amf::Properties*> object_or_absent(const Value& v, const char* name) {
  if (v.is_undefined() || v.is_null()) return static_cast<const amf::Properties*>(nullptr);
  if (v.is_object() || v.is_ecma_array()) return v.properties();
  return malformed(std::string(name) + " is not an object");
}

const Value* find(const amf::Properties& props, std::string_view key) {
  for (const auto& [k, v] : props) {
    if (k == key) return &v;
  }
  return nullptr;
}

// A finite number in [lo, hi]; nullopt when absent (missing, Undefined or null).
Result<std::optional<double>> number(const amf::Properties& props, const char* key, double lo,
                                     double hi) {
  const Value* v = find(props, key);
  if (!v || v->is_undefined() || v->is_null()) return std::optional<double>();
  auto d = v->as_number();
  if (!d) return malformed(std::string(key) + " is not a number");
  if (!std::isfinite(*d) || *d < lo || *d > hi) {
    return malformed(std::string(key) + " = " + std::to_string(*d) + " is out of range");
  }
  return std::optional<double>(*d);
}

// An integer in [lo, hi] that fits a byte.
Result<std::optional<uint8_t>> small_int(const amf::Properties& props, const char* key, double lo,
                                         double hi) {
  RTMP_TRY(std::optional<double> d, number(props, key, lo, hi));
  if (!d) return std::optional<uint8_t>();
  if (*d != std::floor(*d)) return malformed(std::string(key) + " is not an integer");
  return std::optional<uint8_t>(static_cast<uint8_t>(*d));
}

Result<std::optional<HdrMdcv::Xy>> chromaticity(const amf::Properties& props, const char* x_key,
                                                const char* y_key) {
  RTMP_TRY(std::optional<double> x, number(props, x_key, 0, 1));
  RTMP_TRY(std::optional<double> y, number(props, y_key, 0, 1));
  if (!x && !y) return std::optional<HdrMdcv::Xy>();
  if (!x || !y) return malformed(std::string(x ? x_key : y_key) + " without its pair");
  return std::optional<HdrMdcv::Xy>(HdrMdcv::Xy{*x, *y});
}

// Light levels and luminances: the spec's ranges are 0.0001-10000 cd/m²; we take any finite
// non-negative value (0 is what encoders write for "unknown") and leave the judgement to the
// consumer.
constexpr double kMaxLight = 1e9;

Result<ColorInfo> parse_color_info(const amf::Properties& props) {
  ColorInfo info;
  if (const Value* v = find(props, "colorConfig")) {
    RTMP_TRY(const amf::Properties* cc, object_or_absent(*v, "colorConfig"));
    if (cc) {
      ColorConfig c;
      RTMP_TRY(c.bit_depth, small_int(*cc, "bitDepth", 1, 16));
      RTMP_TRY(c.color_primaries, small_int(*cc, "colorPrimaries", 0, 255));
      RTMP_TRY(c.transfer_characteristics, small_int(*cc, "transferCharacteristics", 0, 255));
      RTMP_TRY(c.matrix_coefficients, small_int(*cc, "matrixCoefficients", 0, 255));
      info.color_config = c;
    }
  }
  if (const Value* v = find(props, "hdrCll")) {
    RTMP_TRY(const amf::Properties* cll, object_or_absent(*v, "hdrCll"));
    if (cll) {
      HdrCll c;
      RTMP_TRY(c.max_fall, number(*cll, "maxFall", 0, kMaxLight));
      RTMP_TRY(c.max_cll, number(*cll, "maxCLL", 0, kMaxLight));
      info.hdr_cll = c;
    }
  }
  if (const Value* v = find(props, "hdrMdcv")) {
    RTMP_TRY(const amf::Properties* md, object_or_absent(*v, "hdrMdcv"));
    if (md) {
      HdrMdcv m;
      RTMP_TRY(m.red, chromaticity(*md, "redX", "redY"));
      RTMP_TRY(m.green, chromaticity(*md, "greenX", "greenY"));
      RTMP_TRY(m.blue, chromaticity(*md, "blueX", "blueY"));
      RTMP_TRY(m.white_point, chromaticity(*md, "whitePointX", "whitePointY"));
      RTMP_TRY(m.max_luminance, number(*md, "maxLuminance", 0, kMaxLight));
      RTMP_TRY(m.min_luminance, number(*md, "minLuminance", 0, kMaxLight));
      info.hdr_mdcv = m;
    }
  }
  return info;
}

void put(amf::Object& o, const char* key, const std::optional<double>& v) {
  if (v) o.properties.emplace_back(key, Value(*v));
}
void put(amf::Object& o, const char* key, const std::optional<uint8_t>& v) {
  if (v) o.properties.emplace_back(key, Value(static_cast<double>(*v)));
}
void put(amf::Object& o, const char* x_key, const char* y_key,
         const std::optional<HdrMdcv::Xy>& v) {
  if (!v) return;
  o.properties.emplace_back(x_key, Value(v->x));
  o.properties.emplace_back(y_key, Value(v->y));
}

}  // namespace

Result<VideoMetadata> parse_video_metadata(Bytes body, const Limits& limits) {
  RTMP_TRY(std::vector<Value> values, amf0::decode_all(body, limits));
  VideoMetadata md;
  for (size_t i = 0; i < values.size(); i += 2) {
    const std::string* name = values[i].as_string();
    if (!name) return malformed("metadata name " + std::to_string(i / 2) + " is not a string");
    if (i + 1 >= values.size()) return malformed("metadata '" + *name + "' without a value");
    if (*name != "colorInfo") {
      md.unknown_names.push_back(*name);
      continue;
    }
    RTMP_TRY(const amf::Properties* props, object_or_absent(values[i + 1], "colorInfo"));
    if (!props) {
      md.color_info = ColorInfo{};
      continue;
    }
    RTMP_TRY(ColorInfo info, parse_color_info(*props));
    md.color_info = info;
  }
  return md;
}

void build_video_metadata(const ColorInfo& info, std::vector<uint8_t>& out) {
  ByteWriter w(out);
  amf0::encode(Value("colorInfo"), w);
  if (info.empty()) {
    amf0::encode(Value(amf::Undefined{}), w);
    return;
  }
  amf::Object root;
  if (info.color_config) {
    amf::Object c;
    put(c, "bitDepth", info.color_config->bit_depth);
    put(c, "colorPrimaries", info.color_config->color_primaries);
    put(c, "transferCharacteristics", info.color_config->transfer_characteristics);
    put(c, "matrixCoefficients", info.color_config->matrix_coefficients);
    root.properties.emplace_back("colorConfig", Value(std::move(c)));
  }
  if (info.hdr_cll) {
    amf::Object c;
    put(c, "maxFall", info.hdr_cll->max_fall);
    put(c, "maxCLL", info.hdr_cll->max_cll);
    root.properties.emplace_back("hdrCll", Value(std::move(c)));
  }
  if (info.hdr_mdcv) {
    amf::Object m;
    put(m, "redX", "redY", info.hdr_mdcv->red);
    put(m, "greenX", "greenY", info.hdr_mdcv->green);
    put(m, "blueX", "blueY", info.hdr_mdcv->blue);
    put(m, "whitePointX", "whitePointY", info.hdr_mdcv->white_point);
    put(m, "maxLuminance", info.hdr_mdcv->max_luminance);
    put(m, "minLuminance", info.hdr_mdcv->min_luminance);
    root.properties.emplace_back("hdrMdcv", Value(std::move(m)));
  }
  amf0::encode(Value(std::move(root)), w);
}

Status build_color_info_tag(Codec codec, uint8_t track, const ColorInfo& info,
                            std::vector<uint8_t>& out) {
  if (!is_video(codec) || codec_fourcc(codec) == 0) {
    return make_error(Errc::kInvalidArgument, std::string(codec_name(codec)) +
                                                  " has no video FourCC for a Metadata packet");
  }
  std::vector<uint8_t> amf;
  build_video_metadata(info, amf);
  VideoTagSpec spec;
  spec.packet = VideoPacketType::kMetadata;
  spec.force_enhanced = true;
  if (track == 0) {
    spec.frame_type = VideoFrameType::kCommand;
  } else {
    spec.frame_type = VideoFrameType::kReserved;
    spec.multitrack = AvMultitrackType::kOneTrack;
  }
  spec.units = {UnitSpec{track, codec, 0, amf}};
  return build_video_tag(spec, out);
}

}  // namespace rtmp
