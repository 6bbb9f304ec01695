//! Progressive JPEGs at 1/8, 1/4 and 1/2 scale from the scans those scales use.
//!
//! A progressive JPEG sends the DC coefficient of every 8x8 block in its first scan (or first few,
//! with successive approximation), then the AC coefficients band by band. At 1/8 scale a block
//! becomes one pixel, whose value is the block's DC term: `(DC x quant + 4) >> 3`, plus 128. So the
//! DC scans are all a 1/8 decode needs. At 1/4 a block becomes 2x2 pixels, the averages of its
//! quarters, which its DC term and three lowest AC terms (zig-zag 1, 2 and 4) give; a chroma block
//! of 4:2:0 becomes 4x4 pixels, from its terms of frequencies 0 to 3 each way (which the usual
//! scripts send in one band from 1 to 63, decoded anyway). At 1/2 a block becomes 4x4 pixels from
//! its terms of frequencies 0 to 3 each way (zig-zag up to 24), a 4:2:0 chroma block 8x8 from all
//! of them: every band is read. Scans whose bands start past what a component needs are not
//! decoded, nor are refinement scans (which cannot be read without every coefficient of their
//! band), so those terms keep the precision of their first scan: against libjpeg's decode at the
//! same scale, 40.7-44.9 dB at 1/4 and 37.6-42.9 dB at 1/2 on the dev corpus' progressive photos
//! (docs/performance.md). Refinement scans are half or more of such a file, and libjpeg's slowest
//! part of it. Every scan not decoded is skipped by searching its entropy-coded data for the next
//! marker. Memory is the terms each block keeps, where libjpeg keeps the whole image's coefficients
//! (64 per block) until its last scan has arrived.
//!
//! What this path does not take (baseline or lossless frames, arithmetic coding, 12-bit samples,
//! CMYK or Adobe RGB, a DNL marker) it hands back to libjpeg by returning `None`. A scan it decodes
//! that ends early, or a component no DC scan covers, is corrupt. A file cut inside a scan it skips
//! is not noticed: what the thumbnail needs of it is whole.

use crate::raster::{PixelLayout, Raster};
use crate::{Error, ImageFormat};

/// The image at 1/`shrink` scale, 8 or 4 (`ceil(width / shrink)` by `ceil(height / shrink)`, as
/// libjpeg scales), in RGB, written into `pixels` (taken); `None` when the file is not one this
/// path decodes.
pub(super) fn decode_scaled(
    input: &[u8],
    shrink: u32,
    pixels: &mut Vec<u8>,
) -> Result<Option<Raster>, Error> {
    let mut parser = Parser {
        data: input,
        pos: 0,
    };
    parser.expect_soi()?;
    let mut tables = Tables::default();
    let mut frame: Option<Frame> = None;
    let mut adobe_transform = None;
    loop {
        let marker = parser.next_marker()?;
        match marker {
            // Baseline and extended sequential: libjpeg's own scaled decode is the fast path there.
            0xC0 | 0xC1 => return Ok(None),
            0xC2 => {
                let segment = parser.segment()?;
                match Frame::parse(segment, shrink)? {
                    Some(parsed) => frame = Some(parsed),
                    None => return Ok(None),
                }
            }
            // Lossless, hierarchical, arithmetic-coded: rare, and libjpeg's business.
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return Ok(None),
            0xC4 => tables.huffman(parser.segment()?)?,
            0xDB => tables.quantisation(parser.segment()?)?,
            0xDD => {
                let segment = parser.segment()?;
                tables.restart_interval = usize::from(u16::from_be_bytes(
                    segment
                        .get(..2)
                        .ok_or_else(|| corrupt("short DRI segment"))?
                        .try_into()
                        .expect("two bytes"),
                ));
            }
            0xEE => {
                let segment = parser.segment()?;
                if segment.starts_with(b"Adobe") && segment.len() >= 12 {
                    adobe_transform = Some(segment[11]);
                }
            }
            0xDA => {
                let frame = frame
                    .as_mut()
                    .ok_or_else(|| corrupt("a scan before the frame header"))?;
                let header = parser.segment()?;
                let scan = Scan::parse(header, frame)?;
                let entropy_end = parser.entropy_end();
                let data = &input[parser.pos..entropy_end];
                if scan.spectral_start == 0 {
                    frame.decode_dc_scan(&scan, &tables, data)?;
                } else if shrink < 8 && scan.approximation_high == 0 {
                    frame.decode_band_scan(&scan, &tables, data)?;
                }
                parser.pos = entropy_end;
            }
            // DNL: the height comes after the first scan; libjpeg handles it.
            0xDC => return Ok(None),
            0xD9 => break,
            // Restart markers outside a scan carry nothing.
            0xD0..=0xD7 | 0x01 => {}
            _ => {
                parser.segment()?;
            }
        }
    }
    let Some(frame) = frame else {
        return Err(corrupt("no frame header"));
    };
    let colour = match (frame.components.len(), adobe_transform) {
        (1, _) => Colour::Grey,
        // Adobe's transform 0 means the three components are R, G and B; without an Adobe marker,
        // components named 'R', 'G', 'B' mean the same.
        (3, Some(0)) => return Ok(None),
        (3, None) if frame.components.iter().map(|c| c.id).eq(*b"RGB") => return Ok(None),
        (3, _) => Colour::YCbCr,
        _ => return Ok(None),
    };
    if let Some(missing) = frame.components.iter().find(|c| !c.has_dc) {
        return Err(corrupt(format!("no DC scan for component {}", missing.id)));
    }
    Ok(Some(frame.to_rgb(
        &tables,
        colour,
        std::mem::take(pixels),
    )?))
}

/// Where each coefficient of zig-zag order sits in a block's natural (row by row) order.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// A term no sample of this scale uses.
const UNUSED: u8 = u8::MAX;

