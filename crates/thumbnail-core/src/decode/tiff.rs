//! TIFF: the first page. The header is read by the `tiff` crate; the kinds the `image` crate
//! decodes (8- and 16-bit grey, RGB and CMYK, float, planar) are left to it (`other`), and this
//! module reads what it refuses:
//! - palette images (any bit depth, with or without alpha) and CIELab, whose samples the `tiff`
//!   crate reads when it is told they are grey ones: the reader shows it a patched photometric;
//! - 2- and 4-bit grey, and signed samples (shown with 0 as mid-grey, as libvips does);
//! - JPEG-compressed YCbCr, in strips or tiles (the `tiff` crate gives the upsampled YCbCr);
//! - CCITT modified Huffman (RLE), Group 3 (1-D) and Group 4, either bit order, through the `fax`
//!   crate;
//! - LZMA (the `.xz` container libtiff writes), through liblzma, at most the strip's size.

use std::io::{self, Cursor, Read, Seek, SeekFrom};

use tiff::TiffError;
use tiff::decoder::{Decoder, DecodingResult};
use tiff::tags::Tag;

use super::{ImageInfo, check_pixels, fault, guarded, other};
use crate::color;
use crate::raster::{PixelLayout, Raster};
use crate::spec::Fault;
use crate::{Error, ImageFormat, Limits};

const MIN_IS_WHITE: u16 = 0;
const MIN_IS_BLACK: u16 = 1;
const RGB: u16 = 2;
const PALETTE: u16 = 3;
const SEPARATED: u16 = 5;
const YCBCR: u16 = 6;
const CIELAB: u16 = 8;

const CCITT_RLE: u16 = 2;
const FAX3: u16 = 3;
const FAX4: u16 = 4;
const LZMA: u16 = 34925;
/// Group 3 options: bit 0 set means 2-D coding.
const T4_OPTIONS: Tag = Tag::Unknown(292);
/// What liblzma may take for its dictionary: libtiff's presets use at most 64 MiB.
const LZMA_MEMORY: u64 = 128 << 20;

/// What the first page's directory says.
struct Page {
    width: u32,
    height: u32,
    photometric: u16,
    bits: u8,
    samples: usize,
    /// The first extra sample is an alpha channel.
    alpha: bool,
    signed: bool,
    compression: u16,
    /// Bits stored least significant first (FillOrder 2).
    reversed: bool,
    predictor: u16,
    tiled: bool,
    /// Each sample in a plane of its own (PlanarConfiguration 2).
    planar: bool,
    orientation: u8,
}

impl Page {
    fn read<R: Read + Seek>(decoder: &mut Decoder<R>) -> Result<Page, Error> {
        let (width, height) = decoder.dimensions().map_err(failed)?;
        // The first value of a tag given once or once a sample.
        let mut number = |tag| {
            decoder
                .find_tag_unsigned_vec::<u32>(tag)
                .map(|values| values.and_then(|v| v.first().copied()))
                .map_err(failed)
        };
        let photometric = number(Tag::PhotometricInterpretation)?.unwrap_or(0) as u16;
        let bits = number(Tag::BitsPerSample)?.unwrap_or(1);
        let samples = number(Tag::SamplesPerPixel)?.unwrap_or(1) as usize;
        let signed = number(Tag::SampleFormat)? == Some(2);
        let compression = number(Tag::Compression)?.unwrap_or(1) as u16;
        let reversed = number(Tag::FillOrder)? == Some(2);
        let predictor = number(Tag::Predictor)?.unwrap_or(1) as u16;
        let orientation = number(Tag::Orientation)?.unwrap_or(1).clamp(1, 8) as u8;
        let planar = number(Tag::PlanarConfiguration)? == Some(2) && samples > 1;
        let alpha = samples > colour_samples(photometric)
            && matches!(
                decoder
                    .find_tag_unsigned_vec::<u16>(Tag::ExtraSamples)
                    .map_err(failed)?
                    .as_deref(),
                Some([1 | 2, ..])
            );
        Ok(Page {
            width,
            height,
            photometric,
            bits: u8::try_from(bits).unwrap_or(u8::MAX),
            samples,
            alpha,
            signed,
            compression,
            reversed,
            predictor,
            tiled: decoder.get_chunk_type() == tiff::decoder::ChunkType::Tile,
            planar,
            orientation,
        })
    }

