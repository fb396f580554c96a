// Image decoding: JPEG through TurboJPEG (one decompressor handle per thread, reused), everything
// else through stb_image. libjpeg's fatal errors come back from TurboJPEG as return codes (it
// longjmps internally), so no error can exit the process; each one becomes an ImageError.
#include "data/decode.h"

#include <turbojpeg.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>

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

// BMP as stb_image 2.27 reads it ignores its reads' failures too: a truncated file comes back with
// the missing rows black. This refuses a file shorter than where its last row ends, laid out as stb
// reads it: rows from the header's pixel offset, each padded to 4 bytes except the last, whose
// padding stb skips without reading.
void check_bmp_header(std::span<const uint8_t> b, const std::string& name) {
  if (b.size() < 2 || b[0] != 'B' || b[1] != 'M') return;
  auto u16 = [&](size_t i) { return i + 2 <= b.size() ? int64_t(b[i]) | int64_t(b[i + 1]) << 8 : 0; };
  auto u32 = [&](size_t i) { return i + 4 <= b.size() ? uint32_t(u16(i)) | uint32_t(u16(i + 2)) << 16 : 0u; };
  const int64_t offset = u32(10), header = u32(14);
  const bool os2 = header == 12;  // 16-bit sizes
  const int64_t width = os2 ? u16(18) : int32_t(u32(18)), height = os2 ? u16(20) : int32_t(u32(22));
  const int64_t bpp = u16(os2 ? 24 : 28), rows = height < 0 ? -height : height;
  // stb refuses the rest itself (sides over 2^24 too, which keeps the product below in range)
  constexpr int64_t kMaxSide = int64_t(1) << 24;
  if (width <= 0 || rows == 0 || width > kMaxSide || rows > kMaxSide ||
      (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32))
    return;
  const int64_t end = offset + (width * bpp + 31) / 32 * 4 * (rows - 1) + (width * bpp + 7) / 8;
  if (end > int64_t(b.size()))
    throw ImageError(cat(name, ": truncated BMP: ", b.size(), " bytes where its ", width, "x", rows, " header needs ", end));
}

// Bytes of a PNG's filtered rows (a filter byte, then the packed samples), Adam7's seven passes
// when interlaced; -1 for a colour type and bit depth stb_image refuses.
int64_t png_row_bytes(uint64_t width, uint64_t height, int depth, int color_type, int interlace) {
  const int samples = color_type == 0 || color_type == 3 ? 1 : color_type == 2 ? 3 : color_type == 4 ? 2 : color_type == 6 ? 4 : 0;
  if (samples == 0 || (depth != 1 && depth != 2 && depth != 4 && depth != 8 && depth != 16) || width == 0 ||
      height == 0 || width > (1u << 24) || height > (1u << 24))
    return -1;
  auto rows = [&](uint64_t w, uint64_t h) { return w == 0 ? 0 : int64_t(h * (1 + (w * samples * depth + 7) / 8)); };
  if (interlace == 0) return rows(width, height);
  constexpr int x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1};
  constexpr int dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
  auto pass = [](uint64_t size, int origin, int step) { return size > uint64_t(origin) ? (size - origin + step - 1) / step : 0; };
  int64_t total = 0;
  for (int p = 0; p < 7; ++p) total += rows(pass(width, x0[p], dx[p]), pass(height, y0[p], dy[p]));
  return total;
}

// PNG as stb_image 2.27 reads it has two ways to take far more memory than the file's size: it
// grows its buffer for an IDAT chunk to the chunk's declared length before reading it (a few bytes
// declaring 2 GB, found by tests/fuzz/image_fuzz.cpp), and it inflates the pixel data
// to whatever length it has before comparing that with the header's size (deflate reaches 1032:1,
// so 10 MB could take 10 GB). png_chunks walks the chunks up to IEND, refusing one longer than
// the rest of the file; check_png_inflated counts what the pixel data inflates to.
struct PngChunks {
  std::vector<std::span<const uint8_t>> idat;
  int64_t row_bytes = -1;  // of the header's image; -1 without a header stb would accept
  bool apple = false;      // Apple's CgBI PNGs hold raw deflate, without zlib's header
};

