//! A corpus of hostile and broken files, made in code, each with the outcome the pipeline must give
//! it under the default limits and a memory budget of 96 MiB (`THUMBNAIL_MEMORY_BUDGET=96`).
//! `cargo run -p thumbnail-tests --bin hostile-corpus -- DIR` writes it out (with `expected.tsv`)
//! for a look, or for other tools; the reliability suite feeds it to the worker.

use image::{DynamicImage, ImageFormat, Rgba, RgbaImage};

use crate::{
    JpegOptions, claim_size, cmyk_jpeg, encode, jpeg, jpeg_claiming, png_claiming,
    png16_with_alpha, push_png_chunk, quadrants,
};

/// What the pipeline must do with a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Make its thumbnails.
    Thumbnails,
    /// Fail it permanently (announce the failure, dead-letter the message) for this reason: the
    /// `reason` label of `thumbnail_images_failed_total`, and of the failure notification.
    Fails(&'static str),
}

/// One file of the corpus.
#[derive(Clone, Debug)]
pub struct Hostile {
    /// The file name (and object key).
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// What must come of it.
    pub expect: Expect,
    /// What it is, in a few words.
    pub what: &'static str,
}

/// The default byte limit of the engine (`Limits::default().max_bytes`).
const MAX_BYTES: usize = 100 * 1024 * 1024;