    /// Whether this module reads the page; otherwise the `image` crate does.
    fn ours(&self) -> bool {
        matches!(self.photometric, PALETTE | CIELAB | YCBCR)
            || self.signed
            || matches!(self.bits, 2 | 4)
            || matches!(self.compression, CCITT_RLE | FAX3 | FAX4 | LZMA)
    }

    fn info(&self) -> ImageInfo {
        ImageInfo {
            format: ImageFormat::Tiff,
            width: self.width,
            height: self.height,
            orientation: self.orientation,
            // The samples as decoded (at least a byte each), before they become RGB(A).
            bytes_per_pixel: (self.samples * usize::from(self.bits.div_ceil(8))).clamp(3, 255)
                as u8,
            interlaced: false,
        }
    }

    /// Samples in a row, and the bytes they take packed.
    fn row(&self) -> (usize, usize) {
        let samples = self.width as usize * self.samples;
        (samples, (samples * usize::from(self.bits)).div_ceil(8))
    }

    fn rows_per_strip<R: Read + Seek>(&self, decoder: &mut Decoder<R>) -> Result<u32, Error> {
        Ok(decoder
            .find_tag_unsigned::<u32>(Tag::RowsPerStrip)
            .map_err(failed)?
            .unwrap_or(self.height)
            .clamp(1, self.height))
    }
}

/// Colour samples a pixel of this photometric has, before any extra (alpha) samples.
fn colour_samples(photometric: u16) -> usize {
    match photometric {
        RGB | YCBCR | CIELAB => 3,
        SEPARATED => 4,
        _ => 1,
    }
}

pub(super) fn probe(input: &[u8], limits: &Limits) -> Result<ImageInfo, Error> {
    guarded(ImageFormat::Tiff, || {
        let mut decoder = open(input, None, limits)?;
        Ok(Page::read(&mut decoder)?.info())
    })
}

pub(super) fn decode(
    input: &[u8],
    limits: &Limits,
    pixels: Vec<u8>,
) -> Result<(Raster, ImageInfo), Error> {
    guarded(ImageFormat::Tiff, move || {
        let mut decoder = open(input, None, limits)?;
        let page = Page::read(&mut decoder)?;
        if !page.ours() {
            return other::decode(input, ImageFormat::Tiff, limits, pixels);
        }
        let info = page.info();
        check_pixels(&info, limits)?;
        if page.tiled && matches!(page.compression, CCITT_RLE | FAX3 | FAX4 | LZMA) {
            return Err(unsupported("tiled CCITT or LZMA data"));
        }
        // Planes read here are the first one only: enough for one colour sample with extras
        // that are not alpha (which are dropped).
        let page = match page.planar {
            true if colour_samples(page.photometric) == 1 && !page.alpha => {
                Page { samples: 1, ..page }
            }
            true => return Err(unsupported("this photometric in separate planes")),
            false => page,
        };
        let samples = match page.compression {
            CCITT_RLE | FAX3 | FAX4 => fax(input, &mut decoder, &page, limits)?,
            LZMA => lzma(input, &mut decoder, &page, limits)?,
            _ => samples_of(input, &mut decoder, &page, limits)?,
        };
        let colormap = match page.photometric {
            PALETTE => Some(decoder.get_tag_u16_vec(Tag::ColorMap).map_err(failed)?),
            _ => None,
        };
        let mut raster = to_raster(&page, &samples, colormap.as_deref(), pixels)?;
        if matches!(page.photometric, MIN_IS_WHITE | MIN_IS_BLACK | RGB | YCBCR)
            && let Some(icc) = decoder.find_tag(Tag::IccProfile).map_err(failed)?
        {
            color::to_srgb(&mut raster, &icc.into_u8_vec().map_err(failed)?);
        }
        Ok((raster, info))
    })
}