/// Whether the first frame header of `input` is a progressive one (SOF2).
pub(super) fn is_progressive(input: &[u8]) -> bool {
    let mut parser = Parser {
        data: input,
        pos: 0,
    };
    if parser.expect_soi().is_err() {
        return false;
    }
    loop {
        match parser.next_marker() {
            Ok(0xC2) => return true,
            Ok(0xC0 | 0xC1 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF | 0xD9) | Err(_) => {
                return false;
            }
            Ok(0xD0..=0xD7 | 0x01) => {}
            Ok(_) => {
                if parser.segment().is_err() {
                    return false;
                }
            }
        }
    }
}

fn corrupt(message: impl Into<String>) -> Error {
    Error::Corrupt {
        format: ImageFormat::Jpeg,
        message: message.into(),
    }
}

/// Walks the markers of a JPEG file.
struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn expect_soi(&mut self) -> Result<(), Error> {
        if !self.data.starts_with(&[0xFF, 0xD8]) {
            return Err(corrupt("no start of image"));
        }
        self.pos = 2;
        Ok(())
    }

    /// The next marker's code; fill bytes (0xFF repeated) are skipped, other bytes between
    /// markers too, as libjpeg does with a warning.
    fn next_marker(&mut self) -> Result<u8, Error> {
        loop {
            let at = self.data[self.pos..]
                .iter()
                .position(|&b| b == 0xFF)
                .ok_or_else(|| corrupt("data ends before the end-of-image marker"))?;
            self.pos += at;
            while self.data.get(self.pos) == Some(&0xFF) {
                self.pos += 1;
            }
            match self.data.get(self.pos) {
                None => return Err(corrupt("data ends inside a marker")),
                Some(0) => continue,
                Some(&code) => {
                    self.pos += 1;
                    return Ok(code);
                }
            }
        }
    }

    /// The segment after a marker (its length excluded), and moves past it.
    fn segment(&mut self) -> Result<&'a [u8], Error> {
        let length = self
            .data
            .get(self.pos..self.pos + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or_else(|| corrupt("data ends inside a segment length"))?;
        if length < 2 {
            return Err(corrupt("a segment shorter than its length field"));
        }
        let segment = self
            .data
            .get(self.pos + 2..self.pos + length)
            .ok_or_else(|| corrupt("data ends inside a segment"))?;
        self.pos += length;
        Ok(segment)
    }

    /// Where the entropy-coded data from here ends: at the first marker that is neither a
    /// stuffed 0xFF nor a restart marker (or the end of the data).
    fn entropy_end(&self) -> usize {
        let mut at = self.pos;
        loop {
            match memchr::memchr(0xFF, &self.data[at..]) {
                None => return self.data.len(),
                Some(offset) => at += offset,
            }
            match self.data.get(at + 1) {
                Some(0x00 | 0xD0..=0xD7 | 0xFF) => at += 1,
                _ => return at,
            }
        }
    }
}

/// The Huffman tables, the first terms (zig-zag order) of the quantisation tables, and the
/// restart interval.
#[derive(Default)]
struct Tables {
    dc: [Option<Huffman>; 4],
    ac: [Option<Huffman>; 4],
    quant: [Option<[u16; 64]>; 4],
    restart_interval: usize,
}

impl Tables {
    fn huffman(&mut self, mut segment: &[u8]) -> Result<(), Error> {
        while !segment.is_empty() {
            let (&class_id, rest) = segment.split_first().expect("not empty");
            let counts: [u8; 16] = rest
                .get(..16)
                .ok_or_else(|| corrupt("short DHT segment"))?
                .try_into()
                .expect("sixteen bytes");
            let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
            let values = rest
                .get(16..16 + total)
                .ok_or_else(|| corrupt("short DHT segment"))?;
            let (class, id) = (class_id >> 4, usize::from(class_id & 0x0F));
            if id > 3 || class > 1 {
                return Err(corrupt("a Huffman table numbered past 3"));
            }
            let table = Some(Huffman::new(&counts, values)?);
            match class {
                0 => self.dc[id] = table,
                _ => self.ac[id] = table,
            }
            segment = &rest[16 + total..];
        }
        Ok(())
    }

    fn quantisation(&mut self, mut segment: &[u8]) -> Result<(), Error> {
        while !segment.is_empty() {
            let (&precision_id, rest) = segment.split_first().expect("not empty");
            let (precision, id) = (precision_id >> 4, usize::from(precision_id & 0x0F));
            let size = if precision == 0 { 64 } else { 128 };
            let table = rest
                .get(..size)
                .ok_or_else(|| corrupt("short DQT segment"))?;
            if id > 3 {
                return Err(corrupt("a quantisation table numbered past 3"));
            }
            // In zig-zag order, as the coefficients come.
            self.quant[id] = Some(std::array::from_fn(|i| match precision {
                0 => u16::from(table[i]),
                _ => u16::from_be_bytes([table[2 * i], table[2 * i + 1]]),
            }));
            segment = &rest[size..];
        }
        Ok(())
    }
}

/// Bits a Huffman code's first lookup takes: most codes are shorter.
const FAST_BITS: u32 = 9;

/// A canonical Huffman code: codes of up to `FAST_BITS` bits looked up at once, longer ones
/// searched length by length.
struct Huffman {
    /// For each code length 1 to 16: the largest code of that length (-1 when none), and the
    /// index in `values` of its first code, less that code.
    max_code: [i32; 17],
    offset: [i32; 17],
    values: Vec<u8>,
    /// For every `FAST_BITS`-bit prefix: the length and value of the code it starts with, or
    /// length 0 where that code is longer.
    fast: Vec<(u8, u8)>,
    /// For every `FAST_BITS`-bit prefix that holds a symbol's code and all of its value's bits
    /// (most of a photo's, whose terms and DC differences are small): the whole term at once.
    short: Vec<Short>,
}

/// A term read in one lookup: `run` zeros (AC), then `value` (an AC term or a DC difference),
/// from `taken` bits (0: not this way).
#[derive(Clone, Copy, Default)]
struct Short {
    value: i16,
    run: u8,
    taken: u8,
}

