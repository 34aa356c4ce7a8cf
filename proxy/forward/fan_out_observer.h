// Sends each connection event to several observers (metrics, access log).
#ifndef PALISADE_PROXY_FORWARD_FAN_OUT_OBSERVER_H_
#define PALISADE_PROXY_FORWARD_FAN_OUT_OBSERVER_H_

#include <initializer_list>
#include <string>
#include <vector>

#include "proxy/forward/connection_host.h"

namespace palisade::forward {

class FanOutObserver final : public ConnectionObserver {
 public:
  FanOutObserver(std::initializer_list<ConnectionObserver*> observers) : observers_(observers) {}
  void OnAccepted(const ListenerContext& l) override {
    for (auto* o : observers_) o->OnAccepted(l);
  }
  void OnRefused(const ListenerContext& l, const std::string& reason) override {
    for (auto* o : observers_) o->OnRefused(l, reason);
  }
  void OnHandshake(const ListenerContext& l, const HandshakeOutcome& outcome) override {
    for (auto* o : observers_) o->OnHandshake(l, outcome);
  }
  void OnClosed(const ListenerContext& l, const ConnectionSummary& summary) override {
    for (auto* o : observers_) o->OnClosed(l, summary);
  }

 private:
  std::vector<ConnectionObserver*> observers_;
};

}  // namespace palisade::forward

#endif  // PALISADE_PROXY_FORWARD_FAN_OUT_OBSERVER_H_
