// The one translation unit that compiles Boost.Asio (its TLS streams included) and Boost.Beast
// (separate compilation), so the rest of the project only parses their declarations.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