impl Huffman {
    fn new(counts: &[u8; 16], values: &[u8]) -> Result<Self, Error> {
        let mut max_code = [-1; 17];
        let mut offset = [0; 17];
        let mut fast = vec![(0, 0); 1 << FAST_BITS];
        let (mut code, mut index) = (0i32, 0i32);
        for length in 1..=16 {
            let count = i32::from(counts[length - 1]);
            offset[length] = index - code;
            if code + count > 1 << length {
                return Err(corrupt("a Huffman table with more codes than fit"));
            }
            if length as u32 <= FAST_BITS {
                let spread = FAST_BITS - length as u32;
                for i in 0..count {
                    let first = ((code + i) as usize) << spread;
                    let value = values[(index + i) as usize];
                    fast[first..first + (1 << spread)].fill((length as u8, value));
                }
            }
            code += count;
            index += count;
            if count > 0 {
                max_code[length] = code - 1;
            }
            code <<= 1;
        }
        let short = (0..1usize << FAST_BITS)
            .map(|prefix| {
                let (length, symbol) = fast[prefix];
                let (run, size) = (symbol >> 4, symbol & 0x0F);
                let taken = u32::from(length + size);
                if length == 0 || size == 0 || taken > FAST_BITS {
                    return Short::default();
                }
                let bits = (prefix >> (FAST_BITS - taken)) as u32 & ((1 << size) - 1);
                Short {
                    value: extend(bits, size) as i16,
                    run,
                    taken: taken as u8,
                }
            })
            .collect();
        Ok(Huffman {
            max_code,
            offset,
            values: values.to_vec(),
            fast,
            short,
        })
    }

    fn decode(&self, bits: &mut Bits) -> Result<u8, Error> {
        let (length, value) = self.fast[bits.peek(FAST_BITS) as usize];
        if length > 0 {
            bits.consume(u32::from(length));
            return Ok(value);
        }
        let wide = bits.peek(16) as i32;
        for length in FAST_BITS as usize + 1..=16 {
            let code = wide >> (16 - length);
            if code <= self.max_code[length] {
                bits.consume(length as u32);
                return Ok(self.values[(code + self.offset[length]) as usize]);
            }
        }
        Err(corrupt("an entropy-coded symbol no Huffman table has"))
    }
}

/// Bits of one scan's entropy-coded data, stuffed zero bytes removed, read ahead into a 64-bit
/// buffer. Past the data (a marker, or its end) zeros are fed.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buffer: u64,
    /// Bits in `buffer` not yet taken (its lowest ones).
    count: u32,
    /// Of those, the last ones fed as zeros past the data.
    fed: u32,
    /// Set when a fed zero was taken: the data ran out.
    ran_out: bool,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits {
            data,
            pos: 0,
            buffer: 0,
            count: 0,
            fed: 0,
            ran_out: false,
        }
    }

    fn fill(&mut self) {
        while self.count <= 56 {
            let byte = match self.data.get(self.pos) {
                Some(0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                    self.pos += 2;
                    0xFF
                }
                Some(0xFF) | None => {
                    self.fed += 8;
                    0
                }
                Some(&byte) => {
                    self.pos += 1;
                    byte
                }
            };
            self.buffer = (self.buffer << 8) | u64::from(byte);
            self.count += 8;
        }
    }

    /// The next `count` bits (at most 16), not taken.
    fn peek(&mut self, count: u32) -> u32 {
        if self.count < count {
            self.fill();
        }
        ((self.buffer >> (self.count - count)) & ((1 << count) - 1)) as u32
    }

    fn consume(&mut self, count: u32) {
        self.count -= count;
        if self.count < self.fed {
            self.ran_out = true;
            self.fed = self.count;
        }
    }

    fn bit(&mut self) -> u32 {
        self.bits(1)
    }

    fn bits(&mut self, count: u8) -> u32 {
        if count == 0 {
            return 0;
        }
        let value = self.peek(u32::from(count));
        self.consume(u32::from(count));
        value
    }

    /// Moves past a restart marker, which must come next. What the buffer holds is the last
    /// byte's padding: reading stops at a marker.
    fn restart(&mut self) -> Result<(), Error> {
        (self.buffer, self.count, self.fed) = (0, 0, 0);
        match self.data.get(self.pos..self.pos + 2) {
            Some([0xFF, 0xD0..=0xD7]) => {
                self.pos += 2;
                Ok(())
            }
            _ => Err(corrupt("a restart marker missing in a scan")),
        }
    }
}

/// Where a scan's restart markers fall: after every `interval` units (MCUs, or blocks of a scan of
/// one component), except after the last.
struct Restarts {
    interval: usize,
    since: usize,
}

impl Restarts {
    fn new(interval: usize) -> Self {
        Restarts { interval, since: 0 }
    }

    /// Counts a unit decoded; when a marker is due, moves `bits` past it and answers true (the
    /// caller then resets what a restart resets: DC predictions, an end-of-band run).
    fn after_unit(&mut self, bits: &mut Bits, last: bool) -> Result<bool, Error> {
        self.since += 1;
        if self.interval == 0 || self.since < self.interval || last {
            return Ok(false);
        }
        bits.restart()?;
        self.since = 0;
        Ok(true)
    }
}

/// A component of the frame, and the coefficients decoded for it so far.
struct Component {
    id: u8,
    h: usize,
    v: usize,
    quant: usize,
    /// Blocks that hold image samples, across and down.
    blocks_w: usize,
    blocks_h: usize,
    /// Blocks across a row of `dc`: whole MCUs' worth, so interleaved scans fit.
    stride: usize,
    dc: Vec<i32>,
    has_dc: bool,
    /// Samples a block gives across and down: 1 at 1/8; at 1/4, 2, or 4 where the component is
    /// subsampled (so each is at the output's resolution); at 1/2, 4 or 8.
    side: (usize, usize),
    /// Each AC term's place among a block's kept terms (`UNUSED` where no sample needs it), how
    /// many a block keeps, and the highest zig-zag index kept.
    slots: [u8; 64],
    terms: usize,
    highest: usize,
    /// Each block's kept AC terms (as their first scans give them).
    low: Vec<i16>,
}

struct Frame {
    /// 8, 4 or 2: the output is 1/`shrink` of the image each way.
    shrink: usize,
    width: usize,
    height: usize,
    h_max: usize,
    v_max: usize,
    mcus_x: usize,
    mcus_y: usize,
    components: Vec<Component>,
}

