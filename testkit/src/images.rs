//! Generated pictures with real encoders: patterns whose bytes depend on a seed, and
//! photo-like images for perceptual hashing and decoding costs.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// A striped pattern of `w`×`h` whose pixels depend on `seed`: different seeds give
/// different bytes, the same seed the same bytes.
pub fn pattern(w: u32, h: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let v = (x * 7 + y * 3 + seed * 40) % 256;
        Rgb([
            v as u8,
            ((x + seed * 13) % 256) as u8,
            ((y * 2) % 256) as u8,
        ])
    })
}

/// A colourful gradient with a disc in the middle (content for down-scaling), with alpha.
pub fn disc(w: u32, h: u32, seed: u8) -> RgbaImage {
    RgbaImage::from_fn(w, h, |x, y| {
        let dx = x as i64 - w as i64 / 2;
        let dy = y as i64 - h as i64 / 2;
        let inside = dx * dx + dy * dy < (w.min(h) as i64 / 3).pow(2);
        let r = (x * 255 / w.max(1)) as u8 ^ seed;
        let g = (y * 255 / h.max(1)) as u8;
        let b = if inside { 230 } else { seed.wrapping_mul(3) };
        Rgba([r, g, b, 255])
    })
}

/// A deterministic photo-like image: a tilted gradient, a few soft blobs and sensor noise.
/// Different seeds are far apart for a perceptual hash; a brightened copy is near.
pub fn photo(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let angle = (next() % 360) as f32 * std::f32::consts::PI / 180.0;
    let (ca, sa) = (angle.cos(), angle.sin());
    let base = [
        (next() % 200) as f32,
        (next() % 200) as f32,
        (next() % 200) as f32,
    ];
    let blobs: Vec<(f32, f32, f32, [f32; 3])> = (0..6)
        .map(|_| {
            (
                (next() % w as u64) as f32,
                (next() % h as u64) as f32,
                (w.min(h) as f32) * (0.08 + (next() % 20) as f32 / 100.0),
                [
                    (next() % 255) as f32,
                    (next() % 255) as f32,
                    (next() % 255) as f32,
                ],
            )
        })
        .collect();
    RgbImage::from_fn(w, h, |x, y| {
        let (xf, yf) = (x as f32, y as f32);
        let t = (xf * ca + yf * sa) / (w + h) as f32;
        let mut px = base.map(|b| b + 55.0 * t);
        for (bx, by, r, col) in &blobs {
            let d2 = ((xf - bx).powi(2) + (yf - by).powi(2)) / (r * r);
            if d2 < 1.0 {
                let k = 1.0 - d2;
                for c in 0..3 {
                    px[c] = px[c] * (1.0 - k) + col[c] * k;
                }
            }
        }
        let noise = (next() % 9) as f32 - 4.0;
        Rgb(px.map(|v| (v + noise).clamp(0.0, 255.0) as u8))
    })
}

/// `img` encoded as `format` (formats without alpha get the RGB pixels).
pub fn encode(img: impl Into<DynamicImage>, format: ImageFormat) -> Vec<u8> {
    let img: DynamicImage = img.into();
    let img = match format {
        ImageFormat::Jpeg | ImageFormat::Bmp | ImageFormat::Pnm => {
            DynamicImage::ImageRgb8(img.to_rgb8())
        }
        _ => img,
    };
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format)
        .unwrap_or_else(|e| panic!("encode a {format:?} test image: {e}"));
    out.into_inner()
}

/// `img` as a JPEG of the given quality.
pub fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality)
        .encode_image(img)
        .unwrap_or_else(|e| panic!("encode a JPEG test image: {e}"));
    buf
}

/// `img` as a phone writes it: a JPEG of the given quality whose EXIF data (an APP1
/// segment right after the start marker) carries a 160-pixel-wide JPEG thumbnail of it in
/// IFD1, as the EXIF standard lays it out.
pub fn phone_jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let tw = 160;
    let th = ((f64::from(img.height()) * 160.0 / f64::from(img.width())).round() as u32).max(1);
    let small = image::imageops::thumbnail(img, tw, th);
    with_exif_thumbnail(&jpeg(img, quality), &jpeg(&small, 75))
}

/// `jpeg` with an EXIF APP1 segment holding `thumbnail` (little-endian TIFF: an IFD0 with
/// the orientation 1, and an IFD1 with the thumbnail's offset and length).
pub fn with_exif_thumbnail(jpeg: &[u8], thumbnail: &[u8]) -> Vec<u8> {
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "not a JPEG");
    let mut tiff: Vec<u8> = b"II*\0".to_vec();
    tiff.extend(8u32.to_le_bytes()); // IFD0 at 8
    let entry = |tiff: &mut Vec<u8>, tag: u16, kind: u16, value: u32| {
        tiff.extend(tag.to_le_bytes());
        tiff.extend(kind.to_le_bytes());
        tiff.extend(1u32.to_le_bytes());
        tiff.extend(value.to_le_bytes());
    };
    // IFD0: one entry (orientation, SHORT), then the offset of IFD1.
    tiff.extend(1u16.to_le_bytes());
    entry(&mut tiff, 0x0112, 3, 1);
    let ifd1 = (tiff.len() + 4) as u32;
    tiff.extend(ifd1.to_le_bytes());
    // IFD1: the thumbnail's offset and length (LONG), then no further IFD.
    tiff.extend(2u16.to_le_bytes());
    let data = ifd1 + 2 + 2 * 12 + 4;
    entry(&mut tiff, 0x0201, 4, data);
    entry(&mut tiff, 0x0202, 4, thumbnail.len() as u32);
    tiff.extend(0u32.to_le_bytes());
    tiff.extend_from_slice(thumbnail);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let len = u16::try_from(app1.len() + 2).expect("an EXIF segment under 64 KiB");
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(len.to_be_bytes());
    out.extend(app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Writes `bytes` to `path`, making its folders.
pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Writes `img` to `path` as `format`, making its folders.
pub fn save(path: &Path, img: impl Into<DynamicImage>, format: ImageFormat) {
    write(path, &encode(img, format));
}
