//! Images people upload for a wiki's look (logo, favicon): recognised by their bytes, never by
//! a name or a declared type, bounded in size, and SVG only when it holds nothing active.

use crate::error::FarmError;

/// Largest logo or favicon, in bytes.
pub const MAX_IMAGE_BYTES: usize = 1024 * 1024;

/// Which image of the wiki.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageSlot {
    Logo,
    Favicon,
}

impl ImageSlot {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageSlot::Logo => "logo",
            ImageSlot::Favicon => "favicon",
        }
    }
}

/// A recognised image format, by its file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Webp,
    Svg,
    Ico,
}

impl ImageFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Webp => "webp",
            ImageFormat::Svg => "svg",
            ImageFormat::Ico => "ico",
        }
    }
}

/// The format of `bytes` if they are an image the slot takes: PNG, JPEG, WebP or a passive
/// SVG (and ICO for favicons), at most [`MAX_IMAGE_BYTES`].
pub fn check_image(slot: ImageSlot, bytes: &[u8]) -> Result<ImageFormat, FarmError> {
    if bytes.is_empty() {
        return Err(FarmError::invalid("image", "image_empty", "send the image as the request body".into()));
    }
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(FarmError::invalid(
            "image",
            "image_too_large",
            format!("an image may have at most {} KiB", MAX_IMAGE_BYTES / 1024),
        ));
    }
    let format = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        ImageFormat::Png
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        ImageFormat::Jpeg
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        ImageFormat::Webp
    } else if slot == ImageSlot::Favicon && bytes.starts_with(&[0, 0, 1, 0]) {
        ImageFormat::Ico
    } else if looks_like_svg(bytes) {
        check_svg(bytes)?;
        ImageFormat::Svg
    } else {
        return Err(FarmError::invalid("image", "image_type", "send a PNG, JPEG, WebP or SVG image".into()));
    };
    Ok(format)
}

fn looks_like_svg(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
    head.contains("<svg")
}

/// Refuses an SVG with anything that can run, fetch or hide markup: scripts, event handlers,
/// foreign objects, external references, entity declarations, style sheets with URLs. A
/// drawing needs none of them. (The file is also served with a sandboxing CSP.)
fn check_svg(bytes: &[u8]) -> Result<(), FarmError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| FarmError::invalid("image", "image_type", "an SVG must be UTF-8 text".into()))?;
    let lower = text.to_ascii_lowercase();
    let forbidden = [
        "<script",
        "<!entity",
        "<!doctype",
        "<foreignobject",
        "<iframe",
        "<embed",
        "<object",
        "<?xml-stylesheet",
        "javascript:",
        "data:text",
        "<animate",
        "<set",
        "<handler",
        "<listener",
        "@import",
    ];
    if let Some(found) = forbidden.iter().find(|f| lower.contains(*f)) {
        return Err(FarmError::invalid(
            "image",
            "image_svg_active",
            format!("the SVG holds {found:?}; send a plain drawing"),
        ));
    }
    // Event handler attributes: on...= anywhere in a tag.
    let handler = regex::Regex::new(r"(?i)[\s/]on[a-z]+\s*=").expect("regex");
    if handler.is_match(text) {
        return Err(FarmError::invalid(
            "image",
            "image_svg_active",
            "the SVG has event handler attributes; send a plain drawing".into(),
        ));
    }
    // Links only within the file (#id); url(...) only to #ids.
    let href = regex::Regex::new(r#"(?i)href\s*=\s*["']\s*([^"'\s]*)"#).expect("regex");
    let url = regex::Regex::new(r#"(?i)url\(\s*['"]?\s*([^'")\s]*)"#).expect("regex");
    for target in href.captures_iter(text).chain(url.captures_iter(text)).map(|c| c[1].to_owned()) {
        if !target.starts_with('#') {
            return Err(FarmError::invalid(
                "image",
                "image_svg_active",
                "the SVG refers to other files or addresses; it may link only to its own #ids".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn images_are_known_by_their_bytes() {
        assert_eq!(check_image(ImageSlot::Logo, PNG).expect("png"), ImageFormat::Png);
        assert_eq!(check_image(ImageSlot::Logo, b"\xFF\xD8\xFF\xE0rest").expect("jpeg"), ImageFormat::Jpeg);
        assert_eq!(check_image(ImageSlot::Logo, b"RIFF\x10\0\0\0WEBPVP8 ").expect("webp"), ImageFormat::Webp);
        assert_eq!(check_image(ImageSlot::Favicon, b"\0\0\x01\0\x01\0").expect("ico"), ImageFormat::Ico);
        let code = |slot, bytes: &[u8]| check_image(slot, bytes).expect_err("refused").code();
        assert_eq!(code(ImageSlot::Logo, b"\0\0\x01\0\x01\0"), "image_type", "ICO is for favicons");
        assert_eq!(code(ImageSlot::Logo, b"GIF89a"), "image_type");
        assert_eq!(code(ImageSlot::Logo, b"<html><body>hi</body></html>"), "image_type");
        assert_eq!(code(ImageSlot::Logo, b""), "image_empty");
        let big = [PNG, &vec![0u8; MAX_IMAGE_BYTES]].concat();
        assert_eq!(code(ImageSlot::Logo, &big), "image_too_large");
    }

    #[test]
    fn only_passive_svg_passes() {
        let ok = br##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><defs><linearGradient id="g"/></defs><rect fill="url(#g)" width="10" height="10"/><use href="#g"/></svg>"##;
        assert_eq!(check_image(ImageSlot::Logo, ok).expect("plain svg"), ImageFormat::Svg);
        for bad in [
            &br#"<svg><script>alert(1)</script></svg>"#[..],
            br#"<svg><rect onload="alert(1)"/></svg>"#,
            br#"<svg><a href="javascript:alert(1)"><rect/></a></svg>"#,
            br#"<svg><image href="https://tracker.example/x.png"/></svg>"#,
            br#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x "y">]><svg>&x;</svg>"#,
            br#"<svg><foreignObject><div>hi</div></foreignObject></svg>"#,
            br#"<svg><style>rect { fill: url(https://x.example/a) }</style></svg>"#,
            br#"<svg><set attributeName="href" to="javascript:alert(1)"/></svg>"#,
        ] {
            assert_eq!(
                check_image(ImageSlot::Logo, bad).expect_err("refused").code(),
                "image_svg_active",
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
