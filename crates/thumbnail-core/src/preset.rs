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

    /// Parses and adds a definition `NAME=SIZE[:FIT]`, e.g. `banner=1200x400:cover` or `wide=800x>:contain`,
    /// and returns the new spec. The other settings start from `template` (format, quality, ...).
    pub fn define(
        &mut self,
        definition: &str,
        template: &ThumbnailSpec,
    ) -> Result<&ThumbnailSpec, Error> {
        let bad = |reason: &str| Error::invalid_spec(definition, reason);
        let (name, rest) = definition.split_once('=').ok_or_else(|| {
            bad("a preset definition is NAME=SIZE[:FIT], e.g. banner=1200x400:cover")
        })?;
        let name = name.trim();
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(bad("a preset name uses only letters, digits, '-' and '_'"));
        }
        let (size, fit) = match rest.split_once(':') {
            Some((size, fit)) => (size.parse::<Size>()?, fit.parse::<Fit>()?),
            None => (rest.parse::<Size>()?, template.fit),
        };
        let spec = ThumbnailSpec {
            name: name.to_owned(),
            size,
            fit,
            ..template.clone()
        };
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
}
