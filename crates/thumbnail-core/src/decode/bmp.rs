//! BMP headers the `image` crate refuses, put in a form it reads: OS/2 2.x headers (16 to 64
//! bytes, laid out as Windows' 40-byte header for as far as they go), header sizes no format
//! names, and run-length-encoded images stored top-down (which Windows' rules forbid, but
//! files and browsers have). The pixels are never copied: the decoder reads a new 40-byte header
//! and the file's own palette and pixels behind it.

use std::io::{self, Read, Seek, SeekFrom};

/// BITMAPFILEHEADER: `BM`, file size, two reserved words, pixel data offset.
const FILE_HEADER: usize = 14;
/// BITMAPINFOHEADER's size, and the sizes the `image` crate reads.
const INFO_HEADER: usize = 40;
const READ_AS_THEY_ARE: [u32; 6] = [12, 40, 52, 56, 108, 124];
/// BI_RLE8 and BI_RLE4.
const RUN_LENGTH: [u32; 2] = [1, 2];

/// A BMP as the `image` crate reads it: `head` (new file and info headers and the palette, when
/// rewritten), then `input` from `tail_from`; and whether the decoded rows must be turned upside
/// down (a top-down file given to the decoder as bottom-up).
pub(super) struct Normalised<'a> {
    head: Vec<u8>,
    input: &'a [u8],
    tail_from: usize,
    position: u64,
    /// The decoded image is upside down.
    pub flip: bool,
}

fn u32_at(input: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(input.get(at..at + 4)?.try_into().ok()?))
}

/// `input` as the decoder should see it; `None` when it reads the file as it is.
pub(super) fn normalise(input: &[u8]) -> Option<Normalised<'_>> {
    let size = u32_at(input, FILE_HEADER)?;
    let offset = usize::try_from(u32_at(input, 10)?).ok()?;
    let rewrite = !READ_AS_THEY_ARE.contains(&size) && size >= 16;
    let height_at = FILE_HEADER + 8;
    let height = i32::from_le_bytes(input.get(height_at..height_at + 4)?.try_into().ok()?);
    let compression = if size >= 20 {
        u32_at(input, FILE_HEADER + 16)?
    } else {
        0
    };
    let flip = size >= 40 && height < 0 && height != i32::MIN && RUN_LENGTH.contains(&compression);
    if !rewrite && !flip {
        return None;
    }
    let header_end = FILE_HEADER + size as usize;
    // The palette lies between the header and the pixels (none when the offset says otherwise).
    let palette = input
        .get(header_end..offset.max(header_end))
        .unwrap_or_default();
    let mut info = [0u8; INFO_HEADER];
    let kept = (size as usize).min(INFO_HEADER);
    info[..kept].copy_from_slice(input.get(FILE_HEADER..FILE_HEADER + kept)?);
    info[..4].copy_from_slice(&(INFO_HEADER as u32).to_le_bytes());
    if flip {
        info[8..12].copy_from_slice(&height.wrapping_neg().to_le_bytes());
    }
    let data_offset = FILE_HEADER + INFO_HEADER + palette.len();
    let pixels = input.len().saturating_sub(offset);
    let mut head = Vec::with_capacity(data_offset);
    head.extend_from_slice(b"BM");
    head.extend_from_slice(&((data_offset + pixels) as u32).to_le_bytes());
    head.extend_from_slice(&[0; 4]);
    head.extend_from_slice(&(data_offset as u32).to_le_bytes());
    head.extend_from_slice(&info);
    head.extend_from_slice(palette);
    Some(Normalised {
        head,
        input,
        tail_from: offset.min(input.len()),
        position: 0,
        flip,
    })
}

impl Normalised<'_> {
    fn len(&self) -> u64 {
        (self.head.len() + self.input.len() - self.tail_from) as u64
    }
}

impl Read for Normalised<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let at = self.position as usize;
        let (head, tail) = (&self.head[..], &self.input[self.tail_from..]);
        let source = match at.checked_sub(head.len()) {
            None => &head[at..],
            Some(in_tail) => tail.get(in_tail..).unwrap_or_default(),
        };
        let n = source.len().min(buf.len());
        buf[..n].copy_from_slice(&source[..n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for Normalised<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let position = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => self.len().checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        self.position = position.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "a seek before the start")
        })?;
        Ok(self.position)
    }
}

