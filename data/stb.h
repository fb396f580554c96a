// stb_image as mn uses it: decoding from memory only (files are read by the datasets), with
// messages for users, and only the formats mn reads through it: PNG, BMP, GIF, PGM/PPM and TGA.
// JPEGs go to TurboJPEG (data/decode.cpp); stb's own JPEG decoder, which a file with a fill byte
// before its start marker reached, writes past a Huffman table (found by tests/fuzz/image_fuzz.cpp),
// and its PSD, PIC and HDR decoders serve no dataset. data/stb.cpp compiles its implementation.
#pragma once
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_PNM
#define STBI_ONLY_TGA
#include <stb_image.h>
