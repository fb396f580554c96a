// Config loading: defaults, every shipped config loads, and each kind of mistake gives a message
// naming the file:line, the key, the value and what is allowed (or the nearest valid key).
#include <doctest/doctest.h>

#include <filesystem>

#include "mutualnet/config.h"
#include "mutualnet/experiment.h"
#include "tensor/conv2d_dnnl.h"
#include "tensor/error.h"
#include "tests/common/test_util.h"

using namespace mn;

using test::error_of;

TEST_CASE("config: values from the file override defaults; the name defaults to the file stem") {
  Config c = parse_config("seed = 7\n[train]\nepochs = 5\n[optim]\nlr = 0.05\nnesterov = false\n",
                          "configs/demo.toml");
  CHECK(c.seed == 7);
  CHECK(c.train.epochs == 5);
  CHECK(c.optim.lr == doctest::Approx(0.05));
  CHECK_FALSE(c.optim.nesterov);
  CHECK(c.train.batch_size == 128);  // default kept
  CHECK(c.name == "demo");
  CHECK(c.data.resolutions == std::vector<int64_t>{28, 24, 20, 16});
}

TEST_CASE("config: an unknown key names file:line and the nearest valid key") {
  std::string e = error_of([] { parse_config("[train]\nepochs = 3\nepoch = 4\n", "x.toml"); });
  CHECK(e == "x.toml:3: unknown key 'train.epoch'; did you mean 'train.epochs'?");
  e = error_of([] { parse_config("epochs = 4\n", "x.toml"); });
  CHECK(e == "x.toml:1: unknown key 'epochs'; did you mean 'train.epochs'?");
  e = error_of([] { parse_config("[trian]\nepochs = 4\n", "x.toml"); });
  CHECK(e == "x.toml:1: unknown key 'trian'; did you mean 'train'?");
}

TEST_CASE("config: wrong types and ranges name the key, the value and the allowed range") {
  CHECK(error_of([] { parse_config("[train]\n\nepochs = 0\n", "x.toml"); }) ==
        "x.toml:3: train.epochs = 0 is out of range; expected an integer in [1, 100000]");
  CHECK(error_of([] { parse_config("[train]\nepochs = \"3\"\n", "x.toml"); }) ==
        "x.toml:2: train.epochs = \"3\" is a string; expected an integer in [1, 100000]");
  CHECK(error_of([] { parse_config("[train]\nepochs = 2.5\n", "x.toml"); }) ==
        "x.toml:2: train.epochs = 2.5 is a float; expected an integer in [1, 100000]");
  CHECK(error_of([] { parse_config("[optim]\nlr = -0.1\n", "x.toml"); }) ==
        "x.toml:2: optim.lr = -0.1 is out of range; expected a number in [0, 100]");
  CHECK(error_of([] { parse_config("[model]\narch = \"vgg\"\n", "x.toml"); }) ==
        "x.toml:2: model.arch = \"vgg\" is not allowed; expected one of \"wrn\", \"mobilenet_v1\", "
        "\"mobilenet_v2\", \"resnet50\"");
  CHECK(error_of([] { parse_config("[data]\nresolutions = [28, 2]\n", "x.toml"); }) ==
        "x.toml:2: data.resolutions = [28, 2] has an item out of range (2); expected a list of 1 "
        "to 16 integers in [4, 4096]");
  CHECK(error_of([] { parse_config("[optim]\nnesterov = 1\n", "x.toml"); }) ==
        "x.toml:2: optim.nesterov = 1 is an integer; expected true or false");
  CHECK(error_of([] { parse_config("[train]\nbatch_size = 0\n", "x.toml"); }) ==
        "x.toml:2: train.batch_size = 0 is out of range; expected an integer in [1, 65536]");
  CHECK(error_of([] { parse_config("[optim]\nmomentum = 1.0\n", "x.toml"); }) ==
        "x.toml:2: optim.momentum = 1.0 is out of range; expected a number in [0, 0.999]");
  CHECK(error_of([] { parse_config("[optim]\nmomentum = -0.5\n", "x.toml"); }) ==
        "x.toml:2: optim.momentum = -0.5 is out of range; expected a number in [0, 0.999]");
  CHECK(error_of([] { parse_config("[optim]\nlr = nan\n", "x.toml"); }) ==
        "x.toml:2: optim.lr = nan is out of range; expected a number in [0, 100]");
  CHECK(error_of([] { parse_config("[data]\nresolutions = [0]\n", "x.toml"); }) ==
        "x.toml:2: data.resolutions = [0] has an item out of range (0); expected a list of 1 to 16 integers in [4, 4096]");
  CHECK(error_of([] { parse_config("[data]\nresolutions = []\n", "x.toml"); }) ==
        "x.toml:2: data.resolutions = [] has 0 items; expected a list of 1 to 16 integers in [4, 4096]");
  CHECK(error_of([] { parse_config("[mutualnet]\nwidth_min = 0\n", "x.toml"); }) ==
        "x.toml:2: mutualnet.width_min = 0 is out of range; expected a number in [0.01, 1]");
  // Integers are accepted where a float is expected.
  CHECK(parse_config("[optim]\nlr = 1\n", "x.toml").optim.lr == 1.0);
}