PngChunks png_chunks(std::span<const uint8_t> b, const std::string& name) {
  constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  PngChunks png;
  if (b.size() < 8 || !std::equal(kSignature, kSignature + 8, b.begin())) return png;
  auto u32 = [&](size_t i) { return uint64_t(b[i]) << 24 | uint64_t(b[i + 1]) << 16 | uint64_t(b[i + 2]) << 8 | b[i + 3]; };
  for (size_t at = 8; at + 8 <= b.size();) {  // length, type, data, CRC
    const uint64_t length = u32(at), rest = b.size() - at - 8;
    if (length > rest)
      throw ImageError(cat(name, ": truncated PNG: the chunk at byte ", at, " claims ", length, " bytes, ", rest, " follow"));
    const std::string_view type(reinterpret_cast<const char*>(b.data() + at + 4), 4);
    if (type == "IEND") break;
    if (type == "CgBI") png.apple = true;
    if (type == "IDAT") png.idat.push_back(b.subspan(at + 8, length));
    if (type == "IHDR" && length >= 13)
      png.row_bytes = png_row_bytes(u32(at + 8), u32(at + 12), b[at + 16], b[at + 17], b[at + 20]);
    at += 12 + length;
  }
  return png;
}

// Inflates the IDAT data into a small scratch buffer, counting, and refuses more than the header's
// rows need (PNG's data is exactly its filtered rows). It costs a PNG's decode an extra inflate;
// training sets are JPEG.
void check_png_inflated(const PngChunks& png, const std::string& name) {
  if (png.row_bytes < 0 || png.idat.empty()) return;  // stb refuses it with its own reason
  z_stream z{};
  if (inflateInit2(&z, png.apple ? -15 : 15) != Z_OK) throw Error(cat(name, ": zlib cannot start inflating"));
  uint8_t scratch[1 << 16];
  int status = Z_OK;
  for (size_t i = 0; i < png.idat.size() && status == Z_OK; ++i) {
    z.next_in = const_cast<uint8_t*>(png.idat[i].data());
    z.avail_in = uInt(png.idat[i].size());
    do {
      z.next_out = scratch;
      z.avail_out = sizeof scratch;
      status = inflate(&z, Z_NO_FLUSH);
      if (status == Z_BUF_ERROR) status = Z_OK;  // no progress possible: this chunk is used up
    } while (status == Z_OK && (z.avail_in > 0 || z.avail_out == 0) && int64_t(z.total_out) <= png.row_bytes);
  }
  const int64_t inflated = int64_t(z.total_out);
  inflateEnd(&z);
  if (inflated > png.row_bytes)  // a zlib error stops the count short of this; stb then names it
    throw ImageError(cat(name, ": corrupt PNG: its pixel data inflates past the ", png.row_bytes,
                         " bytes its header needs"));
}

// The size from the header, read as stb_image reads it; refuses what it cannot read. Returns the
// PNG chunks it walked (none for other formats), for the decode's inflate check.
PngChunks stb_header(std::span<const uint8_t> bytes, const std::string& name, int& w, int& h) {
  if (bytes.size() > size_t(INT32_MAX)) throw ImageError(cat(name, ": ", bytes.size(), " bytes is too large an image file"));
  check_pnm_header(bytes, name);
  check_tga_header(bytes, name);
  check_bmp_header(bytes, name);
  PngChunks png = png_chunks(bytes, name);
  int channels = 0;
  if (!stbi_info_from_memory(bytes.data(), int(bytes.size()), &w, &h, &channels))
    throw ImageError(cat(name, ": not a readable image (", stbi_failure_reason(), ")"));
  return png;
}

DecodedImage decode_stb(std::span<const uint8_t> bytes, int channels, const std::string& name) {
  int w = 0, h = 0, file_channels = 0;
  const PngChunks png = stb_header(bytes, name, w, h);
  check_size(w, h, kMaxStbPixels, name);
  check_png_inflated(png, name);
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
