// Decoders on images the tests encode themselves: PNG must round-trip exactly, JPEG within a PSNR
// bound for every subsampling / progressive / gray / CMYK variant, scaled JPEG decoding must match
// a full decode downscaled, and every broken file must be an ImageError naming it.
#include <doctest/doctest.h>
#include <turbojpeg.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>

#include "data/decode.h"
#include "data/resample.h"
#include "tests/common/test_util.h"
#include "tests/data/helpers.h"

using namespace mn::data;
using namespace mn::data::testing;

namespace {
std::string decode_error(const std::vector<uint8_t>& bytes, const std::string& name, int channels = 3) {
  return mn::test::error_of<ImageError>([&] { decode_image(bytes, channels, name); });
}
// A PNG of one IHDR (8-bit gray), one IDAT holding `rows` deflated, and IEND.
std::vector<uint8_t> gray_png(uint32_t width, uint32_t height, bool interlaced, const std::vector<uint8_t>& rows) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto chunk = [&](const char* type, const std::vector<uint8_t>& data) {
    for (int s = 24; s >= 0; s -= 8) png.push_back(uint8_t(data.size() >> s));
    const size_t start = png.size();
    png.insert(png.end(), type, type + 4);
    png.insert(png.end(), data.begin(), data.end());
    const uLong crc = crc32(0, png.data() + start, uInt(png.size() - start));
    for (int s = 24; s >= 0; s -= 8) png.push_back(uint8_t(crc >> s));
  };
  std::vector<uint8_t> header(13, 0);
  for (int s = 0; s < 4; ++s) header[3 - s] = uint8_t(width >> 8 * s), header[7 - s] = uint8_t(height >> 8 * s);
  header[8] = 8;  // bit depth; colour type 0 (gray), compression 0, filter 0
  header[12] = interlaced;
  chunk("IHDR", header);
  std::vector<uint8_t> deflated(compressBound(uLong(rows.size())));
  uLongf size = uLongf(deflated.size());
  REQUIRE(compress(deflated.data(), &size, rows.data(), uLong(rows.size())) == Z_OK);
  deflated.resize(size);
  chunk("IDAT", deflated);
  chunk("IEND", {});
  return png;
}
// Luma of an RGB image with Pillow's "L" weights, to compare gray decodes against.
ImageU8 to_gray(const ImageU8& rgb) {
  ImageU8 g(rgb.height, rgb.width, 1);
  for (size_t i = 0; i < g.pixels.size(); ++i) {
    const uint8_t* p = rgb.pixels.data() + 3 * i;
    g.pixels[i] = uint8_t((p[0] * 299 + p[1] * 587 + p[2] * 114 + 500) / 1000);
  }
  return g;
}
}  // namespace

TEST_CASE("PNG decodes exactly: RGB, gray, gray to RGB, RGBA drops alpha") {
  const ImageU8 rgb = natural_image(37, 53, 3, 1);
  DecodedImage d = decode_image(encode_png(rgb), 3, "rgb.png");
  CHECK(d.scale == 1.0);
  CHECK(d.image.height == 37);
  CHECK(d.image.width == 53);
  CHECK(d.image.pixels == rgb.pixels);

  const ImageU8 gray = natural_image(20, 30, 1, 2);
  CHECK(decode_image(encode_png(gray), 1, "gray.png").image.pixels == gray.pixels);
  const ImageU8 expanded = decode_image(encode_png(gray), 3, "gray.png").image;
  REQUIRE(expanded.channels == 3);
  for (size_t i = 0; i < gray.pixels.size(); ++i) {
    CHECK(expanded.pixels[3 * i] == gray.pixels[i]);
    CHECK(expanded.pixels[3 * i + 2] == gray.pixels[i]);
  }

  ImageU8 rgba(4, 5, 4);
  for (size_t i = 0; i < rgba.pixels.size(); ++i) rgba.pixels[i] = uint8_t(i * 7);
  const ImageU8 dropped = decode_image(encode_png(rgba), 3, "rgba.png").image;
  for (size_t p = 0; p < 20; ++p)
    for (int c = 0; c < 3; ++c) CHECK(dropped.pixels[3 * p + c] == rgba.pixels[4 * p + c]);

  const ImageHeader h = read_image_header(encode_png(rgb), "rgb.png");
  CHECK(h.width == 53);
  CHECK(h.height == 37);
  CHECK_FALSE(h.jpeg);
}

