#include "sluice/redis/reply.hpp"

#include <hiredis/hiredis.h>

namespace sluice::redis {
namespace {

Reply copy(const redisReply& r) {
  Reply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::string;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::status;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::error;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::integer;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::array;
      out.elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(copy(*r.element[i]));
      break;
    default:
      out.type = Reply::Type::nil;
      break;
  }
  return out;
}

}  // namespace

void append_command(std::string& out, std::span<const std::string> args) {
  out += '*';
  out += std::to_string(args.size());
  out += "\r\n";
  for (const std::string& arg : args) {
    out += '$';
    out += std::to_string(arg.size());
    out += "\r\n";
    out += arg;
    out += "\r\n";
  }
}

ReplyReader::ReplyReader() : reader_(redisReaderCreate()) {}

ReplyReader::~ReplyReader() {
  redisReaderFree(static_cast<redisReader*>(reader_));
}

void ReplyReader::feed(std::string_view bytes) {
  if (redisReaderFeed(static_cast<redisReader*>(reader_), bytes.data(), bytes.size()) != REDIS_OK) {
    problem_ = "cannot buffer the reply";
  }
}

std::optional<Reply> ReplyReader::next() {
  if (broken()) return std::nullopt;
  auto* reader = static_cast<redisReader*>(reader_);
  void* raw = nullptr;
  if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
    problem_ = std::string("not a RESP reply: ") + reader->errstr;
    return std::nullopt;
  }
  if (raw == nullptr) return std::nullopt;
  Reply reply = copy(*static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return reply;
}

}  // namespace sluice::redis
