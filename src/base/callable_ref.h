// CallableRef: a non-owning, non-allocating reference to a callable, for hot paths where
// std::function's possible heap allocation is not acceptable. The callable must outlive the call.
#pragma once

#include <type_traits>
#include <utility>

namespace corelm {

template <typename Signature>
class CallableRef;

template <typename R, typename... Args>
class CallableRef<R(Args...)> {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, CallableRef>>>
  CallableRef(F&& f)  // NOLINT: implicit by design, like std::function
      : object_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace corelm
