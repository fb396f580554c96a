// stb_image as mn uses it: decoding from memory only (files are read by the datasets), with
// messages for users. data/stb.cpp compiles its implementation.
#pragma once
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