impl Frame {
    /// A progressive frame header; `None` for one this path does not decode (not 8-bit). Below
    /// 1/8 (`shrink` 4 or 2), room for the low AC terms too.
    fn parse(segment: &[u8], shrink: u32) -> Result<Option<Frame>, Error> {
        let short = || corrupt("short frame header");
        let header = segment.get(..6).ok_or_else(short)?;
        if header[0] != 8 {
            return Ok(None);
        }
        let height = usize::from(u16::from_be_bytes([header[1], header[2]]));
        let width = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let count = usize::from(header[5]);
        if width == 0 || height == 0 {
            return Ok(None);
        }
        let specs = segment.get(6..6 + 3 * count).ok_or_else(short)?;
        let sampling: Vec<(u8, usize, usize, usize)> = specs
            .chunks_exact(3)
            .map(|c| {
                (
                    c[0],
                    usize::from(c[1] >> 4),
                    usize::from(c[1] & 0x0F),
                    usize::from(c[2]),
                )
            })
            .collect();
        if sampling
            .iter()
            .any(|&(_, h, v, q)| !(1..=4).contains(&h) || !(1..=4).contains(&v) || q > 3)
        {
            return Err(corrupt(
                "a component with sampling factors or table out of range",
            ));
        }
        let h_max = sampling.iter().map(|s| s.1).max().ok_or_else(short)?;
        let v_max = sampling.iter().map(|s| s.2).max().ok_or_else(short)?;
        // A block gives 8/shrink samples each way; at 1/4 and 1/2, a component subsampled 2:1
        // gives twice that way, so each is at the output's resolution. Other ratios are left to
        // libjpeg.
        let own = 8 / shrink as usize;
        let side = |max: usize, of: usize| match (own, max / of, max % of) {
            (1, _, _) => Some(1),
            (_, 1, 0) => Some(own),
            (_, 2, 0) => Some(2 * own),
            _ => None,
        };
        if sampling
            .iter()
            .any(|&(_, h, v, _)| side(h_max, h).is_none() || side(v_max, v).is_none())
        {
            return Ok(None);
        }
        let mcus_x = width.div_ceil(8 * h_max);
        let mcus_y = height.div_ceil(8 * v_max);
        let components = sampling
            .into_iter()
            .map(|(id, h, v, quant)| {
                let stride = mcus_x * h;
                let side = (side(h_max, h).unwrap_or(1), side(v_max, v).unwrap_or(1));
                let mut slots = [UNUSED; 64];
                let (mut terms, mut highest) = (0, 0);
                if shrink < 8 {
                    for (k, &natural) in ZIGZAG.iter().enumerate().skip(1) {
                        if natural % 8 < side.0 && natural / 8 < side.1 {
                            slots[k] = terms as u8;
                            terms += 1;
                            highest = k;
                        }
                    }
                }
                let blocks = stride * mcus_y * v;
                Component {
                    id,
                    h,
                    v,
                    quant,
                    blocks_w: (width * h).div_ceil(h_max).div_ceil(8),
                    blocks_h: (height * v).div_ceil(v_max).div_ceil(8),
                    stride,
                    dc: vec![0; blocks],
                    has_dc: false,
                    side,
                    slots,
                    terms,
                    highest,
                    low: vec![0; blocks * terms],
                }
            })
            .collect();
        Ok(Some(Frame {
            shrink: shrink as usize,
            width,
            height,
            h_max,
            v_max,
            mcus_x,
            mcus_y,
            components,
        }))
    }

    /// Decodes a DC scan (first pass or refinement) into the components' DC values.
    fn decode_dc_scan(&mut self, scan: &Scan, tables: &Tables, data: &[u8]) -> Result<(), Error> {
        let mut bits = Bits::new(data);
        let mut predictions = vec![0i32; scan.components.len()];
        let refine = scan.approximation_high > 0;
        let shift = scan.approximation_low;
        let decode_block = |bits: &mut Bits,
                            component: &mut Component,
                            prediction: &mut i32,
                            table: Option<&Huffman>,
                            index: usize|
         -> Result<(), Error> {
            if refine {
                if bits.bit() == 1 {
                    component.dc[index] |= 1 << shift;
                }
            } else {
                let table =
                    table.ok_or_else(|| corrupt("a DC scan names a missing Huffman table"))?;
                let short = table.short[bits.peek(FAST_BITS) as usize];
                if short.taken > 0 && short.run == 0 {
                    bits.consume(u32::from(short.taken));
                    *prediction += i32::from(short.value);
                } else {
                    let size = table.decode(bits)?;
                    if size > 11 {
                        return Err(corrupt("a DC difference wider than 11 bits"));
                    }
                    *prediction += extend(bits.bits(size), size);
                }
                component.dc[index] = *prediction << shift;
            }
            Ok(())
        };
        let mut restarts = Restarts::new(tables.restart_interval);
        let mut restart =
            |bits: &mut Bits, predictions: &mut [i32], last: bool| -> Result<(), Error> {
                if restarts.after_unit(bits, last)? {
                    predictions.iter_mut().for_each(|p| *p = 0);
                }
                Ok(())
            };
        if let [only] = scan.components[..] {
            let component = &mut self.components[only];
            let table = tables.dc[scan.tables[0]].as_ref();
            let (across, down) = (component.blocks_w, component.blocks_h);
            for y in 0..down {
                for x in 0..across {
                    let index = y * component.stride + x;
                    decode_block(&mut bits, component, &mut predictions[0], table, index)?;
                    restart(
                        &mut bits,
                        &mut predictions,
                        y + 1 == down && x + 1 == across,
                    )?;
                }
            }
        } else {
            for mcu_y in 0..self.mcus_y {
                for mcu_x in 0..self.mcus_x {
                    for (slot, &c) in scan.components.iter().enumerate() {
                        let component = &mut self.components[c];
                        let table = tables.dc[scan.tables[slot]].as_ref();
                        for v in 0..component.v {
                            for h in 0..component.h {
                                let index = (mcu_y * component.v + v) * component.stride
                                    + mcu_x * component.h
                                    + h;
                                decode_block(
                                    &mut bits,
                                    component,
                                    &mut predictions[slot],
                                    table,
                                    index,
                                )?;
                            }
                        }
                    }
                    let last = mcu_y + 1 == self.mcus_y && mcu_x + 1 == self.mcus_x;
                    restart(&mut bits, &mut predictions, last)?;
                }
            }
        }
        if bits.ran_out {
            return Err(corrupt("a DC scan ends before its last block"));
        }
        for &c in &scan.components {
            self.components[c].has_dc = true;
        }
        Ok(())
    }

