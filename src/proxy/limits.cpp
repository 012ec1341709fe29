#include "sluice/proxy/limits.hpp"

#include "sluice/proxy/usage.hpp"

namespace sluice::proxy {

Task<limit::Decided> Limits::decide(const limit::RoutePolicy& policy,
                                    const limit::RequestFacts& request, Nanos max_wait,
                                    LimitTicket& ticket) {
  if (!waits_for_store(policy)) co_return decide_now(policy, request, max_wait, ticket);
  ticket.shared = std::make_unique<redis::SharedTicket>();
  limit::Decided decision = co_await shared_->decide(policy, request, *ticket.shared);
  ticket.store = redis::store_name(ticket.shared->path, shared_->on_error());
  keep_deadline(decision, max_wait, ticket);
  co_return decision;
}

limit::Decided Limits::decide_now(const limit::RoutePolicy& policy,
                                  const limit::RequestFacts& request, Nanos max_wait,
                                  LimitTicket& ticket) {
  limit::Decided decision = local_.decide(policy, request, clock_.instant());
  keep_deadline(decision, max_wait, ticket);
  return decision;
}

void Limits::keep_deadline(limit::Decided& decision, Nanos max_wait, LimitTicket& ticket) {
  if (decision.outcome != limit::Outcome::delayed || decision.wait <= max_wait) return;
  cancel(decision, ticket);
  decision.outcome = limit::Outcome::rejected;
  decision.retry_after = decision.wait;
  ticket.past_deadline = true;
}

void Limits::cancel(limit::Decision& decision, LimitTicket& ticket) {
  if (ticket.shared) {
    shared_->cancel(decision, *ticket.shared);
  } else {
    local_.cancel(decision, clock_.now());
  }
}

Task<void> Limits::read(Usage& usage) {
  if (usage.shared_reads().empty() || shared_ == nullptr) co_return;
  usage.fill(co_await shared_->peek(usage.shared_reads()));
}

}  // namespace sluice::proxy