/// A decoder over `input`, its first directory read; `patch` puts a value in place of 2 bytes.
fn open<'a>(
    input: &'a [u8],
    patch: Option<(u64, [u8; 2])>,
    limits: &Limits,
) -> Result<Decoder<Patched<'a>>, Error> {
    let mut decoder_limits = tiff::decoder::Limits::default();
    decoder_limits.decoding_buffer_size = usize::try_from(limits.max_pixels.saturating_mul(8))
        .unwrap_or(usize::MAX)
        .max(decoder_limits.decoding_buffer_size);
    let reader = Patched {
        inner: Cursor::new(input),
        patch,
    };
    Ok(Decoder::new(reader)
        .map_err(failed)?
        .with_limits(decoder_limits))
}

/// The decoded samples, in rows of the directory's packing: bytes (8 bits or fewer a sample,
/// rows starting on a byte), or 16-bit values.
enum Samples {
    Packed(Vec<u8>),
    Wide(Vec<u16>),
}

impl Samples {
    /// Row `y`'s samples, each as its unsigned value (signed ones as stored, two's complement).
    fn row(&self, page: &Page, y: usize, out: &mut Vec<u16>) -> Result<(), Error> {
        let (count, bytes) = page.row();
        let short = || corrupt("the decoded data is shorter than the image");
        out.clear();
        match self {
            Samples::Packed(data) => {
                let row = data.get(y * bytes..(y + 1) * bytes).ok_or_else(short)?;
                match page.bits {
                    8 => out.extend(row.iter().map(|&v| u16::from(v))),
                    bits @ (1 | 2 | 4) => {
                        let mask = (1u8 << bits) - 1;
                        out.extend((0..count).map(|i| {
                            let bit = i * usize::from(bits);
                            u16::from((row[bit / 8] >> (8 - usize::from(bits) - bit % 8)) & mask)
                        }));
                    }
                    bits => return Err(unsupported(&format!("{bits}-bit samples"))),
                }
            }
            Samples::Wide(data) => {
                out.extend_from_slice(data.get(y * count..(y + 1) * count).ok_or_else(short)?)
            }
        }
        Ok(())
    }
}

/// Samples the `tiff` crate decompresses, through `decoder` (past the first directory). It
/// refuses palette and CIELab photometrics, but reads their samples when told they are grey ones:
/// for those, a second decoder is opened on the patched input.
fn samples_of<'a>(
    input: &'a [u8],
    decoder: &mut Decoder<Patched<'a>>,
    page: &Page,
    limits: &Limits,
) -> Result<Samples, Error> {
    let mut patched;
    let decoder = match page.photometric {
        PALETTE | CIELAB => {
            let patch = photometric_value(input).ok_or_else(|| {
                corrupt("the first directory's photometric entry is not where its header says")
            })?;
            patched = open(input, Some(patch), limits)?;
            &mut patched
        }
        _ => decoder,
    };
    Ok(match decoder.read_image().map_err(failed)? {
        DecodingResult::U8(values) => Samples::Packed(values),
        DecodingResult::I8(values) => {
            Samples::Packed(values.into_iter().map(|v| v as u8).collect())
        }
        DecodingResult::U16(values) => Samples::Wide(values),
        DecodingResult::I16(values) => {
            Samples::Wide(values.into_iter().map(|v| v as u16).collect())
        }
        _ => {
            return Err(unsupported(
                "samples wider than 16 bits in this photometric",
            ));
        }
    })
}

/// Where the first directory's PhotometricInterpretation value is, and the bytes that say
/// BlackIsZero in the file's byte order.
fn photometric_value(input: &[u8]) -> Option<(u64, [u8; 2])> {
    let big_endian = input.starts_with(b"MM");
    let read = |at: usize, len: usize| -> Option<u64> {
        let bytes = input.get(at..at.checked_add(len)?)?;
        Some(bytes.iter().enumerate().fold(0u64, |value, (i, &b)| {
            let shift = if big_endian { len - 1 - i } else { i };
            value | u64::from(b) << (8 * shift)
        }))
    };
    // Classic TIFF: 4-byte offsets, 2-byte entry count, 12-byte entries with the value at 8.
    // BigTIFF: 8-byte offsets and count, 20-byte entries with the value at 12.
    let (ifd, count_len, entry_len, value_at) = match read(2, 2)? {
        42 => (read(4, 4)?, 2, 12, 8),
        43 => (read(8, 8)?, 8, 20, 12),
        _ => return None,
    };
    let ifd = usize::try_from(ifd).ok()?;
    let count = read(ifd, count_len)?;
    let entry = (0..usize::try_from(count).ok()?.min(4096))
        .map(|i| ifd + count_len + i * entry_len)
        .find(|&at| read(at, 2) == Some(262))?;
    let value = if big_endian { [0, 1] } else { [1, 0] };
    Some(((entry + value_at) as u64, value))
}