TEST_CASE("JPEG decodes close to the source for every subsampling, progressive, gray and CMYK") {
  const ImageU8 rgb = natural_image(120, 160, 3, 3);
  for (int subsamp : {TJSAMP_444, TJSAMP_422, TJSAMP_420}) {
    for (bool progressive : {false, true}) {
      CAPTURE(subsamp);
      CAPTURE(progressive);
      const ImageU8 d = decode_image(encode_jpeg(rgb, 95, subsamp, progressive), 3, "x.jpg").image;
      REQUIRE(d.height == 120);
      REQUIRE(d.width == 160);
      CHECK(psnr(d, rgb) > 33);
    }
  }
  // Gray output from a color JPEG is its luma channel.
  const ImageU8 g = decode_image(encode_jpeg(rgb, 95, TJSAMP_444), 1, "x.jpg").image;
  REQUIRE(g.channels == 1);
  CHECK(psnr(g, to_gray(rgb)) > 35);
  // A gray JPEG expands to RGB with equal channels.
  const ImageU8 gray = natural_image(64, 80, 1, 4);
  const ImageU8 g3 = decode_image(encode_jpeg(gray, 95, TJSAMP_GRAY), 3, "g.jpg").image;
  REQUIRE(g3.channels == 3);
  CHECK(g3.pixels[0] == g3.pixels[1]);
  CHECK(g3.pixels[300] == g3.pixels[302]);
  CHECK(psnr(decode_image(encode_jpeg(gray, 95, TJSAMP_GRAY), 1, "g.jpg").image, gray) > 35);
  // CMYK (Adobe-style YCCK) comes back as RGB, and as gray through RGB.
  const std::vector<uint8_t> cmyk = encode_jpeg_cmyk(rgb, 95);
  const ImageU8 c3 = decode_image(cmyk, 3, "cmyk.jpg").image;
  REQUIRE(c3.channels == 3);
  CHECK(psnr(c3, rgb) > 30);
  CHECK(psnr(decode_image(cmyk, 1, "cmyk.jpg").image, to_gray(rgb)) > 30);

  const ImageHeader h = read_image_header(encode_jpeg(rgb, 90, TJSAMP_420), "x.jpg");
  CHECK(h.jpeg);
  CHECK(h.width == 160);
  CHECK(h.height == 120);
}

TEST_CASE("scaled JPEG decoding picks the smallest DCT scale that keeps min_scale, matching a full decode downscaled") {
  CHECK(jpeg_decode_scale(500, 375, 1.0) == 1.0);
  CHECK(jpeg_decode_scale(500, 375, 0.6) == 1.0);
  CHECK(jpeg_decode_scale(500, 375, 0.5) == 0.5);
  CHECK(jpeg_decode_scale(500, 375, 0.3) == 0.5);
  CHECK(jpeg_decode_scale(500, 375, 0.25) == 0.25);
  CHECK(jpeg_decode_scale(500, 375, 0.2) == 0.25);
  CHECK(jpeg_decode_scale(500, 375, 0.01) == 0.125);
  CHECK(jpeg_decode_scale(40, 375, 0.01) == 1.0);  // too small to scale safely

  const ImageU8 rgb = natural_image(203, 301, 3, 5);  // sizes not divisible by 8
  const std::vector<uint8_t> jpeg = encode_jpeg(rgb, 95, TJSAMP_420);
  const ImageU8 full = decode_image(jpeg, 3, "x.jpg").image;
  for (double scale : {0.5, 0.25, 0.125}) {
    CAPTURE(scale);
    const DecodedImage d = decode_image(jpeg, 3, "x.jpg", scale);
    CHECK(d.scale == scale);
    const int h = int(std::ceil(203 * scale)), w = int(std::ceil(301 * scale));  // TJSCALED
    REQUIRE(d.image.height == h);
    REQUIRE(d.image.width == w);
    // Compare the whole blocks (the last row/column covers a partial one): scaled pixel (y, x)
    // averages source pixels [y / scale, (y + 1) / scale).
    const int hw = int(203 * scale), ww = int(301 * scale);
    const ImageU8 reference = resize_u8(full, Box{0, 0, ww / scale, hw / scale}, hw, ww, true);
    ImageU8 inner(hw, ww, 3);
    for (int y = 0; y < hw; ++y) std::copy_n(d.image.row(y), ww * 3, inner.row(y));
    CHECK(psnr(inner, reference) > 28);
  }
  // PNGs ignore the hint.
  CHECK(decode_image(encode_png(rgb), 3, "x.png", 0.25).scale == 1.0);
}