/// The whole corpus (50 files). Every call makes the same bytes.
pub fn hostile_corpus() -> Vec<Hostile> {
    use Expect::{Fails, Thumbnails};
    let photo = jpeg(&quadrants(640, 480), &JpegOptions::default());
    let picture = DynamicImage::ImageRgb8(quadrants(320, 240));
    let png = encode(&picture, ImageFormat::Png);
    let webp = encode(&picture, ImageFormat::WebP);
    let gif = encode(&picture, ImageFormat::Gif);
    let cut = |bytes: &[u8], end: usize| bytes[..end].to_vec();
    let mut corpus = vec![
        (
            "empty.jpg",
            Vec::new(),
            Fails("unsupported_format"),
            "zero bytes",
        ),
        (
            "jpeg-cut-in-header.jpg",
            cut(&photo, 100),
            Fails("corrupt"),
            "JPEG cut inside its headers",
        ),
        (
            "jpeg-cut-in-scan.jpg",
            cut(&photo, photo.len() / 2),
            Fails("corrupt"),
            "JPEG cut half-way through its scan",
        ),
        (
            "jpeg-no-end.jpg",
            cut(&photo, photo.len() - 2),
            Thumbnails,
            "JPEG missing only its end marker",
        ),
        (
            "png-signature-only.png",
            cut(&png, 8),
            Fails("corrupt"),
            "PNG signature and nothing else",
        ),
        (
            "png-cut-after-header.png",
            cut(&png, 33),
            Fails("corrupt"),
            "PNG cut after IHDR",
        ),
        (
            "png-cut-in-data.png",
            cut(&png, png.len() / 2),
            Fails("corrupt"),
            "PNG cut half-way through IDAT",
        ),
        (
            "png-no-end.png",
            cut(&png, png.len() - 12),
            Thumbnails,
            "PNG missing only IEND: every row there (fail_on=truncated)",
        ),
        (
            "webp-header-only.webp",
            cut(&webp, 12),
            Fails("corrupt"),
            "WebP RIFF header only",
        ),
        (
            "webp-cut.webp",
            cut(&webp, webp.len() / 2),
            Fails("corrupt"),
            "WebP cut in half",
        ),
        (
            "gif-header-only.gif",
            cut(&gif, 13),
            Fails("corrupt"),
            "GIF header and screen descriptor only",
        ),
        (
            "gif-cut.gif",
            cut(&gif, gif.len() / 2),
            Fails("corrupt"),
            "GIF cut in half",
        ),
        (
            "text.jpg",
            b"This is not a photo.\n".repeat(40),
            Fails("unsupported_format"),
            "a text file named .jpg",
        ),
        (
            "page.jpg",
            HTML.to_vec(),
            Fails("unsupported_format"),
            "an HTML page named .jpg",
        ),
        (
            "drawing.svg",
            SVG.to_vec(),
            Fails("unsupported_format"),
            "an SVG drawing",
        ),
        (
            "document.pdf",
            PDF.to_vec(),
            Fails("unsupported_format"),
            "a PDF document",
        ),
        (
            "png-100000x100000.png",
            png_claiming(100_000, 100_000),
            Fails("too_many_pixels"),
            "PNG header claiming 100000x100000",
        ),
        (
            "png-1x1000000000.png",
            png_claiming(1, 1_000_000_000),
            Fails("too_many_pixels"),
            "PNG header claiming 1x10^9",
        ),
        (
            "jpeg-65500x65500.jpg",
            jpeg_claiming(65_500, 65_500),
            Fails("too_many_pixels"),
            "JPEG header claiming 65500x65500",
        ),
        (
            "jpeg-65500x15268.jpg",
            jpeg_claiming(65_500, 15_268),
            Fails("too_many_pixels"),
            "JPEG header claiming 10^9 pixels",
        ),
        (
            "jpeg-65535x65535.jpg",
            jpeg_claiming(65_535, 65_535),
            Fails("corrupt"),
            "JPEG header past libjpeg's 65500",
        ),
        (
            "gif-65535x65535.gif",
            gif_claiming(65_535, 65_535),
            Fails("too_many_pixels"),
            "GIF screen claiming 65535x65535",
        ),
        (
            "gif-10000-frames.gif",
            many_frames(10_000),
            Thumbnails,
            "a GIF of 10000 frames",
        ),
        (
            "strip-65500x1.png",
            strip(65_500),
            Thumbnails,
            "a 65500x1 strip",
        ),
        (
            "png16-alpha.png",
            png16_with_alpha(640, 480),
            Thumbnails,
            "16-bit PNG with alpha",
        ),
        (
            "cmyk.jpg",
            cmyk_jpeg(320, 240, [255, 0, 255, 255], false),
            Thumbnails,
            "CMYK JPEG",
        ),
        (
            "ycck.jpg",
            cmyk_jpeg(320, 240, [255, 0, 255, 255], true),
            Thumbnails,
            "YCCK JPEG",
        ),
        (
            "garbage-icc.jpg",
            jpeg(
                &quadrants(320, 240),
                &JpegOptions {
                    icc: Some(garbage(3000)),
                    ..Default::default()
                },
            ),
            Thumbnails,
            "JPEG with a garbage ICC profile",
        ),
        (
            "exif-60k.jpg",
            jpeg(
                &quadrants(320, 240),
                &JpegOptions {
                    orientation: Some(6),
                    exif_padding: 60_000,
                    ..Default::default()
                },
            ),
            Thumbnails,
            "JPEG with a 60 KB EXIF block",
        ),
        (
            "orientation-9.jpg",
            jpeg(
                &quadrants(320, 240),
                &JpegOptions {
                    orientation: Some(9),
                    ..Default::default()
                },
            ),
            Thumbnails,
            "EXIF orientation 9",
        ),
        (
            "ztxt-bomb.png",
            ztxt_bomb(&png, 1 << 30),
            Thumbnails,
            "PNG with a zTXt chunk inflating to 1 GiB",
        ),
        (
            "png-flat-10000x10000.png",
            flat_png(10_000, 10_000, false),
            Thumbnails,
            "a 400 KB PNG of 10^8 pixels, shrunk by 8 as its rows arrive: within a 96 MiB budget",
        ),
        (
            "png-flat-interlaced-10000x10000.png",
            flat_png(10_000, 10_000, true),
            Fails("wont_fit"),
            "the same, interlaced (decoded whole): over a 96 MiB memory budget, refused from its header",
        ),
        (
            "jpeg-header-past-256k.jpg",
            header_past_256k(),
            Fails("wont_fit"),
            "JPEG claiming 10000x10000 behind a 400 KiB ICC profile: past the bytes read before the download",
        ),
        (
            "png-iccp-bomb.png",
            iccp_bomb(&png, 1 << 30),
            Thumbnails,
            "PNG with an ICC profile inflating to 1 GiB: the profile is ignored",
        ),
        (
            "jpeg-0x0.jpg",
            jpeg_claiming(0, 0),
            Fails("corrupt"),
            "JPEG header claiming 0x0",
        ),
        (
            "trailing-garbage.jpg",
            [photo.as_slice(), &garbage(5000)].concat(),
            Thumbnails,
            "JPEG followed by junk",
        ),
        (
            "jpeg-named.png",
            photo.clone(),
            Thumbnails,
            "a JPEG named .png",
        ),
        (
            "tiff-cut.tiff",
            cut(&encode(&picture, ImageFormat::Tiff), 200),
            Fails("corrupt"),
            "TIFF cut in its first strip",
        ),
        (
            "tiff-100000x100000.tif",
            tiff_claiming(100_000, 100_000, false, 0),
            Fails("too_many_pixels"),
            "TIFF directory claiming 100000x100000",
        ),
        (
            "tiff-palette-1x1000000000.tif",
            tiff_claiming(1, 1_000_000_000, true, 0),
            Fails("too_many_pixels"),
            "palette TIFF (read by our own code) claiming 1x10^9",
        ),
        (
            "tiff-header-past-256k.tif",
            tiff_claiming(10_000, 10_000, false, 400 << 10),
            Fails("wont_fit"),
            "TIFF claiming 10000x10000 whose directory lies 400 KiB in: past the bytes read before the download",
        ),
        (
            "bmp-100000x100000.bmp",
            bmp_claiming(100_000, 100_000),
            Fails("corrupt"),
            "BMP header claiming 100000x100000",
        ),
        (
            "noise.jpg",
            garbage(50_000),
            Fails("unsupported_format"),
            "random bytes",
        ),
        (
            "jpeg-header-then-noise.jpg",
            [&photo[..600], &garbage(50_000)].concat(),
            Fails("corrupt"),
            "JPEG headers, then noise",
        ),
        (
            "over-byte-limit.jpg",
            over_limit(&photo),
            Fails("too_large"),
            "a JPEG past the 100 MiB byte limit",
        ),
        (
            "png-odd-palette.png",
            include_bytes!("../fixtures/png-odd-palette.png").to_vec(),
            Fails("corrupt"),
            "PNG whose 58-byte palette panics the png crate (found by fuzzing)",
        ),
    ];
    // A few good files among them: they must come out untouched by their neighbours.
    for i in 0..3 {
        corpus.push((
            ["good-0.jpg", "good-1.jpg", "good-2.jpg"][i],
            jpeg(
                &quadrants(800 + i as u32 * 16, 600),
                &JpegOptions::default(),
            ),
            Thumbnails,
            "a good photo",
        ));
    }
    corpus
        .into_iter()
        .map(|(name, bytes, expect, what)| Hostile {
            name: name.to_owned(),
            bytes,
            expect,
            what,
        })
        .collect()
}

