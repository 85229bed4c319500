// Drop-in checks at test time: walk the properties of an installed GStreamer element (and of
// its base class) and compare ours with them, so the comparison cannot drift when either side
// changes. One function for both pairs (rtmppushsink vs rtmp2sink + GstBaseSink, and
// rtmpingestsrc vs rtmp2src + GstBaseSrc).
//
// For every property of the reference: ours must have it, with
//   - the same value type (enums and flags: the same values and nicks; their GType names
//     differ by necessity, two plugins cannot register one type name in a process),
//   - the same flags that change behaviour (readable, writable, construct, construct-only,
//     controllable, GStreamer's mutable-in-state bits),
//   - the same range (numeric types),
//   - the same default, both as declared (the GParamSpec) and as a fresh instance reports it,
// unless the difference table lists (property, aspect) with a reason. A table entry that is
// no longer needed is reported too, so the table stays short and true.
#pragma once

#include <gst/gst.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ertmp_test {

// A deliberate difference from the reference: `aspect` is one of "absent", "type", "flags",
// "range", "default".
struct DropinDifference {
  const char* property;
  const char* aspect;
  const char* reason;
};

struct DropinReport {
  std::vector<std::string> problems;           // mismatches not in the table
  std::vector<std::string> stale_differences;  // table entries that matched after all
  int properties_compared = 0;
};

namespace dropin_detail {

inline std::string value_text(const GValue* v) {
  if (!v || !G_IS_VALUE(v)) return "(none)";
  if (G_VALUE_HOLDS_STRING(v)) {
    const gchar* s = g_value_get_string(v);
    return s ? "\"" + std::string(s) + "\"" : "NULL";
  }
  gchar* s = gst_value_serialize(v);
  std::string out = s ? s : "(unserializable)";
  g_free(s);
  return out;
}

// Equal values; enums and flags by number (their GTypes differ), boxed/objects only when both
// are NULL.
inline bool same_value(const GValue* a, const GValue* b) {
  if (G_VALUE_HOLDS_ENUM(a) && G_VALUE_HOLDS_ENUM(b))
    return g_value_get_enum(a) == g_value_get_enum(b);
  if (G_VALUE_HOLDS_FLAGS(a) && G_VALUE_HOLDS_FLAGS(b))
    return g_value_get_flags(a) == g_value_get_flags(b);
  if (G_VALUE_HOLDS_BOXED(a) && G_VALUE_HOLDS_BOXED(b))
    return g_value_get_boxed(a) == nullptr && g_value_get_boxed(b) == nullptr;
  if (G_VALUE_HOLDS_OBJECT(a) && G_VALUE_HOLDS_OBJECT(b))
    return g_value_get_object(a) == nullptr && g_value_get_object(b) == nullptr;
  if (G_VALUE_TYPE(a) != G_VALUE_TYPE(b)) return false;
  if (G_VALUE_HOLDS_STRING(a)) return g_strcmp0(g_value_get_string(a), g_value_get_string(b)) == 0;
  return gst_value_compare(a, b) == GST_VALUE_EQUAL;
}

// "" when the enum/flags value lists match, else what differs.
inline std::string compare_choices(GParamSpec* theirs, GParamSpec* ours) {
  std::string out;
  if (G_IS_PARAM_SPEC_ENUM(theirs)) {
    GEnumClass* t = G_PARAM_SPEC_ENUM(theirs)->enum_class;
    GEnumClass* o = G_PARAM_SPEC_ENUM(ours)->enum_class;
    for (guint i = 0; i < t->n_values; ++i) {
      GEnumValue* mine = g_enum_get_value(o, t->values[i].value);
      if (!mine || g_strcmp0(mine->value_nick, t->values[i].value_nick) != 0)
        out += std::string(" value ") + t->values[i].value_nick + " missing or renamed;";
    }
    if (o->n_values != t->n_values) out += " a different number of values;";
  } else {
    GFlagsClass* t = G_PARAM_SPEC_FLAGS(theirs)->flags_class;
    GFlagsClass* o = G_PARAM_SPEC_FLAGS(ours)->flags_class;
    for (guint i = 0; i < t->n_values; ++i) {
      GFlagsValue* mine = g_flags_get_value_by_nick(o, t->values[i].value_nick);
      if (!mine || mine->value != t->values[i].value)
        out += std::string(" flag ") + t->values[i].value_nick + " missing or renamed;";
    }
    if (o->n_values != t->n_values) out += " a different number of flags;";
  }
  return out;
}

// "" when the numeric ranges match.
inline std::string compare_range(GParamSpec* t, GParamSpec* o) {
#define ERTMP_RANGE(CHECK, CAST, FMT)                                                      \
  if (CHECK(t)) {                                                                          \
    auto* a = CAST(t);                                                                     \
    auto* b = CAST(o);                                                                     \
    if (a->minimum != b->minimum || a->maximum != b->maximum) {                            \
      return "range " + std::to_string(a->minimum) + ".." + std::to_string(a->maximum) +   \
             " vs ours " + std::to_string(b->minimum) + ".." + std::to_string(b->maximum); \
    }                                                                                      \
    return "";                                                                             \
  }
  ERTMP_RANGE(G_IS_PARAM_SPEC_INT, G_PARAM_SPEC_INT, )
  ERTMP_RANGE(G_IS_PARAM_SPEC_UINT, G_PARAM_SPEC_UINT, )
  ERTMP_RANGE(G_IS_PARAM_SPEC_INT64, G_PARAM_SPEC_INT64, )
  ERTMP_RANGE(G_IS_PARAM_SPEC_UINT64, G_PARAM_SPEC_UINT64, )
  ERTMP_RANGE(G_IS_PARAM_SPEC_LONG, G_PARAM_SPEC_LONG, )
  ERTMP_RANGE(G_IS_PARAM_SPEC_ULONG, G_PARAM_SPEC_ULONG, )
  ERTMP_RANGE(G_IS_PARAM_SPEC_DOUBLE, G_PARAM_SPEC_DOUBLE, )
  ERTMP_RANGE(G_IS_PARAM_SPEC_FLOAT, G_PARAM_SPEC_FLOAT, )
#undef ERTMP_RANGE
  return "";
}

constexpr guint kBehaviourFlags = G_PARAM_READABLE | G_PARAM_WRITABLE | G_PARAM_CONSTRUCT |
                                  G_PARAM_CONSTRUCT_ONLY | GST_PARAM_CONTROLLABLE |
                                  GST_PARAM_MUTABLE_READY | GST_PARAM_MUTABLE_PAUSED |
                                  GST_PARAM_MUTABLE_PLAYING;

}  // namespace dropin_detail

