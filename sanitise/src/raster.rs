//! Images (PNG, JPEG, GIF): decoded to pixels and encoded again, so only
//! pixels survive — no metadata (EXIF with its GPS position, XMP, comments,
//! text chunks, ICC profiles), nothing appended after the image's end
//! marker (a zip or a script glued to a picture), no malformed chunk that a
//! viewer might trip over. A JPEG's EXIF orientation is applied to the
//! pixels first so the picture still stands the right way up.
//!
//! Before decoding, a walker reads the file's chunks, segments or blocks
//! once to list for the report what is dropped. Decoding is bounded by
//! `Limits::max_pixels` (all frames of a GIF together) through the image
//! crate's own allocation limits.

use std::io::{BufRead, BufReader, Cursor, Read, Seek, SeekFrom, Write};

use image::{AnimationDecoder, DynamicImage, ImageDecoder, ImageEncoder};

use crate::{Bounded, Budget, Format, Held, Outcome, RemovalKind, Report};

pub(crate) fn rebuild<R: Read + Seek, W: Write>(
    input: R,
    format: Format,
    name: &str,
    out: &mut Bounded<W>,
    budget: &Budget,
) -> Result<Outcome, Held> {
    let mut input = BufReader::with_capacity(64 << 10, input);
    let mut report = Report::new(format);
    let walked = match format {
        Format::Png => walk_png(&mut input, &mut report),
        Format::Jpeg => walk_jpeg(&mut input, &mut report),
        _ => walk_gif(&mut input, &mut report),
    };
    walked.map_err(|e| Held::malformed(&format!("not a readable {format} image"), e))?;
    budget.check()?;
    input
        .seek(SeekFrom::Start(0))
        .map_err(|e| Held::malformed("cannot read the image", e))?;
    let max_pixels = budget.limits.max_pixels;
    let mut limits = image::Limits::default();
    // 8 bytes a pixel covers 16-bit RGBA, the widest the decoders produce.
    limits.max_alloc = Some(max_pixels.saturating_mul(8));
    let bad = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => {
            Held::bound(format!("the image has more than {max_pixels} pixels"))
        }
        e => Held::malformed(&format!("not a readable {format} image"), e),
    };
    match format {
        Format::Gif => {
            let check_limits = limits.clone();
            let mut decoder = image::codecs::gif::GifDecoder::new(input).map_err(bad)?;
            decoder.set_limits(limits).map_err(bad)?;
            let mut frames = Vec::new();
            let mut pixels = 0u64;
            for frame in decoder.into_frames() {
                budget.check()?;
                let frame = frame.map_err(bad)?;
                let (w, h) = frame.buffer().dimensions();
                pixels = pixels.saturating_add(u64::from(w) * u64::from(h));
                if pixels > max_pixels {
                    return Err(Held::bound(format!(
                        "the animation has more than {max_pixels} pixels"
                    )));
                }
                frames.push(frame);
            }
            // A GIF with no image at all would be "rebuilt" as an empty
            // file (the encoder writes nothing until a frame comes).
            if frames.is_empty() {
                return Err(Held::malformed(
                    "not a readable gif image",
                    "it holds no image",
                ));
            }
            // Encoded in memory and read back before anything is handed on:
            // the encoder can write what the decoder refuses (a 2×2 frame on
            // a 0×0 logical screen came out as an unreadable file).
            // The frames are in memory already, so this adds the encoded
            // size only.
            let mut encoded = Vec::new();
            let mut encoder = image::codecs::gif::GifEncoder::new(&mut encoded);
            let looped = encoder.set_repeat(image::codecs::gif::Repeat::Infinite);
            let r = looped.and_then(|()| encoder.encode_frames(frames));
            drop(encoder);
            r.map_err(|e| Held::malformed("cannot write the image", e))?;
            budget.check()?;
            let reads_back = image::codecs::gif::GifDecoder::new(Cursor::new(&encoded)).and_then(
                |mut decoder| {
                    decoder.set_limits(check_limits)?;
                    decoder.into_frames().collect_frames()
                },
            );
            if let Err(e) = reads_back {
                return Err(Held::malformed(
                    "the rebuilt gif image does not read back",
                    e,
                ));
            }
            let r = out.write_all(&encoded).map_err(image::ImageError::IoError);
            written(out, r)?;
        }
        _ => {
            let mut reader = image::ImageReader::with_format(
                input,
                if format == Format::Png {
                    image::ImageFormat::Png
                } else {
                    image::ImageFormat::Jpeg
                },
            );
            reader.limits(limits);
            let mut decoder = reader.into_decoder().map_err(bad)?;
            let (w, h) = decoder.dimensions();
            if u64::from(w) * u64::from(h) > max_pixels {
                return Err(Held::bound(format!(
                    "the image has more than {max_pixels} pixels"
                )));
            }
            let orientation = decoder.orientation().map_err(bad)?;
            let mut img = DynamicImage::from_decoder(decoder).map_err(bad)?;
            img.apply_orientation(orientation);
            budget.check()?;
            if format == Format::Png {
                let encoder = image::codecs::png::PngEncoder::new(&mut *out);
                let r = encoder.write_image(
                    img.as_bytes(),
                    img.width(),
                    img.height(),
                    img.color().into(),
                );
                written(out, r)?;
            } else {
                // JPEG has no alpha and 8 bits a channel.
                let img = if img.color().has_color() {
                    DynamicImage::ImageRgb8(img.to_rgb8())
                } else {
                    DynamicImage::ImageLuma8(img.to_luma8())
                };
                let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut *out, 92);
                let r = encoder.encode_image(&img);
                drop(encoder);
                written(out, r)?;
            }
        }
    }
    if out.exceeded {
        return Err(out.failure("", ""));
    }
    Ok(Outcome::Rebuilt {
        report,
        new_name: name.to_string(),
    })
}