/// Strip `index`'s bytes, cut short where the file ends (a fault the tolerance judges).
fn strip<'a>(
    input: &'a [u8],
    offsets: &[u64],
    counts: &[u64],
    index: usize,
    limits: &Limits,
) -> Result<&'a [u8], Error> {
    let start = usize::try_from(offsets[index]).unwrap_or(usize::MAX);
    let len = usize::try_from(*counts.get(index).unwrap_or(&0)).unwrap_or(usize::MAX);
    let data = input.get(start.min(input.len())..).unwrap_or_default();
    if data.len() < len {
        fault(
            limits.fail_on,
            Fault::Truncated,
            ImageFormat::Tiff,
            format!("strip {index} is cut short by the end of the file"),
        )?;
    }
    Ok(&data[..len.min(data.len())])
}

fn strips<R: Read + Seek>(decoder: &mut Decoder<R>) -> Result<(Vec<u64>, Vec<u64>), Error> {
    let offsets = decoder.get_tag_u64_vec(Tag::StripOffsets).map_err(failed)?;
    let counts = decoder
        .get_tag_u64_vec(Tag::StripByteCounts)
        .map_err(failed)?;
    Ok((offsets, counts))
}

/// CCITT modified Huffman, Group 3 (1-D) or Group 4 strips, as 1-bit min-is-black rows. The coder's black runs
/// are 1 bits, shown black in a min-is-white file and white in a min-is-black one.
fn fax<R: Read + Seek>(
    input: &[u8],
    decoder: &mut Decoder<R>,
    page: &Page,
    limits: &Limits,
) -> Result<Samples, Error> {
    if page.bits != 1 || page.samples != 1 {
        return Err(corrupt("CCITT data with more than one bit a pixel"));
    }
    let two_d = decoder
        .find_tag_unsigned::<u32>(T4_OPTIONS)
        .map_err(failed)?
        .is_some_and(|options| options & 1 != 0);
    if page.compression == FAX3 && two_d {
        return Err(unsupported("2-D CCITT Group 3 data"));
    }
    let width = u16::try_from(page.width).map_err(|_| unsupported("CCITT rows over 65535"))?;
    let rows_per_strip = page.rows_per_strip(decoder)?;
    let (offsets, counts) = strips(decoder)?;
    let (_, row_bytes) = page.row();
    let white_is_zero = page.photometric == MIN_IS_WHITE;
    let mut rows = vec![0u8; row_bytes * page.height as usize];
    for (index, first) in (0..page.height)
        .step_by(rows_per_strip as usize)
        .enumerate()
    {
        if index >= offsets.len() {
            return Err(corrupt("fewer strips than rows need"));
        }
        let want = rows_per_strip.min(page.height - first) as usize;
        let data = strip(input, &offsets, &counts, index, limits)?;
        // libtiff writes an EOL before each Group 3 row, none after the last, where the `fax`
        // crate waits for one: end-of-document (six EOLs, each padded to a byte) is appended.
        let bytes = data
            .iter()
            .map(|&b| if page.reversed { b.reverse_bits() } else { b })
            .chain([0, 1].repeat(6));
        let mut done = 0;
        let mut line = |transitions: &[u16]| {
            if done < want {
                let row = &mut rows[(first as usize + done) * row_bytes..][..row_bytes];
                for (x, colour) in fax::decoder::pels(transitions, width).enumerate() {
                    if (colour == fax::Color::Black) != white_is_zero {
                        row[x / 8] |= 0x80 >> (x % 8);
                    }
                }
                done += 1;
            }
        };
        match page.compression {
            CCITT_RLE => modified_huffman(bytes, width, want, &mut line),
            FAX3 => fax::decoder::decode_g3(bytes, &mut line),
            _ => fax::decoder::decode_g4(bytes, width, u16::try_from(want).ok(), &mut line),
        };
        if done < want {
            fault(
                limits.fail_on,
                Fault::Error,
                ImageFormat::Tiff,
                format!("strip {index} decodes to {done} of its {want} rows"),
            )?;
        }
    }
    Ok(Samples::Packed(rows))
}

