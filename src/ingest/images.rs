//! Image files: recognised by their content (magic bytes), read only as far as the header
//! for their dimensions, checked cheaply for truncation, and hashed.
//!
//! Used by the import, by validation (a file changed or damaged since import) and by the
//! GUI. Nothing here decodes pixels: a folder of twenty thousand photos is probed in the time
//! it takes to read and hash their bytes.

use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use image::{ColorType, ImageDecoder, ImageError, ImageFormat, ImageReader};
use sha2::{Digest, Sha256};

use crate::validate::files::{FileCheck, Known, Stamp};
use crate::validate::phash;

pub use crate::media::{MAX_PIXELS, format_name};

/// Files up to this size are read into memory once (header, trailer and hash from one read);
/// larger ones are streamed.
const IN_MEMORY_LIMIT: u64 = 32 << 20;

/// The first read of every file: enough for the magic bytes and, for most formats, the
/// header, so that a large file that is not an image costs one small read.
const HEAD_LEN: u64 = 64 << 10;

/// What the header of an image file says, and the file's content hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    pub format: ImageFormat,
    /// Lower-case format name: `jpeg`, `png`, `gif`, `webp`, `bmp`, `tiff`, …
    pub format_name: &'static str,
    pub width: u32,
    pub height: u32,
    /// File size.
    pub bytes: u64,
    /// BLAKE3 of the file's bytes, lower-case hex.
    pub hash: String,
    /// SHA-256 of the file's bytes (an export's `image/key/sha256`), taken in the same read.
    pub sha256: [u8; 32],
    /// What validation would find reading this file: that it is intact (for a file read
    /// whole into memory), and its perceptual hash when that is cheap to compute from the
    /// bytes in hand. The import stores both, so that the first validation reads no file
    /// twice.
    pub(crate) known: Known,
}

/// Reads an image file's header and hashes it. `Err` holds the reason the file cannot be
/// used, ready to show next to its path ("truncated jpeg: …", "not an image: …").
pub fn probe(path: &Path) -> Result<ImageInfo, String> {
    probe_detailed(path).map_err(|f| f.reason)
}

/// Why a probe failed; the import uses the kind to ignore, without a word, files in a
/// folder that were never meant to be images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FailKind {
    /// Zero bytes.
    Empty,
    /// The content is no known image format.
    NotImage,
    /// A format whose signature is weak (a few ASCII or zero bytes, e.g. `P1` of PNM) but
    /// whose header did not parse: most likely not an image at all.
    WeakSignature,
    /// Missing, unreadable, truncated, corrupt, too large.
    Other,
}

#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub kind: FailKind,
    pub reason: String,
}

impl Failure {
    fn new(kind: FailKind, reason: impl Into<String>) -> Failure {
        Failure {
            kind,
            reason: reason.into(),
        }
    }
}

/// An io error as a short reason a user can act on.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "file not found".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "is a folder, not a file".into(),
        _ => format!("cannot read: {e}"),
    }
}

fn other(reason: impl Into<String>) -> Failure {
    Failure::new(FailKind::Other, reason)
}

pub(crate) fn probe_detailed(path: &Path) -> Result<ImageInfo, Failure> {
    let io = |e: std::io::Error| other(io_reason(&e));
    let mut file = crate::media::open_without_waiting(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.is_dir() {
        return Err(other("is a folder, not a file"));
    }
    if let Some(reason) = crate::media::special_file(meta.file_type()) {
        return Err(other(reason));
    }
    // Taken before the bytes are read: a file written meanwhile gets a newer stamp.
    let stamp = Stamp::of(&meta);
    let len = meta.len();
    if len == 0 {
        return Err(Failure::new(FailKind::Empty, "empty file (0 bytes)"));
    }

    // One small read decides whether this is an image at all.
    let mut buf = Vec::with_capacity(len.min(IN_MEMORY_LIMIT) as usize);
    (&mut file)
        .take(HEAD_LEN)
        .read_to_end(&mut buf)
        .map_err(io)?;
    let format = image::guess_format(&buf).map_err(|_| {
        Failure::new(
            FailKind::NotImage,
            format!("not an image: {}", describe_content(&buf)),
        )
    })?;
    let format_name = format_name(format);

    let whole = len <= IN_MEMORY_LIMIT;
    if whole {
        file.read_to_end(&mut buf).map_err(io)?;
    }
    let size = if whole { buf.len() as u64 } else { len };

    let (width, height, colour) = header(path, &buf, whole, format).map_err(|e| {
        let kind = if weak_signature(format) {
            FailKind::WeakSignature
        } else {
            FailKind::Other
        };
        let reason = match e {
            ImageError::Unsupported(_) => format!("unsupported image format: {format_name}"),
            ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                format!("truncated {format_name}: the file ends inside the header")
            }
            e => format!("corrupt {format_name} header: {e}"),
        };
        Failure::new(kind, reason)
    })?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(other(format!(
            "decompression bomb: the header claims {width}x{height} = {pixels} pixels, \
             more than the limit of {MAX_PIXELS}"
        )));
    }
    if width == 0 || height == 0 {
        return Err(other(format!(
            "corrupt {format_name} header: the image is {width}x{height} pixels"
        )));
    }

    let mut known = Known::default();
    let (hash, sha256) = if whole {
        crate::media::check_complete(format, &buf).map_err(other)?;
        let hash = blake3::hash(&buf).to_hex().to_string();
        let sha256 = Sha256::digest(&buf).into();
        known = Known {
            intact: colour.map(|colour| FileCheck {
                content_hash: hash.clone(),
                stamp,
                pixels,
                colour,
            }),
            perceptual: phash::cheap_hash(&buf, format, pixels),
        };
        (hash, sha256)
    } else {
        // A large file whose last bytes are its end marker is whole; otherwise (data after
        // the image, or a cut) its structure is read in full, once.
        let mut tail = [0u8; 64];
        file.seek(SeekFrom::End(-(tail.len() as i64))).map_err(io)?;
        file.read_exact(&mut tail).map_err(io)?;
        if !ends_with_end_marker(format, &tail) {
            let whole = crate::media::read_file(path).map_err(io)?;
            crate::media::check_complete(format, &whole).map_err(other)?;
        }
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let (mut blake, mut sha) = (blake3::Hasher::new(), Sha256::new());
        let mut chunk = vec![0u8; 1 << 20];
        loop {
            let n = match file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io(e)),
            };
            blake.update(&chunk[..n]);
            sha.update(&chunk[..n]);
        }
        (blake.finalize().to_hex().to_string(), sha.finalize().into())
    };
    Ok(ImageInfo {
        format,
        format_name,
        width,
        height,
        bytes: size,
        hash,
        sha256,
        known,
    })
}