    /// Decodes the first scan of an AC band (one component, no earlier bits of its terms),
    /// keeping the terms its samples use; a band starting past those is not read.
    fn decode_band_scan(&mut self, scan: &Scan, tables: &Tables, data: &[u8]) -> Result<(), Error> {
        let [only] = scan.components[..] else {
            return Err(corrupt("an AC scan of several components"));
        };
        let (start, end) = (
            usize::from(scan.spectral_start),
            usize::from(scan.spectral_end),
        );
        if end > 63 || start > end {
            return Err(corrupt("an AC scan's band out of order or past 63"));
        }
        let table = tables.ac[scan.ac_tables[0]]
            .as_ref()
            .ok_or_else(|| corrupt("an AC scan names a missing Huffman table"))?;
        let shift = scan.approximation_low;
        let component = &mut self.components[only];
        if start > component.highest {
            return Ok(());
        }
        let (across, down) = (component.blocks_w, component.blocks_h);
        let mut bits = Bits::new(data);
        let mut eob_run = 0u32;
        let mut restarts = Restarts::new(tables.restart_interval);
        for y in 0..down {
            for x in 0..across {
                let index = y * component.stride + x;
                if eob_run > 0 {
                    eob_run -= 1;
                } else {
                    let mut k = start;
                    while k <= end {
                        let short = table.short[bits.peek(FAST_BITS) as usize];
                        let value = if short.taken > 0 {
                            bits.consume(u32::from(short.taken));
                            k += usize::from(short.run);
                            i32::from(short.value)
                        } else {
                            let symbol = table.decode(&mut bits)?;
                            let (run, size) = (symbol >> 4, symbol & 0x0F);
                            if size == 0 {
                                if run < 15 {
                                    // End of band here and in the next 2^run + bits - 1 blocks.
                                    eob_run = (1 << run) - 1 + bits.bits(run);
                                    break;
                                }
                                k += 16;
                                continue;
                            }
                            k += usize::from(run);
                            extend(bits.bits(size), size)
                        } << shift;
                        if let Some(&slot) = component.slots.get(k)
                            && slot != UNUSED
                        {
                            component.low[index * component.terms + usize::from(slot)] =
                                value.clamp(i16::MIN.into(), i16::MAX.into()) as i16;
                        }
                        k += 1;
                    }
                }
                if restarts.after_unit(&mut bits, y + 1 == down && x + 1 == across)? {
                    eob_run = 0;
                }
            }
        }
        if bits.ran_out {
            return Err(corrupt("an AC scan ends before its last block"));
        }
        Ok(())
    }

    /// The scaled image: each component's plane brought to the luma grid where it is coarser,
    /// then RGB, a row at a time.
    fn to_rgb(
        &self,
        tables: &Tables,
        colour: Colour,
        mut pixels: Vec<u8>,
    ) -> Result<Raster, Error> {
        let shrink = self.shrink;
        let (out_w, out_h) = (self.width.div_ceil(shrink), self.height.div_ceil(shrink));
        let planes: Vec<Plane> = self
            .components
            .iter()
            .map(|c| self.plane(c, tables, shrink, (out_w, out_h)))
            .collect::<Result<_, Error>>()?;
        let mut rows = vec![vec![0f32; out_w]; planes.len()];
        pixels.clear();
        pixels.resize(out_w * out_h * 3, 0);
        for (y, out) in pixels.chunks_exact_mut(out_w * 3).enumerate() {
            for (plane, row) in planes.iter().zip(&mut rows) {
                plane.row(y, row);
            }
            match colour {
                Colour::Grey => {
                    for (pixel, &grey) in out.chunks_exact_mut(3).zip(&rows[0]) {
                        pixel.fill(to_u8(grey));
                    }
                }
                Colour::YCbCr => {
                    let samples = rows[0].iter().zip(&rows[1]).zip(&rows[2]);
                    for (pixel, ((&luma, &cb), &cr)) in out.chunks_exact_mut(3).zip(samples) {
                        let (cb, cr) = (cb - 128.0, cr - 128.0);
                        pixel[0] = to_u8(luma + 1.402 * cr);
                        pixel[1] = to_u8(luma - 0.344_136 * cb - 0.714_136 * cr);
                        pixel[2] = to_u8(luma + 1.772 * cb);
                    }
                }
            }
        }
        Ok(Raster::from_parts(
            out_w as u32,
            out_h as u32,
            PixelLayout::Rgb8,
            pixels,
        ))
    }

