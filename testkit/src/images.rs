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