/// A run-length-encoded BMP (RLE8 or RLE4) expanded into an uncompressed 8-bit one, for files
/// whose runs the `image` crate refuses (a run past its row's end, a delta past the image):
/// everything is kept that lands inside the image, pixels no run reaches are palette index 0
/// (as Windows leaves them). Also whether the data stops before the image does (a cut file).
/// `None` when `input` is not a run-length-encoded BMP with a Windows-layout header, or its header
/// gives more than `max_pixels` pixels: the expansion is allocated from the header alone, before
/// any decoder has checked it.
pub(super) fn expanded_runs(input: &[u8], max_pixels: u64) -> Option<(Vec<u8>, bool)> {
    let header = usize::try_from(u32_at(input, FILE_HEADER)?).ok()?;
    let bits = u16::from_le_bytes(input.get(28..30)?.try_into().ok()?);
    let compression = u32_at(input, 30)?;
    if header < INFO_HEADER || !matches!((compression, bits), (1, 8) | (2, 4)) {
        return None;
    }
    let width = usize::try_from(i32::from_le_bytes(input.get(18..22)?.try_into().ok()?)).ok()?;
    let height = i32::from_le_bytes(input.get(22..26)?.try_into().ok()?);
    let rows = height.unsigned_abs() as usize;
    if (width as u64).checked_mul(rows as u64)? > max_pixels {
        return None;
    }
    let colours = match u32_at(input, 46)? {
        0 => 1 << bits,
        n => (n as usize).min(256),
    };
    let palette = input.get(FILE_HEADER + header..FILE_HEADER + header + colours * 4)?;
    let data = input.get(usize::try_from(u32_at(input, 10)?).ok()?..)?;
    let stride = width.checked_add(3)? & !3;
    let mut pixels = vec![0u8; stride.checked_mul(rows)?];
    let (mut x, mut y, mut at) = (0usize, 0usize, 0usize);
    let mut cut = false;
    let mut put = |x: usize, y: usize, index: u8| {
        if x < width && y < rows {
            pixels[y * stride + x] = index;
        }
    };
    // The `n`th index of a run: the byte itself (RLE8), or its high then low nibble (RLE4).
    let index = |byte: u8, n: usize| match bits {
        8 => byte,
        _ if n.is_multiple_of(2) => byte >> 4,
        _ => byte & 0x0F,
    };
    while y < rows {
        let Some(&[count, value]) = data.get(at..at + 2) else {
            cut = true;
            break;
        };
        at += 2;
        match (count, value) {
            (0, 0) => (x, y) = (0, y + 1),
            (0, 1) => break,
            (0, 2) => {
                let Some(&[dx, dy]) = data.get(at..at + 2) else {
                    cut = true;
                    break;
                };
                at += 2;
                (x, y) = (x + usize::from(dx), y + usize::from(dy));
            }
            (0, n) => {
                // Absolute mode: `n` indices, their bytes padded to a 16-bit boundary.
                let n = usize::from(n);
                let bytes = if bits == 8 { n } else { n.div_ceil(2) };
                let Some(literal) = data.get(at..at + bytes) else {
                    cut = true;
                    break;
                };
                for i in 0..n {
                    put(
                        x + i,
                        y,
                        index(literal[if bits == 8 { i } else { i / 2 }], i),
                    );
                }
                x += n;
                at += bytes + bytes % 2;
            }
            (n, byte) => {
                for i in 0..usize::from(n) {
                    put(x + i, y, index(byte, i));
                }
                x += usize::from(n);
            }
        }
    }
    let offset = FILE_HEADER + INFO_HEADER + palette.len();
    let mut out = Vec::with_capacity(offset + pixels.len());
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&u32::try_from(offset + pixels.len()).ok()?.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(offset as u32).to_le_bytes());
    out.extend_from_slice(&(INFO_HEADER as u32).to_le_bytes());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8u16.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&u32::try_from(pixels.len()).ok()?.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&(colours as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(palette);
    out.extend_from_slice(&pixels);
    Some((out, cut))
}

/// Turns rows of `width * channels` bytes upside down, in place.
pub(super) fn flip_rows(pixels: &mut [u8], row: usize) {
    let rows = pixels.len() / row.max(1);
    for y in 0..rows / 2 {
        let (top, bottom) = pixels.split_at_mut((rows - 1 - y) * row);
        top[y * row..(y + 1) * row].swap_with_slice(&mut bottom[..row]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spliced_reader_reads_and_seeks_across_the_join() {
        let input: Vec<u8> = (0..100).collect();
        let mut spliced = Normalised {
            head: vec![200, 201, 202],
            input: &input,
            tail_from: 90,
            position: 0,
            flip: false,
        };
        let mut all = Vec::new();
        spliced.read_to_end(&mut all).unwrap();
        assert_eq!(all, [200, 201, 202, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99]);
        spliced.seek(SeekFrom::Start(2)).unwrap();
        let mut two = [0; 2];
        spliced.read_exact(&mut two).unwrap();
        assert_eq!(two, [202, 90]);
        assert_eq!(spliced.seek(SeekFrom::End(-1)).unwrap(), 12);
        assert!(spliced.seek(SeekFrom::Current(-20)).is_err());
    }

    #[test]
    fn runs_are_not_expanded_past_the_pixel_limit() {
        // An RLE8 header of 2,130,706,496 x 48 pixels (a fuzzer's find: expanded, it asked for
        // 95 GiB before any check), a two-colour palette, and one end-of-bitmap marker.
        let mut bmp = b"BM".to_vec();
        bmp.extend(0u32.to_le_bytes()); // file size, unchecked
        bmp.extend(0u32.to_le_bytes());
        bmp.extend(62u32.to_le_bytes()); // pixel data offset
        bmp.extend(40u32.to_le_bytes());
        bmp.extend(0x7f00_0040_i32.to_le_bytes());
        bmp.extend(48i32.to_le_bytes());
        bmp.extend(1u16.to_le_bytes());
        bmp.extend(8u16.to_le_bytes());
        bmp.extend(1u32.to_le_bytes()); // RLE8
        bmp.extend([0; 12]);
        bmp.extend(2u32.to_le_bytes()); // colours used
        bmp.extend(0u32.to_le_bytes());
        bmp.extend([0, 0, 0, 0, 255, 255, 255, 0]);
        bmp.extend([0, 1]);
        assert!(expanded_runs(&bmp, 4_000_000).is_none());
        // The same header at 8x2 is expanded.
        bmp[18..22].copy_from_slice(&8i32.to_le_bytes());
        bmp[22..26].copy_from_slice(&2i32.to_le_bytes());
        let (expanded, cut) = expanded_runs(&bmp, 4_000_000).expect("a small RLE8 bitmap");
        // An uncompressed BMP: the headers and palette as given, then two rows of eight.
        assert_eq!((expanded.len(), cut), (62 + 16, false));
    }

    #[test]
    fn rows_turn_upside_down() {
        let mut pixels = [1, 1, 2, 2, 3, 3];
        flip_rows(&mut pixels, 2);
        assert_eq!(pixels, [3, 3, 2, 2, 1, 1]);
    }
}
