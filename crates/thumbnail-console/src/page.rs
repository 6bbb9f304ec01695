//! The console's HTML, all of it made here, on the server: every key, reason and URL shown goes
//! through [`escape`] (keys are user input), and the page's script only places these fragments.

use std::fmt::Write;

use thumbnail_core::ThumbnailSpec;
use thumbnail_pipeline::dead_letters::DeadLetter;
use thumbnail_queue::Depth;

use crate::feed::{Entry, Status};

/// `text` safe inside HTML text and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A URL fit for `href` and `src`: http(s) or a data URL of an image, else nothing (a
/// `javascript:` URL never reaches the page).
fn safe_url(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("data:image/"))
    .then(|| escape(url))
}

/// A `#rrggbb` colour, or nothing: it goes into a style attribute.
fn colour(value: &str) -> Option<&str> {
    let hex = value.strip_prefix('#')?;
    (hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(value)
}

/// The whole page.
pub(crate) fn page(presets: &[ThumbnailSpec], entries: &[Entry], status: &str) -> String {
    let mut presets_html = String::new();
    for spec in presets {
        let _ = write!(
            presets_html,
            "<li><b>{}</b> {} {} {} q{}</li>",
            escape(&spec.name),
            spec.size,
            format!("{:?}", spec.fit).to_lowercase(),
            escape(&spec.formats.to_string()),
            spec.quality
        );
    }
    let entries_html: String = entries.iter().map(entry).collect();
    let empty = match entries.is_empty() {
        true => r#"<p id="no-uploads" class="muted">Nothing yet: drop images above.</p>"#,
        false => "",
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>thumbnail console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1em; color: #222; }}
h1 {{ font-size: 1.4em; }} h2 {{ font-size: 1.1em; margin-top: 1.5em; }}
#drop {{ border: 2px dashed #999; border-radius: 8px; padding: 1.5em; text-align: center; }}
#drop.over {{ background: #eef6ff; border-color: #36c; }}
.columns {{ display: grid; grid-template-columns: 2fr 1fr; gap: 2em; }}
ul {{ padding-left: 1.2em; }} #uploads {{ list-style: none; padding: 0; }}
.upload {{ border-bottom: 1px solid #ddd; padding: .6em 0; }}
.key {{ font-weight: 600; word-break: break-all; }}
.thumbs {{ display: flex; flex-wrap: wrap; gap: .8em; align-items: flex-end; margin-top: .4em; }}
figure {{ margin: 0; }} figure img {{ max-width: 200px; max-height: 200px; display: block; background: #eee; }}
figcaption, .muted {{ color: #666; font-size: .85em; }}
.swatch {{ display: inline-block; width: 1em; height: 1em; border: 1px solid #aaa; vertical-align: middle; }}
.failed .state {{ color: #b00; }} .made .state {{ color: #070; }} code {{ background: #f3f3f3; padding: 0 .2em; }}
</style></head>
<body>
<h1>thumbnail console</h1>
<div id="drop"><p>Drop images here, or <input id="files" type="file" multiple accept="image/*,.heic,.heif,.avif"></p>
<p id="upload-status" class="muted"></p></div>
<div class="columns">
<section><h2>Recent uploads</h2>{empty}<ul id="uploads">{entries_html}</ul></section>
<section><div id="status">{status}</div><h2>Presets</h2><ul id="presets">{presets_html}</ul></section>
</div>
<script src="/console.js"></script>
</body></html>
"#
    )
}

/// One upload, as a list item whose id the page replaces it by.
pub(crate) fn entry(entry: &Entry) -> String {
    let took = entry
        .took
        .map(|t| format!(" in {:.1} s", t.as_secs_f64()))
        .unwrap_or_default();
    let (class, state, body) = match &entry.status {
        Status::Waiting => (
            "waiting",
            "waiting for the worker…".to_owned(),
            String::new(),
        ),
        Status::Made {
            thumbnails,
            colour: dominant,
        } => {
            let swatch = dominant
                .as_deref()
                .and_then(colour)
                .map(|c| {
                    format!(r#" <span class="swatch" style="background:{c}" title="placeholder colour {c}"></span> <code>{c}</code>"#)
                })
                .unwrap_or_default();
            let mut figures = String::new();
            for t in thumbnails {
                let image = match safe_url(&t.url) {
                    Some(url) => format!(
                        r#"<a href="{url}" class="preview"><img src="{url}" width="{w}" height="{h}" alt="{preset}"></a>"#,
                        w = t.width,
                        h = t.height,
                        preset = escape(&t.preset)
                    ),
                    None => String::new(),
                };
                let format = if t.format.is_empty() {
                    &t.content_type
                } else {
                    &t.format
                };
                let _ = write!(
                    figures,
                    "<figure>{image}<figcaption>{} · {}×{} · {} · {} bytes</figcaption></figure>",
                    escape(&t.preset),
                    t.width,
                    t.height,
                    escape(format),
                    t.bytes
                );
            }
            (
                "made",
                format!("{} thumbnails{took}{swatch}", thumbnails.len()),
                format!(r#"<div class="thumbs">{figures}</div>"#),
            )
        }
        Status::Failed { code, sentence } => (
            "failed",
            format!(
                "failed{took}: <code class=\"reason\">{}</code>",
                escape(code)
            ),
            format!(r#"<div class="sentence">{}</div>"#, escape(sentence)),
        ),
    };
    format!(
        r#"<li class="upload {class}" id="upload-{id}"><span class="key">{key}</span> <span class="state">{state}</span>{body}</li>"#,
        id = entry.id,
        key = escape(&entry.key),
    )
}

/// The queue and the dead letters; `problem` when they could not be read.
pub(crate) fn status(
    depth: Result<Depth, String>,
    dead: Result<Vec<DeadLetter>, String>,
) -> String {
    let mut html = String::from("<h2>Queue</h2>");
    match depth {
        Ok(d) => {
            let _ = write!(
                html,
                r#"<p id="depth"><span id="visible">{}</span> waiting, {} in flight, {} delayed</p>"#,
                d.visible, d.in_flight, d.delayed
            );
        }
        Err(e) => {
            let _ = write!(
                html,
                r#"<p class="failed">cannot read the queue: {}</p>"#,
                escape(&e)
            );
        }
    }
    html.push_str("<h2>Dead letters</h2>");
    match dead {
        Ok(letters) if letters.is_empty() => {
            html.push_str(r#"<p id="no-dead-letters" class="muted">None.</p>"#)
        }
        Ok(letters) => {
            html.push_str(r#"<ul id="dead-letters">"#);
            for letter in letters {
                let _ = write!(
                    html,
                    r#"<li class="dead-letter"><span class="key">{keys}</span> <code>{codes}</code> <span class="muted">{reason}</span> <button data-replay="{id}">Replay</button></li>"#,
                    keys = escape(&letter.keys.join(" ")),
                    codes = escape(&letter.codes),
                    reason = escape(&letter.reason),
                    id = escape(&letter.id),
                );
            }
            html.push_str("</ul>");
        }
        Err(e) => {
            let _ = write!(
                html,
                r#"<p class="failed">cannot read the dead letters: {}</p>"#,
                escape(&e)
            );
        }
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_reasons_are_text_never_markup() {
        let hostile = "<img src=x onerror=alert(1)>.jpg";
        let entry = Entry {
            id: 1,
            key: hostile.into(),
            uploaded_at: None,
            took: None,
            status: Status::Failed {
                code: "corrupt".into(),
                sentence: format!("\"{hostile}\" & more"),
            },
        };
        let html = super::entry(&entry);
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;.jpg"),
            "{html}"
        );
        assert!(html.contains("&quot;&lt;img"), "{html}");
        let dead = vec![DeadLetter {
            id: "\"><script>".into(),
            codes: "too_many_receives".into(),
            keys: vec![hostile.into()],
            reason: "<b>".into(),
        }];
        let status = status(Ok(Depth::default()), Ok(dead));
        assert!(
            !status.contains("<script") && !status.contains("<img") && !status.contains("<b>"),
            "{status}"
        );
    }

    #[test]
    fn only_web_urls_and_hex_colours_reach_attributes() {
        assert_eq!(safe_url("javascript:alert(1)"), None);
        assert_eq!(
            safe_url("http://h/files/a?x=1&y=\"2").as_deref(),
            Some("http://h/files/a?x=1&amp;y=&quot;2")
        );
        assert_eq!(colour("#a0b1c2"), Some("#a0b1c2"));
        assert_eq!(colour("red;background:url(x)"), None);
        assert_eq!(colour("#12345g"), None);
    }
}
