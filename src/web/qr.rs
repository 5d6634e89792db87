//! A short URL as a QR code: an SVG drawn by the server (the `qrcode` crate), put into the page
//! as markup, so it needs no script, no image request and no `data:` URL.

use qrcode::QrCode;
use qrcode::render::svg;

/// The QR code of `short_url` as an `<svg>` element labelled for screen readers; `None` if the
/// text does not fit a QR code (a short URL always does).
pub fn svg_of(short_url: &str) -> Option<String> {
    let code = QrCode::new(short_url.as_bytes()).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(144, 144)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // The renderer writes a whole SVG document; the page wants the element only.
    let start = image.find("<svg")?;
    Some(image[start..].replacen(
        "<svg",
        "<svg role=\"img\" aria-label=\"QR code of the short URL\" focusable=\"false\"",
        1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_url_becomes_an_inline_svg_without_styles_or_scripts() {
        let svg = svg_of("https://sho.rt/s/k3VbX9aQ").unwrap();
        assert!(svg.starts_with("<svg role=\"img\""), "{svg}");
        assert!(svg.ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("<?xml"));
        assert!(!svg.contains("style"));
        assert!(!svg.contains("script"));
    }
}
