//! What "corrupt" means: damaged files (encoded by Pillow, then damaged: `fixtures/damaged/make.sh`)
//! at each decode tolerance. At the default a file a browser shows whole is thumbnailed and its
//! fault reported; a file cut in half is refused; `warning` refuses every fault; `none` thumbnails
//! whatever decodes.

use thumbnail_core::{Engine, Error, FailOn, Fit, Limits, Rendering, Size, ThumbnailSpec};
use thumbnail_tests::fixture;

/// Each damaged fixture, and whether it is whole (its pixels all there, as a browser shows it).
const DAMAGED: [(&str, bool); 6] = [
    ("entropy.jpg", true),
    ("cut-half.jpg", false),
    ("crc.png", true),
    ("no-iend.png", true),
    ("cut-half.png", false),
    ("no-palette.gif", true),
];

fn render(name: &str, fail_on: FailOn) -> Result<Rendering, Error> {
    let spec = ThumbnailSpec::new("t", Size::new(64, 64).unwrap()).with_fit(Fit::Cover);
    let limits = Limits {
        fail_on,
        ..Limits::default()
    };
    Engine::new(limits).render(&fixture(&format!("damaged/{name}")), &[spec])
}

#[test]
fn at_the_default_whole_files_are_thumbnailed_with_their_faults_and_cut_ones_refused() {
    assert_eq!(Limits::default().fail_on, FailOn::Truncated);
    for (name, whole) in DAMAGED {
        match (render(name, FailOn::default()), whole) {
            (Ok(rendering), true) => {
                assert_eq!(rendering.thumbnails[0].width, 64, "{name}");
                // no-iend.png lacks only its end chunk: nothing to report.
                assert_eq!(
                    rendering.faults.is_empty(),
                    name == "no-iend.png",
                    "{name}: {:?}",
                    rendering.faults
                );
            }
            (Err(Error::Corrupt { message, .. }), false) => {
                assert!(!message.is_empty(), "{name}");
            }
            (other, whole) => panic!("{name} (whole: {whole}): {other:?}"),
        }
    }
}

#[test]
fn warning_refuses_every_fault_and_none_thumbnails_every_file() {
    for (name, _) in DAMAGED {
        let strict = render(name, FailOn::Warning);
        if name == "no-iend.png" {
            assert!(
                strict.is_ok(),
                "{name}: no fault, nothing to refuse: {strict:?}"
            );
        } else {
            assert!(
                matches!(strict, Err(Error::Corrupt { .. })),
                "{name}: {strict:?}"
            );
        }
        let lenient = render(name, FailOn::None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(lenient.thumbnails.len(), 1, "{name}");
    }
    // Cut files are thumbnailed at `none` with what they hold, the fault reported.
    for name in ["cut-half.jpg", "cut-half.png"] {
        let faults = render(name, FailOn::None).unwrap().faults;
        assert!(!faults.is_empty(), "{name}");
    }
}

#[test]
fn error_refuses_damaged_data_and_tolerates_warnings() {
    // A checksum is damaged data; the GIF's missing table too; the JPEG's stray bytes are a
    // warning in libjpeg's terms.
    for name in ["crc.png", "no-palette.gif", "cut-half.jpg", "cut-half.png"] {
        assert!(render(name, FailOn::Error).is_err(), "{name}");
    }
    assert!(render("no-iend.png", FailOn::Error).is_ok());
}

#[test]
fn tolerances_parse_as_libvips_names_them() {
    for (text, value) in [
        ("none", FailOn::None),
        ("truncated", FailOn::Truncated),
        ("Error", FailOn::Error),
        ("warning", FailOn::Warning),
    ] {
        assert_eq!(text.parse::<FailOn>(), Ok(value));
    }
    assert!(
        "strict"
            .parse::<FailOn>()
            .unwrap_err()
            .contains("none, truncated, error or warning")
    );
}

#[test]
fn a_progressive_jpeg_cut_in_a_scan_its_scaled_decode_reads_is_judged_by_the_tolerance() {
    // A 1/2-scale thumbnail of a progressive file reads the first scan of every band; cut inside
    // one (here the luma band from 6 to 63, the fifth scan of libjpeg's script), the file is
    // thumbnailed with what it holds at `none` and refused at the default, as libjpeg judges it.
    let photo = thumbnail_tests::jpeg(
        &thumbnail_tests::textured(640, 480),
        &thumbnail_tests::JpegOptions {
            progressive: true,
            ..Default::default()
        },
    );
    let scans: Vec<usize> = photo
        .windows(2)
        .enumerate()
        .filter(|(_, w)| *w == [0xFF, 0xDA])
        .map(|(at, _)| at)
        .collect();
    let cut = &photo[..(scans[4] + scans[5]) / 2];
    // 640 wide into a 300 box: 1/2 scale.
    let spec = ThumbnailSpec::new("half", Size::new(300, 300).unwrap()).with_fit(Fit::Contain);
    let render = |fail_on| {
        Engine::new(Limits {
            fail_on,
            ..Limits::default()
        })
        .render(cut, std::slice::from_ref(&spec))
    };
    let lenient = render(FailOn::None).expect("thumbnailed at none");
    assert_eq!(lenient.thumbnails[0].width, 300);
    assert!(!lenient.faults.is_empty(), "the cut is reported");
    assert!(matches!(
        render(FailOn::default()),
        Err(Error::Corrupt { .. })
    ));
}