TEST_CASE("config: TOML syntax errors and cross-key checks") {
  CHECK(error_of([] { parse_config("[train]\nepochs = = 3\n", "x.toml"); }).rfind("x.toml:2: ", 0) == 0);
  CHECK(error_of([] { parse_config("[mutualnet]\nwidth_min = 0.9\nwidth_max = 0.5\n", "x.toml"); }) ==
        "x.toml: mutualnet.width_min = 0.9 exceeds mutualnet.width_max = 0.5");
  CHECK(error_of([] { parse_config("[data]\nresolutions = [24, 28]\n", "x.toml"); }) ==
        "x.toml: data.resolutions must be strictly decreasing (largest first), got 24 then 28");
  CHECK(error_of([] { parse_config("[model]\ndepth = 12\n", "x.toml"); }) ==
        "x.toml: model.depth = 12 is not 6n + 4 (WRN depths: 10, 16, 22, 28, 40, ...)");
  CHECK(error_of([] { parse_config("[augment]\neval_resize = 24\n", "x.toml"); }) ==
        "x.toml: augment.eval_resize = 24 is smaller than the centre crop data.resolutions[0] = 28 (its border would be black)");
  CHECK(parse_config("[augment]\neval_resize = 32\n", "x.toml").augment.eval_resize == 32);
}

// Found by tests/fuzz/config_fuzz.cpp: a non-ASCII character where toml++ 3.3.0 looks for
// whitespace was undefined behaviour (UBSan: unreachable in is_non_ascii_horizontal_whitespace).
TEST_CASE("config: non-ASCII bytes are an error naming the line, in the file and in --set") {
  CHECK(error_of([] { parse_config("\xef\xbb\xbeR 0.2]\ncropcr\x7fp\"\npaj = ", "x.toml"); }) ==
        "x.toml:1: non-ASCII byte 0xef; configs are ASCII (write other characters as \\uXXXX escapes in strings)");
  CHECK(error_of([] { parse_config("[data]\n\xcc\xaa", "x.toml"); }).rfind("x.toml:2: non-ASCII byte 0xcc; ", 0) == 0);
  CHECK(error_of([] { parse_config("", "x.toml", {"data.root=/data/caf\xc3\xa9"}); })
            .rfind("--set:1: non-ASCII byte 0xc3; ", 0) == 0);
  CHECK(parse_config("[data]\nroot = \"/data/caf\\u00e9\"\n", "x.toml").data.root == "/data/caf\xc3\xa9");
}

