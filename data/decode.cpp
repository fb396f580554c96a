// Image decoding: JPEG through TurboJPEG (one decompressor handle per thread, reused), everything
// else through stb_image. libjpeg's fatal errors come back from TurboJPEG as return codes (it
// longjmps internally), so no error can exit the process; each one becomes an ImageError.
#include "data/decode.h"

#include <turbojpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "data/stb.h"

namespace mn::data {
namespace {

bool is_jpeg(std::span<const uint8_t> b) {
  return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

// A TurboJPEG decompressor per thread: creating one allocates libjpeg state, decoding is then
// allocation-free apart from the output. After an error the handle is replaced, since libjpeg may
// be left mid-image (a header-only read of a truncated file leaves it unusable for the next one).
class Decompressor {
 public:
  Decompressor() : handle_(tjInitDecompress()) {
    if (!handle_) throw Error(cat("jpeg: cannot create a TurboJPEG decompressor: ", tjGetErrorStr2(nullptr)));
  }
  ~Decompressor() { tjDestroy(handle_); }
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;
  tjhandle get() const { return handle_; }
  // Throws an ImageError with TurboJPEG's message and replaces the handle.
  [[noreturn]] void fail(const std::string& what) {
    const std::string message = tjGetErrorStr2(handle_);
    tjDestroy(handle_);
    handle_ = tjInitDecompress();
    if (!handle_) throw Error(cat("jpeg: cannot create a TurboJPEG decompressor: ", tjGetErrorStr2(nullptr)));
    throw ImageError(cat(what, " (", message, ")"));
  }

 private:
  tjhandle handle_;
};

Decompressor& decompressor() {
  thread_local Decompressor d;
  return d;
}

// Reads the JPEG header; libjpeg only warns when the data ends before the frame header, leaving the
// size unset, so a zero size is an error too.
void jpeg_header(Decompressor& d, std::span<const uint8_t> bytes, const std::string& name, int& w, int& h,
                 int& colorspace) {
  int subsamp = 0;
  w = h = 0;
  if (tjDecompressHeader3(d.get(), const_cast<unsigned char*>(bytes.data()), bytes.size(), &w, &h, &subsamp,
                          &colorspace) != 0 ||
      w <= 0 || h <= 0)
    d.fail(cat(name, ": bad JPEG header"));
}

// Larger images are refused rather than allocated: a corrupt or hostile header can claim up to
// 65535 x 65535 pixels (12 GiB of RGB).
constexpr int64_t kMaxJpegPixels = int64_t(1) << 28;
// stb_image holds up to 20 bytes a pixel at once while it decodes: an interlaced 16-bit RGBA PNG
// its inflated rows (8), the image (8) and the last pass (4); a GIF its three canvases (9) and
// the converted copy (3). 2^25 pixels (8192 x 4096) keeps that
// under 640 MiB, well inside what a loader worker should take and libFuzzer's 2 GB (a 33-byte GIF
// claiming 16383 x 16383 pixels made stb allocate 2.4 GB, found by tests/fuzz/image_fuzz.cpp).
constexpr int64_t kMaxStbPixels = int64_t(1) << 25;

void check_size(int w, int h, int64_t limit, const std::string& name) {
  if (int64_t(w) * h > limit)
    throw ImageError(cat(name, ": ", w, "x", h, " pixels is larger than the ", limit, "-pixel limit",
                         limit == kMaxStbPixels ? " of images that are not JPEG" : ""));
}

// libjpeg warnings are data errors it worked around. Extraneous bytes between markers leave the
// pixels intact (a few ImageNet files have them); any other warning (truncated file, bad Huffman
// code, ...) means rows were filled with gray, so the image is treated as corrupt.
bool harmless_warning(const char* message) { return std::strstr(message, "extraneous bytes") != nullptr; }

// DCT scales that libjpeg-turbo decodes with SIMD reduced-size IDCTs, smallest first.
constexpr double kJpegScales[] = {0.125, 0.25, 0.5};

// libjpeg's conversion of inverted (Adobe) CMYK, the convention its own CMYK output uses.
void cmyk_to_rgb(const uint8_t* cmyk, uint8_t* rgb, size_t pixels) {
  for (size_t i = 0; i < pixels; ++i, cmyk += 4, rgb += 3) {
    const int k = cmyk[3];
    for (int c = 0; c < 3; ++c) rgb[c] = uint8_t((cmyk[c] * k + 127) / 255);
  }
}

// ITU-R 601 luma with integer rounding, as Pillow's "L" conversion.
uint8_t luma(const uint8_t* rgb) { return uint8_t((rgb[0] * 299 + rgb[1] * 587 + rgb[2] * 114 + 500) / 1000); }

DecodedImage decode_jpeg(std::span<const uint8_t> bytes, int channels, const std::string& name,
                         double min_scale) {
  Decompressor& tj = decompressor();
  int w = 0, h = 0, colorspace = 0;
  jpeg_header(tj, bytes, name, w, h, colorspace);
  check_size(w, h, kMaxJpegPixels, name);
  DecodedImage out;
  out.scale = jpeg_decode_scale(w, h, min_scale);
  const tjscalingfactor factor{1, int(1 / out.scale + 0.5)};
  const int sw = TJSCALED(w, factor), sh = TJSCALED(h, factor);
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  // libjpeg cannot convert CMYK to RGB or gray itself: decode CMYK, convert here.
  std::vector<uint8_t> cmyk_pixels;
  out.image = ImageU8(sh, sw, channels);
  uint8_t* dst = out.image.pixels.data();
  int format = channels == 1 ? TJPF_GRAY : TJPF_RGB;
  if (cmyk) {
    cmyk_pixels.resize(size_t(sw) * sh * 4);
    dst = cmyk_pixels.data();
    format = TJPF_CMYK;
  }
  if (tjDecompress2(tj.get(), const_cast<unsigned char*>(bytes.data()), bytes.size(), dst, sw, 0, sh, format, 0) !=
          0 &&
      (tjGetErrorCode(tj.get()) == TJERR_FATAL || !harmless_warning(tjGetErrorStr2(tj.get()))))
    tj.fail(cat(name, ": corrupt or truncated JPEG"));
  if (cmyk) {
    const size_t n = size_t(sw) * sh;
    if (channels == 3) {
      cmyk_to_rgb(cmyk_pixels.data(), out.image.pixels.data(), n);
    } else {
      uint8_t rgb[3];
      for (size_t i = 0; i < n; ++i) {
        cmyk_to_rgb(cmyk_pixels.data() + 4 * i, rgb, 1);
        out.image.pixels[i] = luma(rgb);
      }
    }
  }
  return out;
}

// Binary PNM (P5 gray, P6 RGB) as stb_image 2.27 reads it goes wrong in three ways, found by
// tests/fuzz/image_fuzz.cpp: it reads the header's numbers into an int with no bound (a long run of
// digits overflows it), it leaves the pixels of a truncated file uninitialised, and it reads 16-bit
// samples (maxval over 255) little-endian and converts their channels with its 8-bit routine (a
// heap overflow). This reads the header first as PNM defines it (whitespace and '#' comments to the
// end of the line between the numbers) and refuses those files before stb sees them.
void check_pnm_header(std::span<const uint8_t> b, const std::string& name) {
  if (b.size() < 2 || b[0] != 'P' || (b[1] != '5' && b[1] != '6')) return;
  auto is_space = [](uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
  constexpr int kMaxDigits = 9;  // always fits an int
  const char* fields[] = {"width", "height", "maxval"};
  int values[3] = {};
  size_t i = 2;
  for (int f = 0; f < 3; ++f) {
    while (i < b.size() && (is_space(b[i]) || b[i] == '#')) {
      if (b[i] == '#')
        while (i < b.size() && b[i] != '\n' && b[i] != '\r') ++i;
      else
        ++i;
    }
    for (int digits = 0; i < b.size() && b[i] >= '0' && b[i] <= '9'; ++i, ++digits) {
      if (digits == kMaxDigits) throw ImageError(cat(name, ": PNM header ", fields[f], " has more than ", kMaxDigits, " digits"));
      values[f] = values[f] * 10 + (b[i] - '0');
    }
  }
  const auto [width, height, maxval] = values;
  if (maxval > 255)
    throw ImageError(cat(name, ": 16-bit PNM (maxval ", maxval, ") is not supported; convert it to 8 bits"));
  check_size(width, height, kMaxStbPixels, name);
  // The pixels start after the one whitespace character that ends maxval.
  const int64_t needed = int64_t(width) * height * (b[1] == '6' ? 3 : 1);
  const int64_t present = int64_t(b.size()) - int64_t(std::min(i + 1, b.size()));
  if (present < needed)
    throw ImageError(cat(name, ": truncated PNM: ", present, " pixel bytes where its ", width, "x", height,
                         " header needs ", needed));
}

// TGA as stb_image 2.27 reads it ignores its reads' failures: a truncated file comes back with
// the missing pixels uninitialised (uncompressed) or black (RLE, colour-mapped), and a few bytes
// claiming 2^25 pixels cost a full decode (found profiling tests/fuzz/image_fuzz.cpp). This finds
// where its pixel data ends, laid out as stb reads it, and refuses the file when that is past its
// end. TGA has no magic number: stb takes a file for one when its colour-map type is 0 or 1 and its
// image type one of those below, and no other format's magic matched (none has a 0 or 1 there).
void check_tga_header(std::span<const uint8_t> b, const std::string& name) {
  constexpr int64_t kHeaderBytes = 18;
  if (b.size() < 3 || b[1] > 1) return;
  const int type = b[2];
  if (type != 1 && type != 2 && type != 3 && type != 9 && type != 10 && type != 11) return;
  // stb reads the missing header bytes as zeros
  if (int64_t(b.size()) < kHeaderBytes)
    throw ImageError(cat(name, ": truncated TGA: ", b.size(), " bytes, shorter than its ", kHeaderBytes, "-byte header"));
  auto u16 = [&](size_t i) { return int64_t(b[i]) | int64_t(b[i + 1]) << 8; };
  const bool mapped = b[1] == 1, rle = type >= 9;
  const int64_t width = u16(12), height = u16(14), pixels = width * height, pixel_bytes = (b[16] + 7) / 8;
  // After the header: the image ID, then (colour-mapped) as many bytes as the map's first index,
  // which stb skips, and the map.
  int64_t end = kHeaderBytes + b[0] + (mapped ? u16(3) + u16(5) * ((b[7] + 7) / 8) : 0);
  if (!rle) {
    end += pixels * pixel_bytes;
  } else {  // packets: a byte n-1 (top bit: repeat), then one pixel (repeated) or n pixels
    int64_t decoded = 0;
    while (decoded < pixels && end < int64_t(b.size())) {
      const int64_t n = 1 + (b[end] & 127);
      end += 1 + ((b[end] & 128) ? 1 : n) * pixel_bytes;
      decoded += n;
    }
    if (decoded < pixels)
      throw ImageError(cat(name, ": truncated TGA: its ", b.size(), " bytes hold ", decoded, " of the ", pixels,
                           " pixels of its ", width, "x", height, " header"));
  }
  if (end > int64_t(b.size()))
    throw ImageError(cat(name, ": truncated TGA: ", b.size(), " bytes where its ", width, "x", height, " header needs ", end));
}

// PNG as stb_image 2.27 reads it grows its buffer for an IDAT chunk to the chunk's declared length
// before reading it: a few bytes declaring a 2 GB chunk made it allocate 2 GB (found by
// tests/fuzz/image_fuzz.cpp). This walks the chunks up to IEND and refuses one longer than the
// rest of the file, so that stb's buffers stay within twice the file's size.
void check_png_chunks(std::span<const uint8_t> b, const std::string& name) {
  constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (b.size() < 8 || !std::equal(kSignature, kSignature + 8, b.begin())) return;
  auto u32 = [&](size_t i) { return uint64_t(b[i]) << 24 | uint64_t(b[i + 1]) << 16 | uint64_t(b[i + 2]) << 8 | b[i + 3]; };
  for (size_t at = 8; at + 8 <= b.size();) {  // length, type, data, CRC
    const uint64_t length = u32(at), rest = b.size() - at - 8;
    if (length > rest)
      throw ImageError(cat(name, ": truncated PNG: the chunk at byte ", at, " claims ", length, " bytes, ", rest, " follow"));
    if (std::equal(b.begin() + ptrdiff_t(at) + 4, b.begin() + ptrdiff_t(at) + 8, "IEND")) return;
    at += 12 + length;
  }
}

// The size from the header, read as stb_image reads it; refuses what it cannot read.
void stb_header(std::span<const uint8_t> bytes, const std::string& name, int& w, int& h) {
  if (bytes.size() > size_t(INT32_MAX)) throw ImageError(cat(name, ": ", bytes.size(), " bytes is too large an image file"));
  check_pnm_header(bytes, name);
  check_tga_header(bytes, name);
  check_png_chunks(bytes, name);
  int channels = 0;
  if (!stbi_info_from_memory(bytes.data(), int(bytes.size()), &w, &h, &channels))
    throw ImageError(cat(name, ": not a readable image (", stbi_failure_reason(), ")"));
}

DecodedImage decode_stb(std::span<const uint8_t> bytes, int channels, const std::string& name) {
  int w = 0, h = 0, file_channels = 0;
  stb_header(bytes, name, w, h);
  check_size(w, h, kMaxStbPixels, name);
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(bytes.data(), int(bytes.size()), &w, &h, &file_channels, channels),
      stbi_image_free);
  if (!pixels) throw ImageError(cat(name, ": cannot decode image (", stbi_failure_reason(), ")"));
  // stb_image decodes a PNM header of 0 rows (found by tests/fuzz/image_fuzz.cpp)
  if (w <= 0 || h <= 0) throw ImageError(cat(name, ": image of ", w, "x", h, " pixels"));
  DecodedImage out;
  out.image = ImageU8(h, w, channels);
  std::memcpy(out.image.pixels.data(), pixels.get(), out.image.pixels.size());
  return out;
}

}  // namespace

double jpeg_decode_scale(int width, int height, double min_scale) {
  // Below 64 pixels TurboJPEG may round two scales to the same size and pick the other one.
  if (width < 64 || height < 64) return 1.0;
  for (double s : kJpegScales)
    if (s >= min_scale) return s;
  return 1.0;
}

ImageHeader read_image_header(std::span<const uint8_t> bytes, const std::string& name) {
  ImageHeader header;
  if (is_jpeg(bytes)) {
    int colorspace = 0;
    jpeg_header(decompressor(), bytes, name, header.width, header.height, colorspace);
    header.jpeg = true;
    return header;
  }
  stb_header(bytes, name, header.width, header.height);
  return header;
}

DecodedImage decode_image(std::span<const uint8_t> bytes, int channels, const std::string& name,
                          double min_scale) {
  MN_CHECK(channels == 1 || channels == 3, "decode_image: channels must be 1 or 3, got ", channels);
  if (bytes.empty()) throw ImageError(cat(name, ": empty file"));
  return is_jpeg(bytes) ? decode_jpeg(bytes, channels, name, min_scale) : decode_stb(bytes, channels, name);
}

}  // namespace mn::data
