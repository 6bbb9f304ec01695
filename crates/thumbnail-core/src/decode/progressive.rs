//! Progressive JPEGs at 1/8 scale from their DC coefficients alone.
//!
//! A progressive JPEG sends the DC coefficient of every 8x8 block in its first scan (or first few,
//! with successive approximation), then the AC coefficients band by band. At 1/8 scale a block
//! becomes one pixel, whose value is the block's DC term: `(DC x quant + 4) >> 3`, plus 128. So the
//! DC scans are all a 1/8 decode needs; every later scan is skipped by searching its entropy-coded
//! data for the next marker, never decoded. Memory is one value per block, where libjpeg keeps the
//! whole image's coefficients (64 per block) until its last scan has arrived.
//!
//! What this path does not take (baseline or lossless frames, arithmetic coding, 12-bit samples,
//! CMYK or Adobe RGB, a DNL marker) it hands back to libjpeg by returning `None`. A DC scan that
//! ends early, or a component no DC scan covers, is corrupt. A file cut inside a later (AC) scan
//! is not noticed: what a 1/8 thumbnail needs of it is whole.

use crate::raster::{PixelLayout, Raster};
use crate::{Error, ImageFormat};

/// The image at 1/8 scale (`ceil(width / 8)` by `ceil(height / 8)`, as libjpeg scales), in RGB,
/// written into `pixels` (taken); `None` when the file is not one this path decodes.
pub(super) fn decode_dc(input: &[u8], pixels: &mut Vec<u8>) -> Result<Option<Raster>, Error> {
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
                match Frame::parse(segment)? {
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
                if scan.spectral_start == 0 {
                    let data = &input[parser.pos..entropy_end];
                    frame.decode_dc_scan(&scan, &tables, data)?;
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
            match self.data[at..].iter().position(|&b| b == 0xFF) {
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

/// The DC Huffman tables (AC tables are parsed past, never used), quantisation tables' DC terms
/// and the restart interval.
#[derive(Default)]
struct Tables {
    dc: [Option<Huffman>; 4],
    quant_dc: [Option<u16>; 4],
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
            if class == 0 {
                self.dc[id] = Some(Huffman::new(&counts, values)?);
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
            // The first value, in zig-zag order, is the DC term's.
            self.quant_dc[id] = Some(match precision {
                0 => u16::from(table[0]),
                _ => u16::from_be_bytes([table[0], table[1]]),
            });
            segment = &rest[size..];
        }
        Ok(())
    }
}

/// A canonical Huffman code, decoded a bit at a time (DC scans hold one symbol a block, so
/// there is little to gain from lookup tables).
struct Huffman {
    /// For each code length 1 to 16: the largest code of that length (-1 when none), and the
    /// index in `values` of its first code, less that code.
    max_code: [i32; 17],
    offset: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8; 16], values: &[u8]) -> Result<Self, Error> {
        let mut max_code = [-1; 17];
        let mut offset = [0; 17];
        let (mut code, mut index) = (0i32, 0i32);
        for length in 1..=16 {
            let count = i32::from(counts[length - 1]);
            offset[length] = index - code;
            code += count;
            index += count;
            if count > 0 {
                max_code[length] = code - 1;
            }
            if code > 1 << length {
                return Err(corrupt("a Huffman table with more codes than fit"));
            }
            code <<= 1;
        }
        Ok(Huffman {
            max_code,
            offset,
            values: values.to_vec(),
        })
    }

    fn decode(&self, bits: &mut Bits) -> Result<u8, Error> {
        let mut code = 0i32;
        for length in 1..=16 {
            code = (code << 1) | bits.bit() as i32;
            if code <= self.max_code[length] {
                return Ok(self.values[(code + self.offset[length]) as usize]);
            }
        }
        Err(corrupt("an entropy-coded symbol no Huffman table has"))
    }
}

/// Bits of one scan's entropy-coded data, stuffed zero bytes removed.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    byte: u8,
    left: u8,
    /// Set when the data ran out (at a marker, or its end) and zeros were fed instead.
    ran_out: bool,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits {
            data,
            pos: 0,
            byte: 0,
            left: 0,
            ran_out: false,
        }
    }

    fn bit(&mut self) -> u32 {
        if self.left == 0 {
            self.byte = match self.data.get(self.pos) {
                Some(0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                    self.pos += 2;
                    0xFF
                }
                Some(0xFF) | None => {
                    self.ran_out = true;
                    0
                }
                Some(&byte) => {
                    self.pos += 1;
                    byte
                }
            };
            self.left = 8;
        }
        self.left -= 1;
        u32::from(self.byte >> self.left) & 1
    }

    fn bits(&mut self, count: u8) -> u32 {
        (0..count).fold(0, |value, _| (value << 1) | self.bit())
    }

    /// Moves past a restart marker, which must come next (after the bits of this byte).
    fn restart(&mut self) -> Result<(), Error> {
        self.left = 0;
        match self.data.get(self.pos..self.pos + 2) {
            Some([0xFF, 0xD0..=0xD7]) => {
                self.pos += 2;
                Ok(())
            }
            _ => Err(corrupt("a restart marker missing in a DC scan")),
        }
    }
}

