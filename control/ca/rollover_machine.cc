#include "control/ca/rollover_machine.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace palisade::control::ca {
namespace {

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

int64_t ToUnixOrZero(absl::Time t) { return t == absl::InfinitePast() ? 0 : absl::ToUnixMillis(t); }

absl::Time FromUnixOrPast(int64_t ms) {
  return ms == 0 ? absl::InfinitePast() : absl::FromUnixMillis(ms);
}

}  // namespace

absl::string_view PhaseName(RolloverPhase phase) {
  switch (phase) {
    case RolloverPhase::kIdle:
      return "idle";
    case RolloverPhase::kPropagating:
      return "propagating";
    case RolloverPhase::kRekeying:
      return "rekeying";
    case RolloverPhase::kRetiring:
      return "retiring";
  }
  return "idle";
}

nlohmann::json RolloverStatusToJson(const RolloverStatus& s) {
  return {{"phase", std::string(PhaseName(s.phase))},
          {"started_at_ms", ToUnixOrZero(s.started_at)},
          {"phase_started_at_ms", ToUnixOrZero(s.phase_started_at)},
          {"target_bundle_version", s.target_bundle_version},
          {"new_root", s.new_root},
          {"old_roots", s.old_roots},
          {"history", s.history},
          // Stored so that replicas that do not lead can show it.
          {"waiting_on", s.waiting_on}};
}

absl::StatusOr<RolloverStatus> RolloverStatusFromJson(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("phase") || !j["phase"].is_string()) {
    return absl::InvalidArgumentError("no \"phase\"");
  }
  RolloverStatus s;
  const std::string phase = j["phase"].get<std::string>();
  if (phase == "idle") {
    s.phase = RolloverPhase::kIdle;
  } else if (phase == "propagating") {
    s.phase = RolloverPhase::kPropagating;
  } else if (phase == "rekeying") {
    s.phase = RolloverPhase::kRekeying;
  } else if (phase == "retiring") {
    s.phase = RolloverPhase::kRetiring;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown phase \"", phase, "\""));
  }
  try {
    s.started_at = FromUnixOrPast(j.value("started_at_ms", int64_t{0}));
    s.phase_started_at = FromUnixOrPast(j.value("phase_started_at_ms", int64_t{0}));
    s.target_bundle_version = j.value("target_bundle_version", uint64_t{0});
    s.new_root = j.value("new_root", "");
    s.old_roots = j.value("old_roots", std::vector<std::string>{});
    s.history = j.value("history", std::vector<std::string>{});
    s.waiting_on = j.value("waiting_on", std::vector<std::string>{});
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
  return s;
}

absl::Status RolloverMachine::Start(absl::Time now, uint64_t target_bundle_version,
                                    std::string new_root, std::vector<std::string> old_roots) {
  if (status_.phase != RolloverPhase::kIdle) {
    return absl::FailedPreconditionError(
        absl::StrCat("a root rollover is already under way (phase ", PhaseName(status_.phase),
                     " since ", Rfc3339(status_.phase_started_at), ")"));
  }
  RolloverStatus next;
  next.phase = RolloverPhase::kPropagating;
  next.started_at = now;
  next.phase_started_at = now;
  next.target_bundle_version = target_bundle_version;
  next.new_root = std::move(new_root);
  next.old_roots = std::move(old_roots);
  // The history outlives one rollover: the overview shows the earlier ones.
  next.history = std::move(status_.history);
  const std::string line =
      absl::StrCat(Rfc3339(now), " idle -> propagating: new root ", next.new_root.substr(0, 16),
                   " in bundle version ", target_bundle_version);
  status_ = std::move(next);
  AddHistory(line);
  return absl::OkStatus();
}

void RolloverMachine::AddHistory(std::string line) {
  status_.history.push_back(std::move(line));
  if (status_.history.size() > kMaxRolloverHistory) {
    status_.history.erase(status_.history.begin(), status_.history.end() - kMaxRolloverHistory);
  }
}