TEST_CASE("broken images are ImageErrors naming the file, never a crash") {
  const ImageU8 rgb = natural_image(64, 64, 3, 6);
  const std::vector<uint8_t> jpeg = encode_jpeg(rgb, 90, TJSAMP_420);
  const std::vector<uint8_t> png = encode_png(rgb);

  // Truncated JPEG: libjpeg warns "premature end" and fills gray; treated as corrupt.
  std::vector<uint8_t> cut(jpeg.begin(), jpeg.begin() + ptrdiff_t(jpeg.size() / 2));
  std::string e = decode_error(cut, "cut.jpg");
  CHECK(e.find("cut.jpg") != std::string::npos);
  CHECK(e.find("JPEG") != std::string::npos);
  // Only the header survives.
  std::vector<uint8_t> header_only(jpeg.begin(), jpeg.begin() + 200);
  CHECK(decode_error(header_only, "h.jpg").find("h.jpg") != std::string::npos);
  // JPEG magic then garbage: a fatal libjpeg error.
  std::vector<uint8_t> garbage = {0xFF, 0xD8, 0xFF, 0x00, 0x13, 0x37};
  CHECK(decode_error(garbage, "garbage.jpg").find("garbage.jpg: bad JPEG header") == 0);
  CHECK_THROWS_AS(read_image_header(garbage, "garbage.jpg"), ImageError);
  // Corrupt entropy-coded data in the middle.
  std::vector<uint8_t> scrambled = jpeg;
  for (size_t i = jpeg.size() / 3; i < jpeg.size() / 3 + 64; ++i) scrambled[i] = uint8_t(scrambled[i] * 31 + 7);
  CHECK(decode_error(scrambled, "scrambled.jpg").find("scrambled.jpg") != std::string::npos);
  // Truncated PNG, not an image at all, empty file.
  std::vector<uint8_t> png_cut(png.begin(), png.begin() + ptrdiff_t(png.size() / 2));
  CHECK(decode_error(png_cut, "cut.png").find("cut.png: truncated PNG: the chunk at byte ") == 0);
  std::vector<uint8_t> text = {'h', 'e', 'l', 'l', 'o'};
  CHECK(decode_error(text, "notes.txt").find("notes.txt") == 0);
  CHECK_THROWS_AS(read_image_header(text, "notes.txt"), ImageError);
  CHECK(decode_error({}, "empty.jpg") == "empty.jpg: empty file");
  // A PGM of 0 rows, which stb_image decodes (found by tests/fuzz/image_fuzz.cpp: was a memcpy to null).
  const std::string pgm = "P5 4 0 255\n";
  CHECK(decode_error({pgm.begin(), pgm.end()}, "flat.pgm") == "flat.pgm: image of 4x0 pixels");
  // A long run of digits in a PNM header overflowed stb_image's int (found by
  // tests/fuzz/image_fuzz.cpp, undefined behaviour under UBSan): refused before stb reads it.
  const std::string digits = "P5 " + std::string(40, '9');
  CHECK(decode_error({digits.begin(), digits.end()}, "digits.pgm") ==
        "digits.pgm: PNM header width has more than 9 digits");
  const std::vector<uint8_t> digit_bytes(digits.begin(), digits.end());
  CHECK(mn::test::error_of<ImageError>([&] { read_image_header(digit_bytes, "digits.pgm"); }) ==
        "digits.pgm: PNM header width has more than 9 digits");
  const std::string tall = "P6 # by hand\n4\n# rows:\n1234567890 255\n";
  CHECK(decode_error({tall.begin(), tall.end()}, "tall.ppm") == "tall.ppm: PNM header height has more than 9 digits");
  // 16-bit samples: stb_image 2.27 reads them little-endian and converts their channels with its
  // 8-bit routine, past its buffer (found by the same fuzz target: a heap overflow under ASan).
  std::string deep = "P5 2 1 65535\n";
  deep += std::string(4, '\x7f');
  CHECK(decode_error({deep.begin(), deep.end()}, "deep.pgm", 3) ==
        "deep.pgm: 16-bit PNM (maxval 65535) is not supported; convert it to 8 bits");
  // A truncated PNM, which stb_image would return with uninitialised pixels.
  const std::string cut_pnm = "P6 3 4 255\n" + std::string(17, '\x40');
  CHECK(decode_error({cut_pnm.begin(), cut_pnm.end()}, "cut.ppm") ==
        "cut.ppm: truncated PNM: 17 pixel bytes where its 3x4 header needs 36");
  const std::string wide = "P5 100000 100000 255\n";
  CHECK(decode_error({wide.begin(), wide.end()}, "wide.pgm") ==
        "wide.pgm: 100000x100000 pixels is larger than the 33554432-pixel limit of images that are not JPEG");
  // A truncated TGA, which stb_image returns with the missing pixels uninitialised (uncompressed)
  // or black (RLE); its few bytes claiming many pixels also slowed tests/fuzz/image_fuzz.cpp down.
  const std::vector<uint8_t> tga_header = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 24, 0x20};  // 2x2 BGR
  std::vector<uint8_t> tga = tga_header;
  for (int i = 0; i < 4; ++i) tga.insert(tga.end(), {0x10, 0x20, 0x30});
  const Bytes rgb_pixels = {0x30, 0x20, 0x10, 0x30, 0x20, 0x10, 0x30, 0x20, 0x10, 0x30, 0x20, 0x10};
  CHECK(decode_image(tga, 3, "ok.tga").image.pixels == rgb_pixels);
  tga.pop_back();
  CHECK(decode_error(tga, "cut.tga") == "cut.tga: truncated TGA: 29 bytes where its 2x2 header needs 30");
  // 17 bytes of an RLE TGA's header, claiming 5137 x 4370 pixels, which stb decoded from zeros
  // (found by tests/fuzz/image_fuzz.cpp: 5 s, a timeout there).
  const std::vector<uint8_t> short_tga = {0, 0, 10, 0, 0, 0, 0, 0, 0, 13, 0x90, 14, 0x11, 0x14, 0x12, 0x11, 24};
  CHECK(decode_error(short_tga, "short.tga") == "short.tga: truncated TGA: 17 bytes, shorter than its 18-byte header");
  std::vector<uint8_t> rle = tga_header;
  rle[2] = 10;
  for (uint8_t b : {0x83, 0x10, 0x20, 0x30}) rle.push_back(b);  // 4 pixels of one colour
  CHECK(decode_image(rle, 3, "ok_rle.tga").image.pixels == rgb_pixels);
  rle[18] = 0x81;  // 2 pixels, and nothing after them
  CHECK(decode_error(rle, "cut_rle.tga") ==
        "cut_rle.tga: truncated TGA: its 22 bytes hold 2 of the 4 pixels of its 2x2 header");
  // A 33-byte GIF claiming a 16383 x 16383 canvas, for which stb_image allocated 9 bytes a pixel
  // (2.4 GB, found by tests/fuzz/image_fuzz.cpp as an out-of-memory): refused from its header.
  const std::vector<uint8_t> vast_gif = {
      'G', 'I', 'F', '8', '9', 'a', 0xff, 0x3f, 0xff, 0x3f, 0x80, 0, 0,  // 16383 x 16383, a colour table
      0, 0, 0, 0xff, 0xff, 0xff,                                         // of 2 colours
      ',', 0, 0, 0, 0, 1, 0, 1, 0, 0,                                    // a 1x1 frame
      2, 1, 0x44, 0};                                                    // its LZW data
  REQUIRE(vast_gif.size() == 33);
  CHECK(decode_error(vast_gif, "vast.gif") ==
        "vast.gif: 16383x16383 pixels is larger than the 33554432-pixel limit of images that are not JPEG");
  // An empty IDAT chunk, for which stb_image passes memcpy a null buffer and a zero length (UBSan
  // reported it from the fuzz target; data/stb.cpp is compiled without that check).
  const std::vector<uint8_t> empty_idat = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                           0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 8, 0, 0, 0, 8, 8, 0, 0, 0, 0, 1, 2, 3, 4,
                                           0, 0, 0, 0, 'I', 'D', 'A', 'T', 1, 2, 3, 4,
                                           0, 0, 0, 0, 'I', 'E', 'N', 'D', 1, 2, 3, 4};
  CHECK(decode_error(empty_idat, "empty_idat.png") == "empty_idat.png: cannot decode image (Corrupt PNG)");
  // An IDAT chunk declaring 2^31 - 1 bytes in a 57-byte file, for which stb_image grew its buffer
  // to that before reading it (found by tests/fuzz/image_fuzz.cpp as an out-of-memory).
  std::vector<uint8_t> vast_idat = empty_idat;
  vast_idat[33] = 0x7f, vast_idat[34] = vast_idat[35] = vast_idat[36] = 0xff;
  CHECK(decode_error(vast_idat, "vast_idat.png") ==
        "vast_idat.png: truncated PNG: the chunk at byte 33 claims 2147483647 bytes, 16 follow");
  // A fill byte before the start marker: not a JPEG for TurboJPEG, but stb_image took it for one and
  // wrote past a Huffman table (found by tests/fuzz/image_fuzz.cpp, UBSan); stb decodes no JPEG now.
  const std::vector<uint8_t> filled = {0xff, 0xff, 0xd8, 0xff, 0xff, 0xc4, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00,
                                       0x2a, 0x00, 0xff, 0xd9, 0xab, 0x07, 0x00, 0x00, 0x60, 0x60, 0x00, 0x00,
                                       0xff, 0xc4, 0x01, 0x01, 0x01, 0x01, 0x01, 0x44, 0x01, 0x00, 0xff, 0xd9};
  CHECK(decode_error(filled, "filled.jpg") == "filled.jpg: not a readable image (Image not of any known type, or corrupt)");
  // Comments between the numbers are still read as PNM allows.
  const std::string commented = "P5\n# made by hand\n2 # width\n1\n255\n\x10\x20";
  const ImageU8 two = decode_image(std::vector<uint8_t>(commented.begin(), commented.end()), 1, "ok.pgm").image;
  CHECK(two.width == 2);
  CHECK(two.height == 1);
  CHECK(two.pixels[0] == 0x10);
  CHECK(two.pixels[1] == 0x20);
  // Garbage between the entropy-coded data and the end marker only draws a libjpeg warning about
  // extraneous bytes: the pixels are intact, so the image is accepted.
  std::vector<uint8_t> padded = jpeg;
  padded.insert(padded.end() - 2, {0x12, 0x34, 0x56});
  CHECK(decode_image(padded, 3, "padded.jpg").image.pixels == decode_image(jpeg, 3, "ok.jpg").image.pixels);
  // A header announcing 60000 x 60000 pixels is refused before anything is allocated.
  std::vector<uint8_t> huge = jpeg;
  for (size_t i = 0; i + 8 < huge.size(); ++i)
    if (huge[i] == 0xFF && huge[i + 1] == 0xC0) {  // SOF0: length(2) precision(1) height(2) width(2)
      huge[i + 5] = huge[i + 7] = 0xEA;
      huge[i + 6] = huge[i + 8] = 0x60;
      break;
    }
  CHECK(decode_error(huge, "huge.jpg") ==
        "huge.jpg: 60000x60000 pixels is larger than the 268435456-pixel limit");
  // The decoder is still usable afterwards (TurboJPEG recovered from each error).
  CHECK(psnr(decode_image(jpeg, 3, "ok.jpg").image, rgb) > 30);
}