/// CCITT modified Huffman (TIFF compression 2): Group 3's 1-D run codes with no EOLs, each row
/// starting on a byte. Gives `line` each row's colour changes (as the `fax` crate's decoders do),
/// until `rows` rows or the data ends.
fn modified_huffman(
    bytes: impl Iterator<Item = u8>,
    width: u16,
    rows: usize,
    line: &mut impl FnMut(&[u16]),
) -> Option<()> {
    use fax::BitReader;
    use fax::maps::{black, white};
    let mut reader = fax::ByteReader::new(bytes.map(Ok::<u8, std::convert::Infallible>)).ok()?;
    let mut changes = Vec::new();
    for _ in 0..rows {
        changes.clear();
        let (mut at, mut black_run) = (0u16, false);
        while at < width {
            // Make-up codes (multiples of 64) until a terminating one (under 64).
            let mut run = 0u16;
            loop {
                let code = match black_run {
                    true => black::decode(&mut reader)?,
                    false => white::decode(&mut reader)?,
                };
                run = run.checked_add(code)?;
                if code < 64 {
                    break;
                }
            }
            at = at.saturating_add(run);
            changes.push(at);
            black_run = !black_run;
        }
        line(&changes);
        let padding = reader.bits_to_byte_boundary();
        reader.consume(padding).ok()?;
    }
    Some(())
}

/// LZMA strips, each decoded to at most its rows' bytes, then the horizontal predictor undone.
fn lzma<R: Read + Seek>(
    input: &[u8],
    decoder: &mut Decoder<R>,
    page: &Page,
    limits: &Limits,
) -> Result<Samples, Error> {
    if !matches!(page.bits, 8 | 16) || !matches!(page.predictor, 1 | 2) {
        return Err(unsupported(
            "LZMA data other than 8 or 16 bits with predictor 1 or 2",
        ));
    }
    let rows_per_strip = page.rows_per_strip(decoder)?;
    let (offsets, counts) = strips(decoder)?;
    let (count, row_bytes) = page.row();
    let rows = page.height as usize;
    // 16-bit samples are decoded into their own buffer, then put in this machine's byte order.
    let mut samples = match page.bits {
        8 => Samples::Packed(vec![0; row_bytes * rows]),
        _ => Samples::Wide(vec![0; count * rows]),
    };
    let data: &mut [u8] = match &mut samples {
        Samples::Packed(values) => values,
        Samples::Wide(values) => bytemuck::cast_slice_mut(values),
    };
    for (index, chunk) in data
        .chunks_mut(row_bytes * rows_per_strip as usize)
        .enumerate()
    {
        if index >= offsets.len() {
            return Err(corrupt("fewer strips than rows need"));
        }
        let compressed = strip(input, &offsets, &counts, index, limits)?;
        let mut stream = liblzma::stream::Stream::new_stream_decoder(LZMA_MEMORY, 0)
            .map_err(|e| corrupt(&format!("LZMA: {e}")))?;
        let result = stream.process(compressed, chunk, liblzma::stream::Action::Finish);
        let out = stream.total_out() as usize;
        if out < chunk.len() {
            let why = result
                .err()
                .map_or_else(|| "it ends".to_string(), |e| e.to_string());
            fault(
                limits.fail_on,
                Fault::Error,
                ImageFormat::Tiff,
                format!(
                    "strip {index} decodes to {out} of its {} bytes: {why}",
                    chunk.len()
                ),
            )?;
        }
    }
    if let Samples::Wide(values) = &mut samples {
        let big = input.starts_with(b"MM");
        for v in values.iter_mut() {
            *v = if big {
                u16::from_be(*v)
            } else {
                u16::from_le(*v)
            };
        }
    }
    if page.predictor == 2 {
        let row = page.width as usize * page.samples;
        match &mut samples {
            Samples::Packed(values) => {
                undo_differencing(values, row, page.samples, u8::wrapping_add)
            }
            Samples::Wide(values) => {
                undo_differencing(values, row, page.samples, u16::wrapping_add)
            }
        }
    }
    if page.photometric == MIN_IS_WHITE {
        match &mut samples {
            Samples::Packed(values) => values.iter_mut().for_each(|v| *v = !*v),
            Samples::Wide(values) => values.iter_mut().for_each(|v| *v = !*v),
        }
    }
    Ok(samples)
}

