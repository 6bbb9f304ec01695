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
    fn rows_turn_upside_down() {
        let mut pixels = [1, 1, 2, 2, 3, 3];
        flip_rows(&mut pixels, 2);
        assert_eq!(pixels, [3, 3, 2, 2, 1, 1]);
    }
}
