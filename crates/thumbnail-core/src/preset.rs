//! Named thumbnail specs: the built-in ones and those a user defines.

use std::collections::BTreeMap;

use crate::{Error, Fit, Size, ThumbnailSpec};

/// A set of named [`ThumbnailSpec`]s.
///
/// [`Presets::builtin`] holds:
///
/// | name | size | fit |
/// |---|---|---|
/// | `profile` | 128x128 | cover |
/// | `album-art-small` | 300x300 | cover |
/// | `album-art` | 600x600 | cover |
/// | `preview` | 1024x1024, only shrink | contain |
///
/// All are JPEG at quality 80; a user adds or replaces presets with [`Presets::insert`] or
/// [`Presets::define`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presets {
    specs: BTreeMap<String, ThumbnailSpec>,
}

impl Presets {
    /// An empty set.
    pub fn empty() -> Self {
        Presets {
            specs: BTreeMap::new(),
        }
    }

    /// The built-in presets.
    pub fn builtin() -> Self {
        let mut presets = Presets::empty();
        let square = |side| Size::new(side, side).expect("built-in sizes are valid");
        presets.insert(ThumbnailSpec::new("profile", square(128)));
        presets.insert(ThumbnailSpec::new("album-art-small", square(300)));
        presets.insert(ThumbnailSpec::new("album-art", square(600)));
        presets.insert(
            ThumbnailSpec::new("preview", square(1024).shrink_only()).with_fit(Fit::Contain),
        );
        presets
    }

    /// Adds `spec` under its own name, replacing any preset of that name.
    pub fn insert(&mut self, spec: ThumbnailSpec) {
        self.specs.insert(spec.name.clone(), spec);
    }

    /// Parses and adds a definition `NAME=SIZE[:OPTION]...`, e.g. `banner=1200x400:cover` or
    /// `profile=128x128:cover:gravity=entropy:format=webp:quality=75`, and returns the new spec.
    ///
    /// Each option is a fit (`cover`, `contain`, `fill`) or `KEY=VALUE`: `fit`, `gravity` (`centre`,
    /// a compass point, `entropy`, `attention`), `format` (`jpeg`, `png`, `webp`, `avif`, several joined by
    /// `+` such as `avif+webp+jpeg`, or `auto`; see [`Formats`](crate::Formats)), `quality` (1 to 100),
    /// `progressive` (`true`, `false`) or `background` (the `RRGGBB` colour alpha is flattened onto
    /// in JPEG). What the definition does not set comes from `template`. An unknown option or a bad
    /// value is an error naming the preset and the option.
    pub fn define(
        &mut self,
        definition: &str,
        template: &ThumbnailSpec,
    ) -> Result<&ThumbnailSpec, Error> {
        let bad = |reason: &str| Error::invalid_spec(definition, reason);
        let (name, rest) = definition.split_once('=').ok_or_else(|| {
            bad("a preset definition is NAME=SIZE[:OPTION]..., e.g. banner=1200x400:cover")
        })?;
        let name = name.trim();
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(bad("a preset name uses only letters, digits, '-' and '_'"));
        }
        let mut options = rest.split(':');
        let size = options.next().unwrap_or_default().trim().parse::<Size>()?;
        let mut spec = ThumbnailSpec {
            name: name.to_owned(),
            size,
            ..template.clone()
        };
        for option in options.map(str::trim) {
            apply_option(&mut spec, option)
                .map_err(|reason| bad(&format!("preset {name}: {reason}")))?;
        }
        self.insert(spec);
        Ok(&self.specs[name])
    }

    /// The preset called `name`.
    pub fn get(&self, name: &str) -> Option<&ThumbnailSpec> {
        self.specs.get(name)
    }

    /// The preset called `name`, or an [`Error::InvalidSpec`] listing the known names.
    pub fn require(&self, name: &str) -> Result<&ThumbnailSpec, Error> {
        self.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.names().collect();
            Error::invalid_spec(
                name,
                format!("no such preset; known presets: {}", known.join(", ")),
            )
        })
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.specs.keys().map(String::as_str)
    }
}