/// Undoes horizontal differencing (TIFF predictor 2): each sample was stored as its difference
/// from the same sample of the pixel before, in rows of `row` samples, `stride` a pixel.
fn undo_differencing<T: Copy>(values: &mut [T], row: usize, stride: usize, add: fn(T, T) -> T) {
    for row in values.chunks_mut(row) {
        for i in stride..row.len() {
            row[i] = add(row[i], row[i - stride]);
        }
    }
}

/// The samples as 8-bit RGB, or RGBA when the page has alpha. Grey samples are min-is-black
/// (the `tiff` crate and our decompressors turn min-is-white ones over).
fn to_raster(
    page: &Page,
    samples: &Samples,
    colormap: Option<&[u16]>,
    mut pixels: Vec<u8>,
) -> Result<Raster, Error> {
    let bits = u32::from(page.bits);
    if !(1..=16).contains(&bits) || page.samples < colour_samples(page.photometric) {
        return Err(unsupported(&format!(
            "photometric {} with {} samples of {bits} bits",
            page.photometric, page.samples
        )));
    }
    let top = (1u32 << bits) - 1;
    let sign = if page.signed { 1u16 << (bits - 1) } else { 0 };
    let scale = |v: u16| ((u32::from(v ^ sign) * 255 + top / 2) / top) as u8;
    let palette = |index: u16| -> [u8; 3] {
        let map = colormap.unwrap_or_default();
        let n = map.len() / 3;
        let i = usize::from(index);
        match i < n {
            true => [map[i], map[n + i], map[2 * n + i]].map(|c| (c >> 8) as u8),
            false => [0; 3],
        }
    };
    let layout = if page.alpha {
        PixelLayout::Rgba8
    } else {
        PixelLayout::Rgb8
    };
    pixels.clear();
    pixels.reserve(page.width as usize * page.height as usize * layout.channels());
    let mut row = Vec::new();
    for y in 0..page.height as usize {
        samples.row(page, y, &mut row)?;
        for px in row.chunks_exact(page.samples) {
            let rgb = match page.photometric {
                RGB => [scale(px[0]), scale(px[1]), scale(px[2])],
                PALETTE => palette(px[0]),
                SEPARATED => cmyk([px[0], px[1], px[2], px[3]].map(scale)),
                YCBCR => ycbcr([px[0], px[1], px[2]].map(scale)),
                CIELAB => lab(px, bits),
                _ => [scale(px[0]); 3],
            };
            pixels.extend_from_slice(&rgb);
            if page.alpha {
                pixels.push(scale(px[colour_samples(page.photometric)]));
            }
        }
    }
    Ok(Raster::from_parts(page.width, page.height, layout, pixels))
}

fn cmyk([c, m, y, k]: [u8; 4]) -> [u8; 3] {
    let white = 255 - u32::from(k);
    [c, m, y].map(|v| ((255 - u32::from(v)) * white / 255) as u8)
}

/// Full-range YCbCr (what libjpeg writes, and TIFF's default ReferenceBlackWhite) to RGB.
fn ycbcr([y, cb, cr]: [u8; 3]) -> [u8; 3] {
    let (y, cb, cr) = (f32::from(y), f32::from(cb) - 128.0, f32::from(cr) - 128.0);
    [
        y + 1.402 * cr,
        y - 0.344_136 * cb - 0.714_136 * cr,
        y + 1.772 * cb,
    ]
    .map(|v| v.round().clamp(0.0, 255.0) as u8)
}

