// The network families of the model zoo, as a type: configs name them by string once
// (model.arch), everything after dispatches on the enum.
#pragma once

namespace mn::models {

enum class Arch { wrn, mobilenet_v1, mobilenet_v2, resnet50 };

inline const char* arch_name(Arch a) {
  switch (a) {
    case Arch::wrn: return "wrn";
    case Arch::mobilenet_v1: return "mobilenet_v1";
    case Arch::mobilenet_v2: return "mobilenet_v2";
    case Arch::resnet50: return "resnet50";
  }
  return "?";
}

}  // namespace mn::models
