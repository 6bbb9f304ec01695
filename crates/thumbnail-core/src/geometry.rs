//! Where to crop and what size to make, for a spec and a source size.

use crate::{Fit, ThumbnailSpec};

/// A window in source pixels; fractional, so the crop keeps the exact aspect ratio of the output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Window {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// The source window to resample and the output size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Plan {
    pub window: Window,
    pub width: u32,
    pub height: u32,
}

impl Plan {
    /// How many times the window could shrink before it would be smaller than the output.
    pub fn room(&self) -> f64 {
        (self.window.width / f64::from(self.width)).min(self.window.height / f64::from(self.height))
    }
}

/// Plans `spec` on a `src_width` x `src_height` image; `anchor` places a cover crop (0 = left/top, 1 = right/bottom).
pub(crate) fn plan(
    src_width: u32,
    src_height: u32,
    spec: &ThumbnailSpec,
    anchor: (f64, f64),
) -> Plan {
    let (sw, sh) = (f64::from(src_width), f64::from(src_height));
    let box_w = spec.size.width().map(f64::from);
    let box_h = spec.size.height().map(f64::from);
    let only_shrink = spec.size.only_shrink();
    let full = Window {
        x: 0.0,
        y: 0.0,
        width: sw,
        height: sh,
    };
    let side = |v: f64| v.round().max(1.0) as u32;
    match (spec.fit, box_w, box_h) {
        (Fit::Cover, Some(bw), Some(bh)) => {
            let mut scale = (bw / sw).max(bh / sh);
            if only_shrink {
                scale = scale.min(1.0);
            }
            let (out_w, out_h) = (side(bw.min(sw * scale)), side(bh.min(sh * scale)));
            let (cw, ch) = (
                (f64::from(out_w) / scale).min(sw),
                (f64::from(out_h) / scale).min(sh),
            );
            Plan {
                window: Window {
                    x: (sw - cw) * anchor.0,
                    y: (sh - ch) * anchor.1,
                    width: cw,
                    height: ch,
                },
                width: out_w,
                height: out_h,
            }
        }
        (Fit::Fill, Some(bw), Some(bh)) => {
            let (bw, bh) = if only_shrink {
                (bw.min(sw), bh.min(sh))
            } else {
                (bw, bh)
            };
            Plan {
                window: full,
                width: side(bw),
                height: side(bh),
            }
        }
        // Contain, and any fit with one free side: keep the aspect ratio inside the given sides.
        _ => {
            let scales = [box_w.map(|b| b / sw), box_h.map(|b| b / sh)];
            let mut scale = scales.into_iter().flatten().fold(f64::INFINITY, f64::min);
            if only_shrink {
                scale = scale.min(1.0);
            }
            Plan {
                window: full,
                width: side(sw * scale),
                height: side(sh * scale),
            }
        }
    }
}