fn written<W: Write>(out: &Bounded<W>, r: image::ImageResult<()>) -> Result<(), Held> {
    r.map_err(|e| out.failure("cannot write the image", e))
}

type Walk = Result<(), String>;

fn read_n<R: Read>(r: &mut R, buf: &mut [u8]) -> Walk {
    r.read_exact(buf)
        .map_err(|_| "the file ends early".to_string())
}

fn skip<R: Read>(r: &mut R, n: u64) -> Walk {
    let got =
        std::io::copy(&mut r.by_ref().take(n), &mut std::io::sink()).map_err(|e| e.to_string())?;
    if got < n {
        return Err("the file ends early".into());
    }
    Ok(())
}

/// Whatever follows the end marker.
fn trailing<R: Read>(r: &mut R, report: &mut Report, end: &str) -> Walk {
    let extra = std::io::copy(r, &mut std::io::sink()).map_err(|e| e.to_string())?;
    if extra > 0 {
        report.removed(
            RemovalKind::TrailingBytes,
            format!("{extra} bytes after {end}"),
        );
    }
    Ok(())
}

/// PNG chunks: length, type, data, CRC. Ancillary chunks other than the
/// rendering hints are metadata.
fn walk_png<R: Read>(r: &mut R, report: &mut Report) -> Walk {
    let mut sig = [0u8; 8];
    read_n(r, &mut sig)?;
    let mut found: Vec<String> = Vec::new();
    loop {
        let mut head = [0u8; 8];
        read_n(r, &mut head)?;
        let len = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        let kind = &head[4..8];
        skip(r, len + 4)?;
        if kind == b"IEND" {
            break;
        }
        let ancillary = kind[0].is_ascii_lowercase();
        let hint = matches!(
            kind,
            b"tRNS" | b"gAMA" | b"cHRM" | b"sRGB" | b"sBIT" | b"bKGD" | b"hIST" | b"pHYs" | b"sPLT"
        );
        if ancillary && !hint {
            let name = String::from_utf8_lossy(kind).into_owned();
            if !found.contains(&name) {
                found.push(name);
            }
        }
    }
    if !found.is_empty() {
        report.removed(RemovalKind::ImageMetadata, found.join(","));
    }
    trailing(r, report, "IEND")
}

