// The definition behind the opaque infer_model handle.
#pragma once

#include "runtime/model.h"

#include <memory>

struct infer_model {
    std::unique_ptr<infer::Model> model;
};