TEST_CASE("config: --set overrides any key, with the same validation") {
  Config c = parse_config("[train]\nepochs = 3\n", "x.toml",
                          {"train.epochs=7", "data.root=/data/fm", "data.resolutions=[32, 16]",
                           "mutualnet.distill=false", "optim.lr=0.2", "name=\"exp 1\""});
  CHECK(c.train.epochs == 7);
  CHECK(c.data.root == "/data/fm");
  CHECK(c.data.resolutions == std::vector<int64_t>{32, 16});
  CHECK_FALSE(c.mutualnet.distill);
  CHECK(c.optim.lr == doctest::Approx(0.2));
  CHECK(c.name == "exp 1");
  CHECK(error_of([] { parse_config("", "x.toml", {"train.epoch=3"}); }) ==
        "--set train.epoch=3: unknown key 'train.epoch'; did you mean 'train.epochs'?");
  CHECK(error_of([] { parse_config("", "x.toml", {"train.epochs=-1"}); }) ==
        "--set train.epochs=-1: train.epochs = -1 is out of range; expected an integer in [1, 100000]");
  CHECK(error_of([] { parse_config("", "x.toml", {"train.epochs"}); }) ==
        "--set train.epochs: expected key=value (e.g. train.epochs=5)");
  CHECK(error_of([] { parse_config("", "x.toml", {"optim.lr=fast"}); }) ==
        "--set optim.lr=fast: 'fast' is not a value; expected a number in [0, 100]");
}

TEST_CASE("config: the resolved TOML reads back to the same config; hash and diff") {
  Config c = parse_config("[train]\nepochs = 4\n[optim]\nlr = 0.3\n", "configs/a.toml");
  std::string text = config_to_toml(c);
  Config back = parse_config(text, "runs/a/config.toml");
  CHECK(config_to_toml(back) == text);
  CHECK(config_hash(back) == config_hash(c));
  CHECK(config_diff(c, back).empty());

  Config other = parse_config(text, "runs/a/config.toml",
                              {"optim.lr=0.1", "train.epochs=5", "data.workers=1", "device=cpu"});
  // Only keys that change results count: workers and device may differ on a resume.
  CHECK(config_diff(c, other) ==
        std::vector<std::string>{"optim.lr: 0.3 -> 0.1", "train.epochs: 4 -> 5"});
  CHECK(config_hash(other) != config_hash(c));
  CHECK(config_value(c, "data.mean") == "[0.286]");
}

TEST_CASE("config: every shipped config loads") {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(MN_SOURCE_DIR "/configs")) {
    if (entry.path().extension() != ".toml") continue;
    INFO(entry.path().string());
    CHECK_NOTHROW(load_config(entry.path().string()));
    ++n;
  }
  CHECK(n >= 6);
}

TEST_CASE("config: choices are parsed once into their enums, from the file and from --set") {
  Config c = parse_config("device = \"cpu\"\n[model]\narch = \"mobilenet_v2\"\nin_channels = 3\nnum_classes = 100\n"
                          "[data]\ndataset = \"cifar100\"\nmean = [0.5, 0.5, 0.5]\nstd = [0.25, 0.25, 0.25]\n"
                          "on_bad_image = \"skip\"\n[augment]\ncrop = \"random_resized_crop\"\n",
                          "x.toml", {"optim.schedule=step", "augment.pad_mode=\"zero\"", "device=cuda"});
  CHECK(c.device == DevicePolicy::cuda);
  CHECK(c.model.arch == models::Arch::mobilenet_v2);
  CHECK(c.data.dataset == DatasetKind::cifar100);
  CHECK(c.data.on_bad_image == data::OnBadImage::skip);
  CHECK(c.augment.crop == CropKind::random_resized_crop);
  CHECK(c.augment.pad_mode == data::PadMode::zero);
  CHECK(c.optim.schedule == nn::LrSchedule::Kind::step);
  CHECK(c.mutualnet.max_loss == LossKind::cross_entropy);
  CHECK(config_value(c, "model.arch") == "\"mobilenet_v2\"");
  CHECK(config_value(c, "optim.schedule") == "\"step\"");
  CHECK(config_to_toml(c).find("dataset = \"cifar100\"") != std::string::npos);
  CHECK(config_to_toml(parse_config(config_to_toml(c), "back.toml")) == config_to_toml(c));
  CHECK(error_of([] { parse_config("", "x.toml", {"optim.schedule=linear"}); }) ==
        "--set optim.schedule=linear: optim.schedule = \"linear\" is not allowed; expected one of \"cosine\", "
        "\"step\", \"constant\"");
  CHECK(error_of([] { parse_config("[mutualnet]\nmax_loss = \"kl\"\n", "x.toml"); }) ==
        "x.toml:2: mutualnet.max_loss = \"kl\" is not allowed; expected one of \"cross_entropy\"");
  CHECK(error_of([] { parse_config("[data]\ndataset = 3\n", "x.toml"); }) ==
        "x.toml:2: data.dataset = 3 is an integer; expected one of \"fashion_mnist\", \"mnist\", \"cifar10\", "
        "\"cifar100\", \"folder\"");
  CHECK(error_of([] { parse_config("[data]\ndataset = \"cifar10\"\n", "x.toml"); }) ==
        "x.toml: data.dataset = \"cifar10\" has 3 channels, model.in_channels = 1");
}