/// Header-only dimensions, and the colour type when the header was read from the whole
/// file in memory. A file too large to hold in memory is first tried with its head alone
/// (enough for nearly every header), then read through a buffered reader.
fn header(
    path: &Path,
    buf: &[u8],
    whole: bool,
    format: ImageFormat,
) -> Result<(u32, u32, Option<ColorType>), ImageError> {
    let from_buf = ImageReader::with_format(Cursor::new(buf), format)
        .into_decoder()
        .map(|d| {
            let (w, h) = d.dimensions();
            (w, h, whole.then(|| d.color_type()))
        });
    if whole || from_buf.is_ok() {
        return from_buf;
    }
    let (w, h) = ImageReader::open(path)?
        .with_guessed_format()?
        .into_dimensions()?;
    Ok((w, h, None))
}

/// Whether the last bytes of a file are its format's end marker (zero padding allowed):
/// a large file that passes needs no structural walk.
fn ends_with_end_marker(format: ImageFormat, tail: &[u8]) -> bool {
    let end = tail.len() - tail.iter().rev().take_while(|&&b| b == 0).count();
    let tail = &tail[..end];
    match format {
        ImageFormat::Jpeg => tail.ends_with(&[0xFF, 0xD9]),
        ImageFormat::Png => tail.ends_with(b"IEND\xAE\x42\x60\x82"),
        _ => false,
    }
}

/// Formats recognised by a signature so short that ordinary files may start with it.
fn weak_signature(format: ImageFormat) -> bool {
    matches!(
        format,
        ImageFormat::Pnm | ImageFormat::Ico | ImageFormat::Tga | ImageFormat::Hdr
    )
}

/// File name extensions that announce an image; such a file that is not one is reported,
/// while other files in a folder that are not images are passed over.
pub fn has_image_extension(path: &Path) -> bool {
    const EXTENSIONS: &[&str] = &[
        "jpg", "jpeg", "jpe", "jfif", "png", "apng", "gif", "webp", "bmp", "dib", "tif", "tiff",
        "ico", "pbm", "pgm", "ppm", "pnm", "pam", "tga", "qoi", "hdr", "avif", "heic", "heif",
        "exr", "dds", "ff", "jxl",
    ];
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// A few words on what a non-image file seems to hold.
fn describe_content(head: &[u8]) -> &'static str {
    let sample = &head[..head.len().min(512)];
    let texty = !sample.contains(&0)
        && match std::str::from_utf8(sample) {
            Ok(_) => true,
            // A multi-byte character cut at the end of the sample is still text.
            Err(e) => e.error_len().is_none(),
        };
    if texty {
        "the file holds text"
    } else {
        "the content is no known image format"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_file_ending_in_its_end_marker_needs_no_walk() {
        assert!(ends_with_end_marker(
            ImageFormat::Jpeg,
            &[0x12, 0xFF, 0xD9, 0, 0]
        ));
        assert!(!ends_with_end_marker(ImageFormat::Jpeg, &[0xFF, 0xD9, 7]));
        assert!(ends_with_end_marker(
            ImageFormat::Png,
            b"..IEND\xAE\x42\x60\x82"
        ));
        assert!(!ends_with_end_marker(ImageFormat::Gif, &[0x3B]));
    }

    #[test]
    fn text_and_binary_content_are_told_apart() {
        assert_eq!(describe_content(b"hello, world\n"), "the file holds text");
        assert_eq!(
            describe_content(&[0x00, 0x01, 0xFE]),
            "the content is no known image format"
        );
    }
}