// Compares every property of `reference_factory`'s element (which includes its base class's)
// and of `base_type` itself with `ours_factory`'s. Both factories must exist.
inline DropinReport compare_dropin(const char* ours_factory, const char* reference_factory,
                                   GType base_type,
                                   const std::vector<DropinDifference>& differences) {
  using namespace dropin_detail;
  DropinReport report;
  std::vector<bool> used(differences.size(), false);
  auto listed = [&](const char* name, const char* aspect) {
    for (size_t i = 0; i < differences.size(); ++i) {
      if (g_strcmp0(differences[i].property, name) == 0 &&
          g_strcmp0(differences[i].aspect, aspect) == 0) {
        used[i] = true;
        return true;
      }
    }
    return false;
  };
  auto problem = [&](const char* name, const char* aspect, const std::string& what) {
    if (!listed(name, aspect))
      report.problems.push_back(std::string(name) + ": " + aspect + ": " + what);
  };
  GstElement* ours = gst_element_factory_make(ours_factory, nullptr);
  GstElement* theirs = gst_element_factory_make(reference_factory, nullptr);
  if (!ours || !theirs) {
    report.problems.push_back(std::string("cannot make ") +
                              (ours ? reference_factory : ours_factory));
    if (ours) gst_object_unref(ours);
    if (theirs) gst_object_unref(theirs);
    return report;
  }
  GObjectClass* our_class = G_OBJECT_GET_CLASS(ours);
  std::vector<GParamSpec*> walk;
  guint n = 0;
  GParamSpec** specs = g_object_class_list_properties(G_OBJECT_GET_CLASS(theirs), &n);
  walk.assign(specs, specs + n);
  g_free(specs);
  auto* base_class = static_cast<GObjectClass*>(g_type_class_ref(base_type));
  specs = g_object_class_list_properties(base_class, &n);
  for (guint i = 0; i < n; ++i) {
    // The reference may override a base property (rtmp2sink's `stats`): its own wins.
    if (!g_object_class_find_property(G_OBJECT_GET_CLASS(theirs), specs[i]->name))
      walk.push_back(specs[i]);
  }
  g_free(specs);
  for (GParamSpec* t : walk) {
    const char* name = t->name;
    ++report.properties_compared;
    GParamSpec* o = g_object_class_find_property(our_class, name);
    if (!o) {
      problem(name, "absent", "ours has no such property");
      continue;
    }
    const bool choice = (G_IS_PARAM_SPEC_ENUM(t) && G_IS_PARAM_SPEC_ENUM(o)) ||
                        (G_IS_PARAM_SPEC_FLAGS(t) && G_IS_PARAM_SPEC_FLAGS(o));
    if (choice) {
      std::string diff = compare_choices(t, o);
      if (!diff.empty()) problem(name, "type", diff);
    } else if (t->value_type != o->value_type) {
      problem(name, "type",
              std::string(g_type_name(t->value_type)) + " vs ours " + g_type_name(o->value_type));
      continue;
    }
    guint tf = t->flags & kBehaviourFlags, of = o->flags & kBehaviourFlags;
    if (tf != of) problem(name, "flags", std::to_string(tf) + " vs ours " + std::to_string(of));
    if (std::string r = compare_range(t, o); !r.empty()) problem(name, "range", r);
    const GValue* td = g_param_spec_get_default_value(t);
    const GValue* od = g_param_spec_get_default_value(o);
    bool default_differs = !same_value(td, od);
    std::string default_text = "declared " + value_text(td) + " vs ours " + value_text(od);
    // What a fresh instance says (an element may change a value in its init).
    if (!default_differs && (t->flags & G_PARAM_READABLE) && g_strcmp0(name, "name") != 0 &&
        !G_IS_PARAM_SPEC_BOXED(t) && !G_IS_PARAM_SPEC_OBJECT(t)) {
      GValue tv = G_VALUE_INIT, ov = G_VALUE_INIT;
      g_value_init(&tv, t->value_type);
      g_value_init(&ov, o->value_type);
      g_object_get_property(G_OBJECT(theirs), name, &tv);
      g_object_get_property(G_OBJECT(ours), name, &ov);
      if (!same_value(&tv, &ov)) {
        default_differs = true;
        default_text = "instance " + value_text(&tv) + " vs ours " + value_text(&ov);
      }
      g_value_unset(&tv);
      g_value_unset(&ov);
    }
    if (default_differs) problem(name, "default", default_text);
  }
  g_type_class_unref(base_class);
  for (size_t i = 0; i < differences.size(); ++i) {
    if (!used[i]) {
      report.stale_differences.push_back(std::string(differences[i].property) + " (" +
                                         differences[i].aspect + ")");
    }
  }
  gst_object_unref(ours);
  gst_object_unref(theirs);
  return report;
}

// The docs must show the table the test enforces: the rows `| \`property\` | aspect |` of
// `differences` that the section from `heading` to the next `end_marker` of `doc` lacks (or
// why the section could not be read).
inline std::vector<std::string> rows_missing_from_doc(
    const std::filesystem::path& doc, const std::string& heading, const std::string& end_marker,
    const std::vector<DropinDifference>& differences) {
  std::ifstream f(doc);
  if (!f.good()) return {"cannot read " + doc.string()};
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  auto section = text.find(heading);
  if (section == std::string::npos) return {doc.string() + " has no section '" + heading + "'"};
  auto end = text.find(end_marker, section + 1);
  const std::string table = text.substr(section, end - section);
  std::vector<std::string> missing;
  for (const auto& d : differences) {
    std::string row = std::string("| `") + d.property + "` | " + d.aspect + " |";
    if (table.find(row) == std::string::npos) missing.push_back(row);
  }
  return missing;
}

// The reference element is installed (rtmp2sink, rtmp2src: gstreamer1.0-plugins-bad).
inline bool have_factory(const char* name) {
  GstElementFactory* f = gst_element_factory_find(name);
  if (f) gst_object_unref(f);
  return f != nullptr;
}

}  // namespace ertmp_test
