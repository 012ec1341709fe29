// The one translation unit that compiles Boost.Asio and Boost.Beast (separate compilation),
// so the rest of the project only parses their declarations.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