/// JPEG segments: marker, length, data; after SOS the entropy-coded data
/// runs to the next marker that is not a stuffed byte or a restart.
fn walk_jpeg<R: BufRead>(r: &mut R, report: &mut Report) -> Walk {
    let mut soi = [0u8; 2];
    read_n(r, &mut soi)?;
    let mut found: Vec<String> = Vec::new();
    let mut byte = [0u8; 1];
    let mut next = None;
    loop {
        let marker = match next.take() {
            Some(m) => m,
            None => {
                read_n(r, &mut byte)?;
                if byte[0] != 0xFF {
                    return Err(format!("expected a marker, found 0x{:02X}", byte[0]));
                }
                loop {
                    read_n(r, &mut byte)?;
                    if byte[0] != 0xFF {
                        break byte[0];
                    }
                }
            }
        };
        match marker {
            0xD9 => break,
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let mut len = [0u8; 2];
        read_n(r, &mut len)?;
        let len = u64::from(u16::from_be_bytes(len));
        if len < 2 {
            return Err("a segment shorter than its header".into());
        }
        skip(r, len - 2)?;
        let name = match marker {
            0xE1..=0xEF => Some(format!("APP{}", marker - 0xE0)),
            0xFE => Some("COM".to_string()),
            _ => None,
        };
        if let Some(name) = name
            && !found.contains(&name)
        {
            found.push(name);
        }
        if marker == 0xDA {
            // Entropy-coded data up to the next real marker.
            let mut prev_ff = false;
            loop {
                read_n(r, &mut byte)?;
                if prev_ff {
                    match byte[0] {
                        0x00 | 0xD0..=0xD7 => prev_ff = false,
                        0xFF => {}
                        m => {
                            next = Some(m);
                            break;
                        }
                    }
                } else if byte[0] == 0xFF {
                    prev_ff = true;
                }
            }
        }
    }
    if !found.is_empty() {
        report.removed(RemovalKind::ImageMetadata, found.join(","));
    }
    trailing(r, report, "EOI")
}

/// GIF blocks: extensions (comments, application data, plain text are
/// metadata; graphic control and the looping block are not) and images,
/// each a chain of sub-blocks, up to the trailer.
fn walk_gif<R: Read>(r: &mut R, report: &mut Report) -> Walk {
    let mut head = [0u8; 13];
    read_n(r, &mut head)?;
    if head[10] & 0x80 != 0 {
        skip(r, 3 << ((head[10] & 0x07) + 1))?;
    }
    let mut found: Vec<String> = Vec::new();
    let sub_blocks = |r: &mut R| -> Walk {
        let mut size = [0u8; 1];
        loop {
            read_n(r, &mut size)?;
            if size[0] == 0 {
                return Ok(());
            }
            skip(r, u64::from(size[0]))?;
        }
    };
    let mut byte = [0u8; 1];
    loop {
        read_n(r, &mut byte)?;
        match byte[0] {
            0x3B => break,
            0x21 => {
                read_n(r, &mut byte)?;
                let label = byte[0];
                let name = match label {
                    0xF9 => None,
                    0xFE => Some("comment".to_string()),
                    0x01 => Some("plain text".to_string()),
                    0xFF => {
                        let mut app = [0u8; 12];
                        read_n(r, &mut app)?;
                        let id = String::from_utf8_lossy(&app[1..12]).into_owned();
                        sub_blocks(r)?;
                        if !matches!(id.as_str(), "NETSCAPE2.0" | "ANIMEXTS1.0")
                            && !found.contains(&id)
                        {
                            found.push(id);
                        }
                        continue;
                    }
                    _ => Some(format!("extension 0x{label:02X}")),
                };
                sub_blocks(r)?;
                if let Some(name) = name
                    && !found.contains(&name)
                {
                    found.push(name);
                }
            }
            0x2C => {
                let mut desc = [0u8; 9];
                read_n(r, &mut desc)?;
                if desc[8] & 0x80 != 0 {
                    skip(r, 3 << ((desc[8] & 0x07) + 1))?;
                }
                skip(r, 1)?;
                sub_blocks(r)?;
            }
            b => return Err(format!("unknown block 0x{b:02X}")),
        }
    }
    if !found.is_empty() {
        report.removed(RemovalKind::ImageMetadata, found.join(","));
    }
    trailing(r, report, "the GIF trailer")
}

#[cfg(test)]
mod tests {
    use crate::testdocs;
    use crate::{HeldReason, Limits, Outcome, RemovalKind, sanitise};
    use std::io::Cursor;

    fn kinds(out: &Outcome) -> Vec<RemovalKind> {
        out.report().removals.iter().map(|r| r.kind).collect()
    }

    #[test]
    fn a_png_loses_its_text_chunk_and_the_zip_glued_to_it() {
        let png = testdocs::png_with_metadata_and_zip();
        let mut out = Vec::new();
        let outcome = sanitise(Cursor::new(png), "写真.png", &mut out, &Limits::default()).unwrap();
        assert_eq!(
            kinds(&outcome),
            vec![RemovalKind::ImageMetadata, RemovalKind::TrailingBytes]
        );
        assert!(!testdocs::contains(&out, b"secret-author"));
        assert!(!testdocs::contains(&out, b"PK\x03\x04"));
        let img = image::load_from_memory(&out).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (4, 3));
        assert_eq!(img.get_pixel(1, 1).0, [200, 10, 10]);
    }

    #[test]
    fn a_jpeg_loses_exif_and_comments_and_trailing_bytes() {
        let jpeg = testdocs::jpeg_with_metadata_and_trailer();
        let mut out = Vec::new();
        let outcome =
            sanitise(Cursor::new(jpeg), "photo.JPG", &mut out, &Limits::default()).unwrap();
        let report = outcome.report();
        assert_eq!(
            kinds(&outcome),
            vec![RemovalKind::ImageMetadata, RemovalKind::TrailingBytes]
        );
        assert!(report.removals[0].location.contains("APP1"), "{report:?}");
        assert!(!testdocs::contains(&out, b"GPS-here"));
        assert!(!testdocs::contains(&out, b"<script>"));
        assert_eq!(image::load_from_memory(&out).unwrap().width(), 16);
    }

    #[test]
    fn a_gif_loses_its_comment() {
        let gif = testdocs::gif_with_comment();
        let mut out = Vec::new();
        let outcome = sanitise(Cursor::new(gif), "a.gif", &mut out, &Limits::default()).unwrap();
        assert_eq!(
            kinds(&outcome),
            vec![RemovalKind::ImageMetadata, RemovalKind::TrailingBytes]
        );
        assert!(!testdocs::contains(&out, b"hidden note"));
        assert_eq!(image::load_from_memory(&out).unwrap().width(), 2);
    }

    /// Found by the sanitise_image fuzz target: a GIF with a header, a
    /// graphic control extension and a trailer but no image came out as
    /// Rebuilt with an empty output.
    #[test]
    fn a_gif_without_an_image_is_held() {
        let gif = b"GIF89a\x02\x00\x02\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x08\x00\x00\x00\x00;appended";
        let mut out = Vec::new();
        let held =
            sanitise(Cursor::new(&gif[..]), "a.gif", &mut out, &Limits::default()).unwrap_err();
        assert_eq!(held.reason, HeldReason::Malformed);
    }

    /// Found by the sanitise_image fuzz target: a 2×2 frame on a 0×0
    /// logical screen was re-encoded as a GIF that no decoder reads ("odd-
    /// sized buffer") and handed on as Rebuilt. Whatever the rebuilt file
    /// is now, it reads back.
    #[test]
    fn a_rebuilt_gif_always_reads_back() {
        let gif = b"GIF89a\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x08\x00\x00\x00\x00,\x00\x00\x00\x00\x02\x00\x02\x00\x80\x00\xff\x00\x00\x00\x00\x02\x02\x84Q\x00!\xfe\x0bhidden note\x00;appended";
        let mut out = Vec::new();
        let held =
            sanitise(Cursor::new(&gif[..]), "a.gif", &mut out, &Limits::default()).unwrap_err();
        assert_eq!(held.reason, HeldReason::Malformed);
        assert!(held.detail.contains("does not read back"), "{held}");
    }

    #[test]
    fn truncated_images_and_too_many_pixels_are_held() {
        let png = testdocs::png_with_metadata_and_zip();
        let held = sanitise(
            Cursor::new(png[..60].to_vec()),
            "a.png",
            Vec::new(),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(held.reason, HeldReason::Malformed);
        let limits = Limits {
            max_pixels: 5,
            ..Limits::default()
        };
        let held = sanitise(Cursor::new(png), "a.png", Vec::new(), &limits).unwrap_err();
        assert_eq!(held.reason, HeldReason::BoundExceeded);
    }
}