    /// One component's samples: per block its DC term (1/8), or at 1/4 the averages of its cells
    /// (quarters, or sixteenths of a subsampled component's block) from its kept terms; with
    /// where each output pixel takes them from.
    fn plane(
        &self,
        c: &Component,
        tables: &Tables,
        shrink: usize,
        (out_w, out_h): (usize, usize),
    ) -> Result<Plane, Error> {
        let quant = tables.quant[c.quant]
            .ok_or_else(|| corrupt("a component names a missing quantisation table"))?;
        let (side_x, side_y) = c.side;
        let (width, height) = (c.blocks_w * side_x, c.blocks_h * side_y);
        let (across, down) = (cell_weights(side_x), cell_weights(side_y));
        // Each kept term's weight in each cell's average, dequantised.
        let kept: Vec<(usize, [f32; 64])> = (1..64)
            .filter(|&k| c.slots[k] != UNUSED)
            .map(|k| {
                let (u, v) = (ZIGZAG[k] % 8, ZIGZAG[k] / 8);
                let mut weights = [0f32; 64];
                for j in 0..side_y {
                    for i in 0..side_x {
                        weights[j * side_x + i] =
                            f32::from(quant[k]) * across[i * side_x + u] * down[j * side_y + v];
                    }
                }
                (usize::from(c.slots[k]), weights)
            })
            .collect();
        let mut samples = vec![0u8; width * height];
        let mut cells = [0f32; 64];
        let cells = &mut cells[..side_x * side_y];
        for by in 0..c.blocks_h {
            for bx in 0..c.blocks_w {
                let block = by * c.stride + bx;
                let dc = c.dc[block] * i32::from(quant[0]);
                if c.terms == 0 {
                    // 1/8: the DC term alone, rounded as libjpeg's 1x1 IDCT does.
                    let value = ((dc + 4) >> 3) + 128;
                    samples[by * width + bx] = value.clamp(0, 255) as u8;
                    continue;
                }
                cells.fill(dc as f32 / 8.0 + 128.0);
                let terms = &c.low[block * c.terms..(block + 1) * c.terms];
                for (slot, weights) in &kept {
                    let term = terms[*slot];
                    if term != 0 {
                        for (cell, weight) in cells.iter_mut().zip(weights) {
                            *cell += f32::from(term) * weight;
                        }
                    }
                }
                for (j, cells) in cells.chunks_exact(side_x).enumerate() {
                    let row = (by * side_y + j) * width + bx * side_x;
                    for (sample, &cell) in samples[row..row + side_x].iter_mut().zip(cells) {
                        *sample = to_u8(cell);
                    }
                }
            }
        }
        // Relative to the output grid: 1 where the samples are at its resolution. Where the
        // component is subsampled both ways (4:2:0), bilinear between sample centres, which comes
        // closest to libjpeg's 1/8 decode there (a 2x2 IDCT of each chroma block, from its first
        // AC terms, which the DC scans lack); subsampled one way only (4:2:2), replicated, as
        // libjpeg does at 1/8.
        let out_side = 8 / shrink;
        let scale_x = (c.h * side_x) as f32 / (self.h_max * out_side) as f32;
        let scale_y = (c.v * side_y) as f32 / (self.v_max * out_side) as f32;
        let bilinear = scale_x != 1.0 && scale_y != 1.0;
        Ok(Plane {
            width,
            nearest: !bilinear,
            columns: taps(out_w, scale_x, width, bilinear),
            lines: taps(out_h, scale_y, height, bilinear),
            samples,
        })
    }
}

/// A sample value rounded into a byte.
fn to_u8(value: f32) -> u8 {
    (value.clamp(0.0, 255.0) + 0.5) as u8
}

/// For a block split into `side` cells each way: the weight of frequency `u` (below `side`) in
/// the average of cell `i`, at `[i * side + u]`. That is the mean of the IDCT's basis function over
/// the cell's pixels, with its scale factor (1/2, and 1/sqrt 2 more for frequency 0); the DC
/// term's product of two is 1/8.
fn cell_weights(side: usize) -> Vec<f32> {
    let width = 8 / side;
    let mut weights = vec![0.0; side * side];
    for i in 0..side {
        for u in 0..side {
            let mean = (i * width..(i + 1) * width)
                .map(|n| ((2 * n + 1) as f32 * u as f32 * std::f32::consts::PI / 16.0).cos())
                .sum::<f32>()
                / width as f32;
            let scale = if u == 0 {
                std::f32::consts::FRAC_1_SQRT_2 / 2.0
            } else {
                0.5
            };
            weights[i * side + u] = mean * scale;
        }
    }
    weights
}

#[derive(Clone, Copy)]
enum Colour {
    Grey,
    YCbCr,
}

/// One component's scaled samples, and where each output pixel takes them from.
struct Plane {
    width: usize,
    /// Whether each output pixel is one sample (no tap interpolates).
    nearest: bool,
    samples: Vec<u8>,
    /// For each output column, and each output row: the samples it is made of.
    columns: Vec<Tap>,
    lines: Vec<Tap>,
}

impl Plane {
    /// The plane along output row `y`.
    fn row(&self, y: usize, row: &mut [f32]) {
        let line = self.lines[y];
        let upper = &self.samples[line.low * self.width..][..self.width];
        if self.nearest {
            for (out, column) in row.iter_mut().zip(&self.columns) {
                *out = f32::from(upper[column.low]);
            }
            return;
        }
        let lower = &self.samples[line.high * self.width..][..self.width];
        for (out, column) in row.iter_mut().zip(&self.columns) {
            let top = column.mix(upper);
            let bottom = column.mix(lower);
            *out = top * (1.0 - line.high_weight) + bottom * line.high_weight;
        }
    }
}

/// An output pixel's samples along one axis: two neighbours and the weight of the second (the
/// same sample twice, weight 0, where it is not interpolated).
#[derive(Clone, Copy)]
struct Tap {
    low: usize,
    high: usize,
    high_weight: f32,
}

impl Tap {
    fn mix(self, samples: &[u8]) -> f32 {
        f32::from(samples[self.low]) * (1.0 - self.high_weight)
            + f32::from(samples[self.high]) * self.high_weight
    }
}

/// The taps of `out` output pixels over `size` samples, `scale` samples an output pixel: between
/// sample centres, or the sample each pixel starts in.
fn taps(out: usize, scale: f32, size: usize, bilinear: bool) -> Vec<Tap> {
    (0..out)
        .map(|o| {
            if bilinear {
                let at = ((o as f32 + 0.5) * scale - 0.5).clamp(0.0, (size - 1) as f32);
                let low = at.floor() as usize;
                Tap {
                    low,
                    high: (low + 1).min(size - 1),
                    high_weight: at - low as f32,
                }
            } else {
                let low = ((o as f32 * scale) as usize).min(size - 1);
                Tap {
                    low,
                    high: low,
                    high_weight: 0.0,
                }
            }
        })
        .collect()
}

/// A scan's header, resolved against the frame.
struct Scan {
    /// Indices into the frame's components.
    components: Vec<usize>,
    /// The DC table of each, and the AC table.
    tables: Vec<usize>,
    ac_tables: Vec<usize>,
    spectral_start: u8,
    spectral_end: u8,
    approximation_high: u8,
    approximation_low: u8,
}

