// IterativeServer: the classic basic TCP server. One thread accepts a client
// and serves it until EOF before it accepts the next; later clients wait in
// the listen backlog.
#include <memory>

#include "core/connection.h"
#include "models/blocking_model.h"

namespace nm {

namespace {

class IterativeModel final : public BlockingModel {
 public:
  using BlockingModel::BlockingModel;

 private:
  void Dispatch(int fd) override {
    if (AtCapacity()) {
      Drop(fd);
      return;
    }
    ServeClient(fd, buf_.get(), kReadBufferSize);
  }

  std::unique_ptr<char[]> buf_{new char[kReadBufferSize]};
};

}  // namespace

NM_REGISTER_MODEL("iterative", IterativeModel);

}  // namespace nm