TEST_CASE("truncated BMPs and PNGs inflating past their rows are refused; exact files decode") {
  auto pixels = [](const ImageU8& image) { return std::vector<uint8_t>(image.pixels.begin(), image.pixels.end()); };
  // A 3x2 24-bit BMP: rows bottom-up, BGR, each padded to 12 bytes.
  const uint8_t header[30] = {'B', 'M', 78, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0,  // file header, pixels at 54
                              40, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 24, 0};  // 3x2, 1 plane, 24 bits
  std::vector<uint8_t> bmp(54, 0);  // the rest of the 40-byte info header: zeros
  std::copy(header, header + 30, bmp.begin());
  for (int row = 0; row < 2; ++row) {
    for (int x = 0; x < 3; ++x)
      for (int v : {10 * x, 100 + row, 200 + x}) bmp.push_back(uint8_t(v));
    bmp.resize(bmp.size() + 3, 0);
  }
  REQUIRE(bmp.size() == 78);
  const ImageU8 full = decode_image(bmp, 3, "ok.bmp").image;
  const std::vector<uint8_t> expected = {200, 101, 0, 201, 101, 10, 202, 101, 20,   // top row: the file's last
                                         200, 100, 0, 201, 100, 10, 202, 100, 20};
  CHECK(pixels(full) == expected);
  // The last row's padding may be missing: stb skips it without reading it.
  bmp.resize(75);
  CHECK(pixels(decode_image(bmp, 3, "unpadded.bmp").image) == expected);
  // stb_image returned a byte shorter with its last pixel's red black.
  bmp.pop_back();
  CHECK(decode_error(bmp, "cut.bmp") == "cut.bmp: truncated BMP: 74 bytes where its 3x2 header needs 75");
  // Text in a BMP's header: stb refuses its info-header size, but the sides it claims (0x62207375 x
  // 0x73657479) overflowed the size computed before (found by tests/fuzz/image_fuzz.cpp, UBSan).
  const char vast_bmp[] = "BMf\0\0\0\0\0\0\0extraneous bytesP+ \0\0\0\0\0\0\x13\x0b\0\0te\x03\x12\0\x0e\0\x0a\x12";
  static_assert(sizeof vast_bmp == 49);
  CHECK(decode_error(std::vector<uint8_t>(vast_bmp, vast_bmp + 48), "vast.bmp") ==
        "vast.bmp: not a readable image (Image not of any known type, or corrupt)");

  // 8x8 gray: 8 rows of a filter byte and 8 pixels. 1 MiB of zeros deflates to about 1 KiB, which
  // stb_image inflated whole before noticing it was not 72 bytes.
  std::vector<uint8_t> rows(72, 0);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = i % 9 == 0 ? 0 : uint8_t(i);
  const ImageU8 image = decode_image(gray_png(8, 8, false, rows), 1, "ok.png").image;
  CHECK(image.pixels[9] == 11);  // row 1, column 1
  const std::vector<uint8_t> bomb = gray_png(8, 8, false, std::vector<uint8_t>(1 << 20, 0));
  CHECK(bomb.size() < 2000);
  CHECK(decode_error(bomb, "bomb.png", 1) == "bomb.png: corrupt PNG: its pixel data inflates past the 72 bytes its header needs");
  // Adam7 on 3x3 gray: passes 1, 4, 5, 6, 7 hold 1x1, 1x1, 2x1, 1x2 and 3x1 pixels, each row after a
  // filter byte: 15 bytes. One more is refused.
  const std::vector<uint8_t> adam7 = {0, 1, 0, 3, 0, 7, 9, 0, 2, 0, 8, 0, 4, 5, 6};
  const ImageU8 interlaced = decode_image(gray_png(3, 3, true, adam7), 1, "adam7.png").image;
  CHECK(pixels(interlaced) == std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 9});
  std::vector<uint8_t> longer = adam7;
  longer.push_back(0);
  CHECK(decode_error(gray_png(3, 3, true, longer), "long.png", 1) ==
        "long.png: corrupt PNG: its pixel data inflates past the 15 bytes its header needs");
}