impl Scan {
    fn parse(segment: &[u8], frame: &Frame) -> Result<Scan, Error> {
        let short = || corrupt("short scan header");
        let count = usize::from(*segment.first().ok_or_else(short)?);
        let specs = segment.get(1..1 + 2 * count).ok_or_else(short)?;
        let tail = segment
            .get(1 + 2 * count..4 + 2 * count)
            .ok_or_else(short)?;
        let mut components = Vec::with_capacity(count);
        let mut tables = Vec::with_capacity(count);
        let mut ac_tables = Vec::with_capacity(count);
        for spec in specs.chunks_exact(2) {
            let index = frame
                .components
                .iter()
                .position(|c| c.id == spec[0])
                .ok_or_else(|| corrupt("a scan names a component the frame lacks"))?;
            components.push(index);
            tables.push(usize::from(spec[1] >> 4).min(3));
            ac_tables.push(usize::from(spec[1] & 0x0F).min(3));
        }
        if components.is_empty() {
            return Err(corrupt("a scan of no component"));
        }
        let (spectral_start, spectral_end) = (tail[0], tail[1]);
        if spectral_start == 0 && spectral_end != 0 {
            return Err(corrupt("a progressive scan mixing DC and AC coefficients"));
        }
        let (approximation_high, approximation_low) = (tail[2] >> 4, tail[2] & 0x0F);
        if approximation_low > 13 {
            return Err(corrupt("a successive-approximation shift past 13"));
        }
        Ok(Scan {
            components,
            tables,
            ac_tables,
            spectral_start,
            spectral_end,
            approximation_high,
            approximation_low,
        })
    }
}

