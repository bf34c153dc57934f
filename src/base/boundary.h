// The public API's promise: every entry point throws only corelm::Error. Public functions wrap
// their bodies as
//   try { ... } catch (...) { rethrow_as_error("component"); }
// and a JSON type error, an allocation failure or any other std::exception that escaped the
// checks becomes an Error with the component's prefix, marked "an unchecked error: a bug in
// corelm" (every input is checked where it is read; reaching this net means a check is missing).
// Only a failed allocation is an ordinary outcome here.
#pragma once

namespace corelm {

// Must be called inside a catch block. Rethrows a corelm::Error as it is and anything else as
// an Error with `component`'s prefix.
[[noreturn]] void rethrow_as_error(const char* component);

}  // namespace corelm