const HTML: &[u8] = b"<!DOCTYPE html>\n<html><head><title>Not a photo</title></head>\n<body><img src=\"x.jpg\" onerror=\"alert(1)\"></body></html>\n";
const SVG: &[u8] = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100000\" height=\"100000\"><rect width=\"100%\" height=\"100%\" fill=\"red\"/></svg>\n";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

/// `len` bytes of deterministic noise.
fn garbage(len: usize) -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A valid GIF whose logical screen claims `width` x `height`.
fn gif_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut gif = encode(
        &DynamicImage::ImageRgb8(quadrants(16, 16)),
        ImageFormat::Gif,
    );
    gif[6..8].copy_from_slice(&width.to_le_bytes());
    gif[8..10].copy_from_slice(&height.to_le_bytes());
    gif
}

/// A valid BMP whose header claims `width` x `height`.
fn bmp_claiming(width: i32, height: i32) -> Vec<u8> {
    let mut bmp = encode(
        &DynamicImage::ImageRgb8(quadrants(16, 16)),
        ImageFormat::Bmp,
    );
    bmp[18..22].copy_from_slice(&width.to_le_bytes());
    bmp[22..26].copy_from_slice(&height.to_le_bytes());
    bmp
}

/// A little-endian TIFF claiming `width` x `height` 8-bit samples (grey, or palette indices with a
/// grey colour map) in one strip of 64 bytes, its directory after `gap` more bytes.
fn tiff_claiming(width: u32, height: u32, palette: bool, gap: usize) -> Vec<u8> {
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&[0; 4]);
    let strip = out.len() as u32;
    out.extend_from_slice(&[0; 64]);
    let colormap = out.len() as u32;
    if palette {
        for _ in 0..3 {
            out.extend((0..=255u16).flat_map(|v| (v * 257).to_le_bytes()));
        }
    }
    out.resize(out.len() + gap, 0);
    let directory = out.len() as u32;
    out[4..8].copy_from_slice(&directory.to_le_bytes());
    let mut entries = vec![
        (256, LONG, 1, width),
        (257, LONG, 1, height),
        (258, SHORT, 1, 8),
        (259, SHORT, 1, 1),
        (262, SHORT, 1, if palette { 3 } else { 1 }),
        (273, LONG, 1, strip),
        (277, SHORT, 1, 1),
        (278, LONG, 1, height),
        (279, LONG, 1, 64),
    ];
    if palette {
        entries.push((320, SHORT, 768, colormap));
    }
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, kind, count, value) in entries {
        out.extend_from_slice(&(tag as u16).to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(count as u32).to_le_bytes());
        // A SHORT sits in the first two bytes of the value field: little-endian, the same bytes.
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&[0; 4]);
    out
}

/// An animated GIF of `frames` tiny frames.
fn many_frames(frames: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut out);
        let frames = (0..frames).map(|i| {
            let shade = (i % 256) as u8;
            image::Frame::new(RgbaImage::from_pixel(
                8,
                8,
                Rgba([shade, 0, 255 - shade, 255]),
            ))
        });
        encoder.encode_frames(frames).unwrap();
    }
    out
}

/// A grey ramp `width` pixels wide and one high.
fn strip(width: u32) -> Vec<u8> {
    let ramp = image::GrayImage::from_fn(width, 1, |x, _| image::Luma([(x % 256) as u8]));
    encode(&DynamicImage::ImageLuma8(ramp), ImageFormat::Png)
}