/// A DC difference or AC term from its `size` bits (JPEG's EXTEND).
fn extend(value: u32, size: u8) -> i32 {
    if size == 0 {
        return 0;
    }
    let value = value as i32;
    if value < 1 << (size - 1) {
        value - (1 << size) + 1
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use mozjpeg::{ColorSpace, Compress, Decompress};

    use super::*;

    /// A photo-like RGB image: gradients, a disc, waves and a fine texture.
    fn photo(width: usize, height: usize) -> Vec<u8> {
        (0..height)
            .flat_map(|y| (0..width).map(move |x| (x as f32, y as f32)))
            .flat_map(|(x, y)| {
                let texture = ((x as u32 * 7919 + y as u32 * 104_729) % 31) as f32 - 15.0;
                let disc = (x - 200.0).powi(2) + (y - 110.0).powi(2) < 3600.0;
                let rgb = if disc {
                    [230.0, 200.0 - (x - 200.0), 40.0]
                } else {
                    [
                        120.0 + 100.0 * (x / 37.0).sin() * (y / 53.0).cos(),
                        40.0 + 180.0 * y / height as f32,
                        200.0 - 150.0 * x / width as f32,
                    ]
                };
                rgb.map(|v| (v + texture).clamp(0.0, 255.0) as u8)
            })
            .collect()
    }

    struct Encoding {
        grey: bool,
        chroma: (u8, u8),
        optimize_scans: bool,
    }

    /// A progressive JPEG by libjpeg-turbo's encoder (through `mozjpeg`).
    fn encode(width: usize, height: usize, encoding: &Encoding) -> Vec<u8> {
        let rgb = photo(width, height);
        let (space, pixels) = if encoding.grey {
            let grey = rgb.chunks(3).map(|p| p[1]).collect();
            (ColorSpace::JCS_GRAYSCALE, grey)
        } else {
            (ColorSpace::JCS_RGB, rgb)
        };
        let mut compress = Compress::new(space);
        compress.set_size(width, height);
        compress.set_quality(85.0);
        // In this order: turning scan optimisation off drops the scan script.
        compress.set_optimize_scans(encoding.optimize_scans);
        compress.set_progressive_mode();
        if !encoding.grey {
            compress.set_chroma_sampling_pixel_sizes(encoding.chroma, encoding.chroma);
        }
        let mut started = compress.start_compress(Vec::new()).unwrap();
        started.write_scanlines(&pixels).unwrap();
        started.finish().unwrap()
    }

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let squared: f64 = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum();
        10.0 * (255.0f64.powi(2) / (squared / a.len() as f64).max(1e-9)).log10()
    }

    /// A binary PPM (P6) or PGM (P5) with 8-bit samples, as djpeg writes it: (width, height, RGB).
    fn netpbm_rgb(file: &[u8]) -> (usize, usize, Vec<u8>) {
        let mut fields = Vec::new();
        let mut at = 0;
        while fields.len() < 4 {
            while file[at].is_ascii_whitespace() {
                at += 1;
            }
            let start = at;
            while !file[at].is_ascii_whitespace() {
                at += 1;
            }
            fields.push(std::str::from_utf8(&file[start..at]).unwrap().to_owned());
        }
        let pixels = &file[at + 1..];
        let (width, height) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
        let rgb = match fields[0].as_str() {
            "P6" => pixels.to_vec(),
            "P5" => pixels.iter().flat_map(|&g| [g, g, g]).collect(),
            other => panic!("not a binary PPM or PGM: {other}"),
        };
        (width, height, rgb)
    }

    fn dc(jpeg: &[u8]) -> Raster {
        scaled(jpeg, 8)
    }

    fn scaled(jpeg: &[u8], shrink: u32) -> Raster {
        decode_scaled(jpeg, shrink, &mut Vec::new())
            .expect("decodes")
            .expect("a progressive file")
    }

    /// libjpeg's own decode at 1/`shrink`: (width, height, RGB).
    fn libjpeg_scaled(jpeg: &[u8], shrink: u32) -> (usize, usize, Vec<u8>) {
        let mut decompress = Decompress::new_mem(jpeg).unwrap();
        decompress.scale((8 / shrink) as u8);
        let mut started = decompress.rgb().unwrap();
        let (width, height) = (started.width(), started.height());
        let pixels: Vec<u8> = started.read_scanlines().unwrap();
        (width, height, pixels)
    }

    /// The subsamplings and scan scripts the reduced scales are compared on, at 35 dB.
    const LOW_BAND_CASES: [Case; 5] = [
        ("4:4:4", false, (1, 1), false, 35.0),
        ("grey", true, (1, 1), false, 35.0),
        ("4:2:2", false, (2, 1), false, 35.0),
        ("4:2:0", false, (2, 2), false, 35.0),
        ("4:2:0, optimised scans", false, (2, 2), true, 35.0),
    ];

    #[test]
    fn the_low_bands_give_close_to_what_libjpeg_gives_at_one_quarter() {
        // libjpeg's 1/4 decode is a reduced IDCT of each block, from its terms at full precision;
        // ours averages each cell from the DC and lowest AC terms, at their first scans'
        // precision (and skips the terms of luma bands past the first).
        against_libjpeg(4, &LOW_BAND_CASES);
    }

    #[test]
    fn the_first_scans_give_close_to_what_libjpeg_gives_at_one_half() {
        // At 1/2 every band is read (the 4x4 cells of a block use terms up to zig-zag 24, which
        // the usual scripts send in bands to 63), refinement scans still not.
        against_libjpeg(2, &LOW_BAND_CASES);
    }

    /// A comparison with libjpeg: name, grey, chroma subsampling, optimised scans, floor in dB.
    type Case<'a> = (&'a str, bool, (u8, u8), bool, f64);

    /// For each case and a few sizes: our decode at 1/`shrink` is libjpeg's size, and at least `floor` dB from its pixels
    /// (at the smallest size only where the floor is 60: a 3x2 result of 4:2:0 chroma is a handful
    /// of blocks, no measure of anything).
    fn against_libjpeg(shrink: u32, cases: &[Case]) {
        for &(name, grey, chroma, optimize_scans, floor) in cases {
            for (width, height) in [(333, 250), (640, 480), (17, 9)] {
                let encoding = Encoding {
                    grey,
                    chroma,
                    optimize_scans,
                };
                let jpeg = encode(width, height, &encoding);
                let ours = scaled(&jpeg, shrink);
                let (w, h, theirs) = libjpeg_scaled(&jpeg, shrink);
                let size = (ours.width() as usize, ours.height() as usize);
                assert_eq!(size, (w, h), "{name} {width}x{height}");
                let quality = psnr(ours.pixels(), &theirs);
                eprintln!("1/{shrink} {name} {width}x{height}: {quality:.1} dB");
                if floor == 60.0 || width > 100 {
                    assert!(quality >= floor, "{name} {width}x{height}: {quality:.1} dB");
                }
            }
        }
    }

    #[test]
    fn the_dc_scans_give_what_libjpeg_gives_at_one_eighth() {
        // Without chroma subsampling, and subsampled one way, libjpeg's 1/8 decode is the DC
        // terms themselves: the same pixels. In 4:2:0 it takes each chroma block's first AC terms
        // too (a 2x2 IDCT), which the DC scans lack: close, not equal. (On the dev corpus' three
        // progressive photos, 43-54 dB: docs/performance.md.)
        against_libjpeg(
            8,
            &[
                ("4:4:4", false, (1, 1), false, 60.0),
                ("grey", true, (1, 1), false, 60.0),
                ("4:2:2", false, (2, 1), false, 60.0),
                ("4:2:0", false, (2, 2), false, 32.0),
                // mozjpeg's scan optimisation splits the DC scan per component.
                ("4:2:0, optimised scans", false, (2, 2), true, 32.0),
            ],
        );
    }

    #[test]
    fn restart_markers_are_followed() {
        // Made by cjpeg (-restart 5B and 2B), with djpeg -scale 1/8 decodes beside them.
        for (jpeg, reference) in [
            (
                &include_bytes!("../../../../tests/fixtures/jpeg/progressive-restart.jpg")[..],
                &include_bytes!("../../../../tests/fixtures/jpeg/progressive-restart.eighth.ppm")[..],
            ),
            (
                &include_bytes!("../../../../tests/fixtures/jpeg/progressive-gray-restart.jpg")[..],
                &include_bytes!(
                    "../../../../tests/fixtures/jpeg/progressive-gray-restart.eighth.pgm"
                )[..],
            ),
        ] {
            let ours = dc(jpeg);
            let (width, height, reference) = netpbm_rgb(reference);
            assert_eq!(
                (ours.width() as usize, ours.height() as usize),
                (width, height)
            );
            let quality = psnr(ours.pixels(), &reference);
            assert!(quality >= 32.0, "{quality:.1} dB");
        }
    }

    #[test]
    fn baseline_files_are_left_to_libjpeg() {
        let mut compress = Compress::new(ColorSpace::JCS_RGB);
        // libjpeg's defaults: baseline (mozjpeg's own are progressive).
        compress.set_fastest_defaults();
        compress.set_size(64, 48);
        let mut started = compress.start_compress(Vec::new()).unwrap();
        started.write_scanlines(&photo(64, 48)).unwrap();
        let baseline = started.finish().unwrap();
        assert!(
            decode_scaled(&baseline, 8, &mut Vec::new())
                .unwrap()
                .is_none()
        );
        for shrink in [4, 2] {
            assert!(
                decode_scaled(&baseline, shrink, &mut Vec::new())
                    .unwrap()
                    .is_none()
            );
        }
    }

    #[test]
    fn a_dc_scan_cut_short_is_corrupt_and_damage_never_panics() {
        let jpeg = encode(
            333,
            250,
            &Encoding {
                grey: false,
                chroma: (2, 2),
                optimize_scans: false,
            },
        );
        let first_scan = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let cut = [&jpeg[..first_scan + 200], &[0xFF, 0xD9][..]].concat();
        assert!(matches!(
            decode_scaled(&cut, 8, &mut Vec::new()),
            Err(Error::Corrupt { .. })
        ));
        // Every single flipped byte, and every cut: an answer, never a panic.
        for at in (0..jpeg.len()).step_by(7) {
            let mut damaged = jpeg.clone();
            damaged[at] ^= 0x5A;
            for shrink in [8, 4, 2] {
                let _ = decode_scaled(&damaged, shrink, &mut Vec::new());
                let _ = decode_scaled(&jpeg[..at], shrink, &mut Vec::new());
            }
        }
    }
}