/// CIELab (L unsigned, a and b signed, of `bits` bits) to sRGB, against the D65 white point, as
/// libtiff's and libvips's conversions assume when the file gives none.
fn lab(px: &[u16], bits: u32) -> [u8; 3] {
    let (l, a, b) = match bits {
        16 => (
            f32::from(px[0]) * 100.0 / 65535.0,
            f32::from(px[1] as i16) / 256.0,
            f32::from(px[2] as i16) / 256.0,
        ),
        _ => (
            f32::from(px[0]) * 100.0 / 255.0,
            f32::from(px[1] as u8 as i8),
            f32::from(px[2] as u8 as i8),
        ),
    };
    let fy = (l + 16.0) / 116.0;
    let inverse = |t: f32| {
        if t > 6.0 / 29.0 {
            t * t * t
        } else {
            3.0 * (6.0f32 / 29.0).powi(2) * (t - 4.0 / 29.0)
        }
    };
    let (x, y, z) = (
        0.950_47 * inverse(fy + a / 500.0),
        inverse(fy),
        1.088_83 * inverse(fy - b / 200.0),
    );
    [
        3.240_97 * x - 1.537_38 * y - 0.498_61 * z,
        -0.969_24 * x + 1.875_97 * y + 0.041_56 * z,
        0.055_63 * x - 0.203_98 * y + 1.056_97 * z,
    ]
    .map(|linear| {
        let v = linear.clamp(0.0, 1.0);
        let encoded = if v <= 0.003_130_8 {
            12.92 * v
        } else {
            1.055 * v.powf(1.0 / 2.4) - 0.055
        };
        (encoded * 255.0).round() as u8
    })
}

/// The input, with two bytes replaced as they are read.
struct Patched<'a> {
    inner: Cursor<&'a [u8]>,
    patch: Option<(u64, [u8; 2])>,
}

impl Read for Patched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let start = self.inner.position();
        let n = self.inner.read(buf)?;
        if let Some((at, bytes)) = self.patch {
            for (i, byte) in bytes.into_iter().enumerate() {
                if let Some(pos) = (at + i as u64).checked_sub(start)
                    && pos < n as u64
                {
                    buf[pos as usize] = byte;
                }
            }
        }
        Ok(n)
    }
}

impl Seek for Patched<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.inner.seek(to)
    }
}

fn failed(e: TiffError) -> Error {
    match e {
        TiffError::UnsupportedError(what) => unsupported(&what.to_string()),
        TiffError::LimitsExceeded => Error::DecoderLimit {
            format: ImageFormat::Tiff,
            message: e.to_string(),
        },
        other => corrupt(&other.to_string()),
    }
}

fn unsupported(what: &str) -> Error {
    Error::UnsupportedFormat {
        reason: format!("tiff: {what}"),
    }
}

fn corrupt(message: &str) -> Error {
    Error::Corrupt {
        format: ImageFormat::Tiff,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patched_reader_replaces_two_bytes_wherever_a_read_falls() {
        let input: Vec<u8> = (0..10).collect();
        let mut reader = Patched {
            inner: Cursor::new(&input),
            patch: Some((4, [40, 50])),
        };
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        assert_eq!(all, [0, 1, 2, 3, 40, 50, 6, 7, 8, 9]);
        // A read that starts between the two bytes.
        reader.seek(SeekFrom::Start(5)).unwrap();
        let mut two = [0; 2];
        reader.read_exact(&mut two).unwrap();
        assert_eq!(two, [50, 6]);
    }

    #[test]
    fn lab_white_black_and_red_are_srgb_white_black_and_red() {
        assert_eq!(lab(&[255, 0, 0], 8), [255, 255, 255]);
        assert_eq!(lab(&[0, 0, 0], 8), [0, 0, 0]);
        // sRGB red is L 53.2, a 80.1, b 67.2 (D65).
        let red = lab(&[(53.24 * 2.55) as u16, 80, 67], 8);
        assert!(red[0] > 245 && red[1] < 20 && red[2] < 20, "{red:?}");
    }
}