/// `png` with a zTXt chunk, before its image data, whose text inflates to `inflated` zero bytes: a
/// compression bomb for whoever decompresses text chunks.
fn ztxt_bomb(png: &[u8], inflated: usize) -> Vec<u8> {
    // Keyword, separator, compression method 0.
    compressed_chunk_bomb(png, b"zTXt", b"Comment\0\0", inflated)
}

/// `png` with an iCCP chunk, before its image data, whose profile inflates to `inflated` zero
/// bytes: a compression bomb for whoever reads colour profiles.
fn iccp_bomb(png: &[u8], inflated: usize) -> Vec<u8> {
    // Profile name, separator, compression method 0.
    compressed_chunk_bomb(png, b"iCCP", b"bomb\0\0", inflated)
}

/// `png` with a `kind` chunk right after IHDR: `header`, then a zlib stream of `inflated` zeros.
fn compressed_chunk_bomb(png: &[u8], kind: &[u8; 4], header: &[u8], inflated: usize) -> Vec<u8> {
    let mut data = header.to_vec();
    data.extend_from_slice(&zeros_zlib(inflated));
    let ihdr_end = 8 + 8 + 13 + 4;
    let mut out = png[..ihdr_end].to_vec();
    push_png_chunk(&mut out, kind, &data);
    out.extend_from_slice(&png[ihdr_end..]);
    out
}

/// A JPEG whose frame header, behind a 400 KiB ICC profile (in APP2 chunks), claims 10000x10000.
fn header_past_256k() -> Vec<u8> {
    let mut data = jpeg(
        &quadrants(16, 16),
        &JpegOptions {
            icc: Some(vec![7; 400 << 10]),
            ..Default::default()
        },
    );
    let sof = claim_size(&mut data, 10_000, 10_000);
    assert!(sof > 256 << 10, "the header lies past the first 256 KiB");
    data
}

/// A valid 8-bit grey PNG of `width` x `height` black pixels: a few hundred kilobytes that decode
/// to `width * height` pixels.
/// Interlaced, the rows are those of a plain file (only the header is ever read of it).
fn flat_png(width: u32, height: u32, interlaced: bool) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, u8::from(interlaced)]); // 8-bit grey
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    push_png_chunk(&mut out, b"IHDR", &ihdr);
    // Every row is its filter byte (0) and `width` zero samples.
    let rows = (width as usize + 1) * height as usize;
    push_png_chunk(&mut out, b"IDAT", &zeros_zlib(rows));
    push_png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A zlib stream of `len` zero bytes, written by hand: one fixed-Huffman block of length-258,
/// distance-1 copies (and literal zeros for the remainder), so making it costs 13 bits per 258
/// bytes and no memory.
fn zeros_zlib(len: usize) -> Vec<u8> {
    let mut bits = BitWriter::default();
    bits.put(0b1, 1); // final block
    bits.put(0b01, 2); // fixed Huffman codes
    bits.code(0b0011_0000, 8); // literal 0
    let copies = (len - 1) / 258;
    let mut total = 1 + copies * 258;
    for _ in 0..copies {
        bits.code(0b1100_0101, 8); // length code 285: 258 bytes
        bits.code(0b00000, 5); // distance code 0: 1 byte back
    }
    // The rest, one literal 0 at a time.
    while total < len {
        bits.code(0b0011_0000, 8);
        total += 1;
    }
    bits.code(0b000_0000, 7); // end of block
    // Adler-32 of `total` zeros: the sum stays 1, the sum of sums grows by 1 a byte.
    let adler = ((total % 65_521) as u32) << 16 | 1;
    let mut out = vec![0x78, 0x9C];
    out.extend_from_slice(&bits.finish());
    out.extend_from_slice(&adler.to_be_bytes());
    out
}

/// Deflate's bit order: values least significant bit first, Huffman codes most significant first.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    current: u8,
    used: u8,
}

impl BitWriter {
    fn put(&mut self, value: u32, count: u8) {
        for i in 0..count {
            self.current |= (((value >> i) & 1) as u8) << self.used;
            self.used += 1;
            if self.used == 8 {
                self.out.push(self.current);
                self.current = 0;
                self.used = 0;
            }
        }
    }

    fn code(&mut self, code: u32, length: u8) {
        let reversed = code.reverse_bits() >> (32 - u32::from(length));
        self.put(reversed, length);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.used > 0 {
            self.out.push(self.current);
        }
        self.out
    }
}

/// `photo` followed by zeros, up to one byte past the limit.
fn over_limit(photo: &[u8]) -> Vec<u8> {
    let mut big = photo.to_vec();
    big.resize(MAX_BYTES + 1, 0);
    big
}