TEST_CASE("config: precision auto is bf16 on a bf16 GPU, else tf32, and fp32 on the CPU; the others are taken as named") {
  Config c;
  CHECK(resolve_precision(c, Device::cpu()) == Precision::fp32);
  CHECK(resolve_precision(PrecisionPolicy::automatic, Device::cpu(), false) == Precision::fp32);
  CHECK(resolve_precision(PrecisionPolicy::automatic, Device::cuda(), true) == Precision::bf16);
  CHECK(resolve_precision(PrecisionPolicy::automatic, Device::cuda(), false) == Precision::tf32);
  CHECK(resolve_precision(c, Device::cuda()) == (cuda_bf16_supported() ? Precision::bf16 : Precision::tf32));
  CHECK(resolve_precision(PrecisionPolicy::fp32, Device::cuda(), true) == Precision::fp32);
  CHECK(resolve_precision(PrecisionPolicy::tf32, Device::cuda(), true) == Precision::tf32);
  CHECK(resolve_precision(PrecisionPolicy::bf16, Device::cuda(), false) == Precision::bf16);  // set_precision refuses it
  c = parse_config("precision = \"bf16\"\n", "p.toml");
  CHECK(resolve_precision(c, Device::cpu()) == Precision::bf16);
  CHECK(error_of([] { parse_config("precision = \"fp16\"\n", "p.toml"); }).find("precision") != std::string::npos);
}

TEST_CASE("config: memory_format auto is nhwc on CUDA, and on the CPU where oneDNN runs its convs") {
  Config c;
  CHECK(resolve_memory_format(c, Device::cpu()) ==
        (dnnl_conv::built ? MemoryFormat::channels_last : MemoryFormat::contiguous));
  CHECK(resolve_memory_format(c, Device::cuda()) == MemoryFormat::channels_last);
  c = parse_config("memory_format = \"nchw\"\n", "m.toml");
  CHECK(resolve_memory_format(c, Device::cuda()) == MemoryFormat::contiguous);
  CHECK(resolve_memory_format(c, Device::cpu()) == MemoryFormat::contiguous);
  c = parse_config("memory_format = \"nhwc\"\n", "m.toml");
  CHECK(resolve_memory_format(c, Device::cpu()) == MemoryFormat::channels_last);
  backend(Device::cpu()).set_memory_format(MemoryFormat::channels_last);
  CHECK(backend(Device::cpu()).memory_format() == MemoryFormat::channels_last);
  backend(Device::cpu()).set_memory_format(MemoryFormat::contiguous);
  CHECK(backend(Device::cpu()).memory_format() == MemoryFormat::contiguous);
  CHECK(error_of([] { parse_config("memory_format = \"chw\"\n", "m.toml"); }).find("memory_format") != std::string::npos);
}