/// Sets one `OPTION` of a preset definition on `spec`.
fn apply_option(spec: &mut ThumbnailSpec, option: &str) -> Result<(), String> {
    let Some((key, value)) = option.split_once('=') else {
        spec.fit = option.parse().map_err(|e: Error| e.to_string())?;
        return Ok(());
    };
    let (key, value) = (key.trim(), value.trim());
    let invalid = |e: Error| format!("{key}: {e}");
    match key {
        "fit" => spec.fit = value.parse().map_err(invalid)?,
        "gravity" => spec.gravity = value.parse().map_err(invalid)?,
        "format" => spec.formats = value.parse().map_err(invalid)?,
        "quality" => {
            spec.quality = value
                .parse::<u8>()
                .ok()
                .filter(|q| (1..=100).contains(q))
                .ok_or_else(|| format!("quality is a whole number from 1 to 100, not {value:?}"))?
        }
        "progressive" => {
            spec.progressive = match value {
                "true" | "yes" | "1" => true,
                "false" | "no" | "0" => false,
                _ => return Err(format!("progressive is true or false, not {value:?}")),
            }
        }
        "background" => spec.background = hex_colour(value)?,
        _ => {
            return Err(format!(
                "unknown option {key:?}; options are fit, gravity, format, quality, progressive and background"
            ));
        }
    }
    Ok(())
}

/// An `RRGGBB` colour, with or without a leading `#`.
fn hex_colour(value: &str) -> Result<[u8; 3], String> {
    let digits = value.strip_prefix('#').unwrap_or(value);
    let bad = || format!("background is an RRGGBB colour like ffffff, not {value:?}");
    if digits.len() != 6 || !digits.is_ascii() {
        return Err(bad());
    }
    let channel = |i: usize| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| bad());
    Ok([channel(0)?, channel(2)?, channel(4)?])
}

impl Default for Presets {
    fn default() -> Self {
        Presets::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_profile_and_album_art() {
        let presets = Presets::builtin();
        let profile = presets.require("profile").unwrap();
        assert_eq!(
            (profile.size.width(), profile.size.height()),
            (Some(128), Some(128))
        );
        assert_eq!(profile.fit, Fit::Cover);
        assert_eq!(
            presets.require("album-art").unwrap().size.width(),
            Some(600)
        );
        let err = presets.require("nope").unwrap_err().to_string();
        assert!(
            err.contains("album-art") && err.contains("profile"),
            "{err}"
        );
    }

    #[test]
    fn user_defined_presets_parse_and_replace() {
        let mut presets = Presets::builtin();
        let template = presets.require("profile").unwrap().clone().with_quality(70);
        let banner = presets
            .define("banner=1200x400:contain", &template)
            .unwrap()
            .clone();
        assert_eq!(banner.fit, Fit::Contain);
        assert_eq!(banner.quality, 70);
        assert_eq!(presets.require("banner").unwrap(), &banner);
        presets.define("profile=64", &template).unwrap();
        assert_eq!(presets.require("profile").unwrap().size.width(), Some(64));
        for bad in ["banner", "=10x10", "bad name=10", "x=10x10:wobble", "x=0x0"] {
            assert!(presets.define(bad, &template).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn definitions_set_every_option() {
        let mut presets = Presets::builtin();
        let template = presets.require("profile").unwrap().clone();
        let spec = presets
            .define(
                "card=400x300:contain:gravity=north-east:format=webp:quality=75:progressive=true:background=#102030",
                &template,
            )
            .unwrap()
            .clone();
        assert_eq!(spec.fit, Fit::Contain);
        assert_eq!(spec.gravity, crate::Gravity::NorthEast);
        assert_eq!(spec.formats, crate::OutputFormat::WebP.into());
        assert_eq!((spec.quality, spec.progressive), (75, true));
        assert_eq!(spec.background, [0x10, 0x20, 0x30]);
        // `fit=` is the same as the bare word; unset options come from the template.
        let plain = presets.define("plain=64:fit=fill", &template).unwrap();
        assert_eq!((plain.fit, plain.quality), (Fit::Fill, template.quality));
    }

    #[test]
    fn bad_options_name_the_preset_and_the_option() {
        let mut presets = Presets::builtin();
        let template = presets.require("profile").unwrap().clone();
        for (definition, says) in [
            (
                "p=64:quality=0",
                "preset p: quality is a whole number from 1 to 100",
            ),
            ("p=64:colour=red", "preset p: unknown option \"colour\""),
            ("p=64:format=gif", "preset p: format"),
            (
                "p=64:background=white",
                "preset p: background is an RRGGBB colour",
            ),
            (
                "p=64:progressive=maybe",
                "preset p: progressive is true or false",
            ),
        ] {
            let error = presets
                .define(definition, &template)
                .unwrap_err()
                .to_string();
            assert!(error.contains(says), "{definition}: {error}");
        }
    }
}