/// [`plan`] made on the `original` size, its window carried over to `level`, the image shrunk
/// on load or halved (whose sides were rounded): the output size is the original's own at every
/// scale and from every decoder, as vipsthumbnail's is. (Planned on the level, a 1600x1067 JPEG
/// decoded at 1/8, 200x134, would come out 200x134 where a TIFF comes out 200x133.)
pub(crate) fn plan_on(
    level: (u32, u32),
    original: (u32, u32),
    spec: &ThumbnailSpec,
    anchor: (f64, f64),
) -> Plan {
    let on_original = plan(original.0, original.1, spec, anchor);
    let (lw, lh) = (f64::from(level.0), f64::from(level.1));
    let (sx, sy) = (lw / f64::from(original.0), lh / f64::from(original.1));
    let w = on_original.window;
    let (x, y) = ((w.x * sx).min(lw), (w.y * sy).min(lh));
    Plan {
        window: Window {
            x,
            y,
            width: (w.width * sx).min(lw - x),
            height: (w.height * sy).min(lh - y),
        },
        ..on_original
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Size;

    fn spec(size: &str, fit: Fit) -> ThumbnailSpec {
        ThumbnailSpec::new("t", size.parse::<Size>().unwrap()).with_fit(fit)
    }

    const CENTRE: (f64, f64) = (0.5, 0.5);

    #[test]
    fn a_level_gets_the_original_size_and_the_window_scaled_to_it() {
        let s200 = spec("200x200", Fit::Contain);
        // 1600x1067 decoded at 1/8: 200x134 (rounded up), planned as the original: 200x133.
        let p = plan_on((200, 134), (1600, 1067), &s200, (0.5, 0.5));
        assert_eq!((p.width, p.height), (200, 133));
        assert_eq!((p.window.width, p.window.height), (200.0, 134.0));
        let c = plan_on(
            (400, 267),
            (1600, 1067),
            &spec("100x100", Fit::Cover),
            (1.0, 0.5),
        );
        assert_eq!((c.width, c.height), (100, 100));
        // The original's 1067x1067 crop at the right, scaled by 1/4 and 267/1067.
        assert!((c.window.width - 1067.0 / 4.0).abs() < 1e-9, "{c:?}");
        assert!((c.window.x + c.window.width - 400.0).abs() < 1e-9, "{c:?}");
        assert!((c.window.height - 267.0).abs() < 1e-9, "{c:?}");
    }

    #[test]
    fn cover_fills_box_and_crops_centre() {
        let p = plan(6000, 4000, &spec("256x256", Fit::Cover), CENTRE);
        assert_eq!((p.width, p.height), (256, 256));
        assert_eq!((p.window.width, p.window.height), (4000.0, 4000.0));
        assert_eq!((p.window.x, p.window.y), (1000.0, 0.0));
        assert!((p.room() - 4000.0 / 256.0).abs() < 1e-9);
    }

    #[test]
    fn cover_crops_at_the_anchor() {
        let p = plan(4000, 6000, &spec("300x100", Fit::Cover), (1.0, 1.0));
        assert_eq!((p.width, p.height), (300, 100));
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(
            close(p.window.width, 4000.0) && close(p.window.height, 4000.0 / 3.0),
            "{p:?}"
        );
        assert!(
            close(p.window.x, 0.0) && close(p.window.y, 6000.0 - 4000.0 / 3.0),
            "{p:?}"
        );
    }

    #[test]
    fn contain_keeps_aspect_inside_box() {
        let p = plan(6028, 3391, &spec("1024x1024", Fit::Contain), CENTRE);
        assert_eq!((p.width, p.height), (1024, 576));
        assert_eq!(p.window.width, 6028.0);
        let p = plan(1000, 2000, &spec("x500", Fit::Cover), CENTRE);
        assert_eq!((p.width, p.height), (250, 500));
    }

    #[test]
    fn fill_stretches_to_box() {
        let p = plan(6000, 4000, &spec("100x300", Fit::Fill), CENTRE);
        assert_eq!((p.width, p.height), (100, 300));
        assert_eq!((p.window.width, p.window.height), (6000.0, 4000.0));
    }

    #[test]
    fn only_shrink_never_enlarges() {
        let contain = plan(200, 100, &spec("1024x1024>", Fit::Contain), CENTRE);
        assert_eq!((contain.width, contain.height), (200, 100));
        let cover = plan(200, 100, &spec("256x256>", Fit::Cover), CENTRE);
        assert_eq!((cover.width, cover.height), (200, 100));
        let fill = plan(200, 100, &spec("300x50>", Fit::Fill), CENTRE);
        assert_eq!((fill.width, fill.height), (200, 50));
        // Without '>' the same image is enlarged.
        let grown = plan(200, 100, &spec("1024x1024", Fit::Contain), CENTRE);
        assert_eq!((grown.width, grown.height), (1024, 512));
    }

    #[test]
    fn extreme_aspect_ratios_keep_one_pixel() {
        let p = plan(65500, 1, &spec("256x256", Fit::Contain), CENTRE);
        assert_eq!((p.width, p.height), (256, 1));
    }
}