nlohmann::json RolloverHistoryToJson(const std::vector<std::string>& history) {
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& line : history) {
    // "<time> <from> -> <to>: <detail>"
    const size_t space = line.find(' ');
    const size_t arrow = line.find(" -> ");
    const size_t colon = line.find(": ", arrow == std::string::npos ? 0 : arrow);
    absl::Time parsed;
    std::string error;
    if (space == std::string::npos || arrow == std::string::npos || colon == std::string::npos ||
        arrow < space ||
        !absl::ParseTime("%Y-%m-%dT%H:%M:%SZ", line.substr(0, space), &parsed, &error)) {
      out.push_back({{"time", nullptr}, {"from", ""}, {"to", ""}, {"detail", line}});
      continue;
    }
    out.push_back({{"time", line.substr(0, space)},
                   {"from", line.substr(space + 1, arrow - space - 1)},
                   {"to", line.substr(arrow + 4, colon - arrow - 4)},
                   {"detail", line.substr(colon + 2)}});
  }
  return out;
}

void RolloverMachine::Advance(RolloverPhase next, absl::Time now, bool timed_out) {
  std::string line =
      absl::StrCat(Rfc3339(now), " ", PhaseName(status_.phase), " -> ", PhaseName(next), ": ");
  if (timed_out) {
    absl::StrAppend(&line, "timed out waiting for ", status_.waiting_on.size(), " proxies (",
                    absl::StrJoin(status_.waiting_on, ", "), ")");
  } else {
    absl::StrAppend(&line, "every proxy is done");
  }
  AddHistory(std::move(line));
  status_.phase = next;
  status_.phase_started_at = now;
  if (next == RolloverPhase::kIdle) status_.waiting_on.clear();
}

RolloverMachine::Transition RolloverMachine::Evaluate(absl::Time now,
                                                      const std::vector<ProxyView>& fleet) {
  std::vector<std::string> waiting;
  absl::Duration timeout;
  switch (status_.phase) {
    case RolloverPhase::kIdle:
      return Transition::kNone;
    case RolloverPhase::kPropagating:
      timeout = timeouts_.propagating;
      for (const ProxyView& p : fleet) {
        if (p.acked_bundle_version < status_.target_bundle_version) waiting.push_back(p.name);
      }
      break;
    case RolloverPhase::kRekeying:
      timeout = timeouts_.rekeying;
      for (const ProxyView& p : fleet) {
        if (p.leaf_root_fingerprint != status_.new_root) waiting.push_back(p.name);
      }
      break;
    case RolloverPhase::kRetiring:
      timeout = timeouts_.retiring;
      for (const ProxyView& p : fleet) {
        for (const std::string& old : status_.old_roots) {
          auto it = p.connections_by_root.find(old);
          if (it != p.connections_by_root.end() && it->second > 0) {
            waiting.push_back(p.name);
            break;
          }
        }
      }
      break;
  }
  if (status_.phase == RolloverPhase::kPropagating &&
      now - status_.phase_started_at < timeouts_.propagating_min) {
    // Not a proxy: nothing to time out on, the minimum simply has to pass.
    waiting.push_back(absl::StrCat("federated trust domains: one bundle endpoint refresh (",
                                   absl::FormatDuration(timeouts_.propagating_min), ")"));
    status_.waiting_on = std::move(waiting);
    return Transition::kNone;
  }
  status_.waiting_on = std::move(waiting);
  const bool timed_out = now - status_.phase_started_at >= timeout;
  if (!status_.waiting_on.empty() && !timed_out) return Transition::kNone;
  const bool late = !status_.waiting_on.empty();
  switch (status_.phase) {
    case RolloverPhase::kPropagating:
      Advance(RolloverPhase::kRekeying, now, late);
      return Transition::kEnterRekeying;
    case RolloverPhase::kRekeying:
      Advance(RolloverPhase::kRetiring, now, late);
      return Transition::kEnterRetiring;
    case RolloverPhase::kRetiring:
      Advance(RolloverPhase::kIdle, now, late);
      return Transition::kFinish;
    case RolloverPhase::kIdle:
      break;
  }
  return Transition::kNone;
}

}  // namespace palisade::control::ca