/// A component of the frame, and the DC coefficients decoded for it so far.
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
}

struct Frame {
    width: usize,
    height: usize,
    h_max: usize,
    v_max: usize,
    mcus_x: usize,
    mcus_y: usize,
    components: Vec<Component>,
}

impl Frame {
    /// A progressive frame header; `None` for one this path does not decode (not 8-bit).
    fn parse(segment: &[u8]) -> Result<Option<Frame>, Error> {
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
        let mcus_x = width.div_ceil(8 * h_max);
        let mcus_y = height.div_ceil(8 * v_max);
        let components = sampling
            .into_iter()
            .map(|(id, h, v, quant)| {
                let stride = mcus_x * h;
                Component {
                    id,
                    h,
                    v,
                    quant,
                    blocks_w: (width * h).div_ceil(h_max).div_ceil(8),
                    blocks_h: (height * v).div_ceil(v_max).div_ceil(8),
                    stride,
                    dc: vec![0; stride * mcus_y * v],
                    has_dc: false,
                }
            })
            .collect();
        Ok(Some(Frame {
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
                let size = table.decode(bits)?;
                if size > 11 {
                    return Err(corrupt("a DC difference wider than 11 bits"));
                }
                *prediction += extend(bits.bits(size), size);
                component.dc[index] = *prediction << shift;
            }
            Ok(())
        };
        let interval = tables.restart_interval;
        let mut since_restart = 0;
        let mut restart =
            |bits: &mut Bits, predictions: &mut [i32], last: bool| -> Result<(), Error> {
                since_restart += 1;
                if interval > 0 && since_restart == interval && !last {
                    bits.restart()?;
                    predictions.iter_mut().for_each(|p| *p = 0);
                    since_restart = 0;
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

    /// The 1/8-scale image: each block's DC term as a sample, chroma upsampled (bilinear) to
    /// the luma grid, then converted to RGB.
    fn to_rgb(
        &self,
        tables: &Tables,
        colour: Colour,
        mut pixels: Vec<u8>,
    ) -> Result<Raster, Error> {
        let (out_w, out_h) = (self.width.div_ceil(8), self.height.div_ceil(8));
        let planes: Vec<Plane> = self
            .components
            .iter()
            .map(|c| {
                let quant = tables.quant_dc[c.quant]
                    .ok_or_else(|| corrupt("a component names a missing quantisation table"))?;
                let samples = (0..c.blocks_h)
                    .flat_map(|y| (0..c.blocks_w).map(move |x| (x, y)))
                    .map(|(x, y)| {
                        let value = ((c.dc[y * c.stride + x] * i32::from(quant) + 4) >> 3) + 128;
                        value.clamp(0, 255) as u8
                    })
                    .collect();
                Ok(Plane {
                    width: c.blocks_w,
                    height: c.blocks_h,
                    samples,
                    scale_x: c.h as f32 / self.h_max as f32,
                    scale_y: c.v as f32 / self.v_max as f32,
                })
            })
            .collect::<Result<_, Error>>()?;
        pixels.clear();
        pixels.reserve(out_w * out_h * 3);
        for y in 0..out_h {
            for x in 0..out_w {
                match colour {
                    Colour::Grey => {
                        let grey = planes[0].at(x, y);
                        pixels.extend([grey; 3].map(|g| g.round() as u8));
                    }
                    Colour::YCbCr => {
                        let (luma, cb, cr) = (
                            planes[0].at(x, y),
                            planes[1].at(x, y) - 128.0,
                            planes[2].at(x, y) - 128.0,
                        );
                        let rgb = [
                            luma + 1.402 * cr,
                            luma - 0.344_136 * cb - 0.714_136 * cr,
                            luma + 1.772 * cb,
                        ];
                        pixels.extend(rgb.map(|v| v.round().clamp(0.0, 255.0) as u8));
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
}

#[derive(Clone, Copy)]
enum Colour {
    Grey,
    YCbCr,
}

/// One component's 1/8-scale samples, and its size relative to the output grid.
struct Plane {
    width: usize,
    height: usize,
    samples: Vec<u8>,
    scale_x: f32,
    scale_y: f32,
}

impl Plane {
    /// The sample at output pixel (x, y). Where the component is subsampled both ways (4:2:0),
    /// bilinear between sample centres, which comes closest to libjpeg's 1/8 decode there (a
    /// 2x2 IDCT of each chroma block, from its first AC terms, which the DC scans lack);
    /// subsampled one way only (4:2:2), replicated, as libjpeg does at 1/8.
    fn at(&self, x: usize, y: usize) -> f32 {
        let sample = |x: usize, y: usize| f32::from(self.samples[y * self.width + x]);
        if self.scale_x == 1.0 || self.scale_y == 1.0 {
            let x = ((x as f32 * self.scale_x) as usize).min(self.width - 1);
            let y = ((y as f32 * self.scale_y) as usize).min(self.height - 1);
            return sample(x, y);
        }
        let position = |out: usize, scale: f32, size: usize| {
            let at = ((out as f32 + 0.5) * scale - 0.5).clamp(0.0, (size - 1) as f32);
            let low = at.floor() as usize;
            (low, (low + 1).min(size - 1), at - low as f32)
        };
        let (x0, x1, fx) = position(x, self.scale_x, self.width);
        let (y0, y1, fy) = position(y, self.scale_y, self.height);
        let top = sample(x0, y0) * (1.0 - fx) + sample(x1, y0) * fx;
        let bottom = sample(x0, y1) * (1.0 - fx) + sample(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// A scan's header, resolved against the frame.
struct Scan {
    /// Indices into the frame's components.
    components: Vec<usize>,
    /// The DC table of each.
    tables: Vec<usize>,
    spectral_start: u8,
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
        for spec in specs.chunks_exact(2) {
            let index = frame
                .components
                .iter()
                .position(|c| c.id == spec[0])
                .ok_or_else(|| corrupt("a scan names a component the frame lacks"))?;
            components.push(index);
            tables.push(usize::from(spec[1] >> 4).min(3));
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
            spectral_start,
            approximation_high,
            approximation_low,
        })
    }
}

/// A DC difference from its `size` bits (JPEG's EXTEND).
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

    /// libjpeg's own decode at 1/8: (width, height, RGB).
    fn libjpeg_eighth(jpeg: &[u8]) -> (usize, usize, Vec<u8>) {
        let mut decompress = Decompress::new_mem(jpeg).unwrap();
        decompress.scale(1);
        let mut started = decompress.rgb().unwrap();
        let (width, height) = (started.width(), started.height());
        let pixels: Vec<u8> = started.read_scanlines().unwrap();
        (width, height, pixels)
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
        decode_dc(jpeg, &mut Vec::new())
            .expect("decodes")
            .expect("a progressive file")
    }

    #[test]
    fn the_dc_scans_give_what_libjpeg_gives_at_one_eighth() {
        // Without chroma subsampling, and subsampled one way, libjpeg's 1/8 decode is the DC
        // terms themselves: the same pixels. In 4:2:0 it takes each chroma block's first AC terms
        // too (a 2x2 IDCT), which the DC scans lack: close, not equal. (On the dev corpus' three
        // progressive photos, 43-54 dB: docs/performance.md.)
        let cases = [
            ("4:4:4", false, (1, 1), false, 60.0),
            ("grey", true, (1, 1), false, 60.0),
            ("4:2:2", false, (2, 1), false, 60.0),
            ("4:2:0", false, (2, 2), false, 32.0),
            // mozjpeg's scan optimisation splits the DC scan per component.
            ("4:2:0, optimised scans", false, (2, 2), true, 32.0),
        ];
        for (name, grey, chroma, optimize_scans, floor) in cases {
            for (width, height) in [(333, 250), (640, 480), (17, 9)] {
                let encoding = Encoding {
                    grey,
                    chroma,
                    optimize_scans,
                };
                let jpeg = encode(width, height, &encoding);
                let ours = dc(&jpeg);
                let (w, h, theirs) = libjpeg_eighth(&jpeg);
                let size = (ours.width() as usize, ours.height() as usize);
                assert_eq!(size, (w, h), "{name} {width}x{height}");
                let quality = psnr(ours.pixels(), &theirs);
                eprintln!("{name} {width}x{height}: {quality:.1} dB");
                // A 3x2 result of 4:2:0 chroma is a handful of blocks: no measure of anything.
                if floor == 60.0 || width > 100 {
                    assert!(quality >= floor, "{name} {width}x{height}: {quality:.1} dB");
                }
            }
        }
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
        assert!(decode_dc(&baseline, &mut Vec::new()).unwrap().is_none());
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
            decode_dc(&cut, &mut Vec::new()),
            Err(Error::Corrupt { .. })
        ));
        // Every single flipped byte, and every cut: an answer, never a panic.
        for at in (0..jpeg.len()).step_by(7) {
            let mut damaged = jpeg.clone();
            damaged[at] ^= 0x5A;
            let _ = decode_dc(&damaged, &mut Vec::new());
            let _ = decode_dc(&jpeg[..at], &mut Vec::new());
        }
    }
}
