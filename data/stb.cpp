// The one translation unit holding stb_image's implementation, apart from mn's code because the
// sanitizer builds compile it without UBSan's nonnull-attribute check (CMakeLists.txt): stb 2.27
// passes a null buffer with a zero length to memcpy for an empty PNG chunk (found by
// tests/fuzz/image_fuzz.cpp), which copies nothing.
#define STB_IMAGE_IMPLEMENTATION
#include "data/stb.h"
