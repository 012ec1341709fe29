#include "sluice/proxy/limits.hpp"

#include "sluice/proxy/usage.hpp"

namespace sluice::proxy {

asio::awaitable<void> Limits::decide(const limit::RoutePolicy& policy,
                                     const limit::RequestFacts& request, Nanos max_wait,
                                     limit::Decision& decision, LimitTicket& ticket) {
  ticket.by_shared = policy.any_shared() && shared_ != nullptr;
  if (ticket.by_shared) {
    decision = co_await shared_->decide(policy, request, ticket.shared);
    ticket.store = redis::store_name(ticket.shared.path, shared_->on_error());
  } else {
    decision = local_.decide(policy, request, clock_.instant());
  }
  if (decision.outcome == limit::Outcome::delayed && decision.wait > max_wait) {
    cancel(decision, ticket);
    decision.outcome = limit::Outcome::rejected;
    decision.retry_after = decision.wait;
    ticket.past_deadline = true;
  }
}

void Limits::cancel(limit::Decision& decision, LimitTicket& ticket) {
  if (ticket.by_shared) {
    shared_->cancel(decision, ticket.shared);
  } else {
    local_.cancel(decision, clock_.now());
  }
}

asio::awaitable<void> Limits::read(Usage& usage) {
  if (usage.shared_reads().empty() || shared_ == nullptr) co_return;
  usage.fill(co_await shared_->peek(usage.shared_reads()));
}

}  // namespace sluice::proxy
