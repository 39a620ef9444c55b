//! Image files, in one place: what a file is (by its content), how large an image may be,
//! whether its data is complete, and which way up it is meant to be seen.
//!
//! Import, validation and the viewer all ask here, so one file never gets three answers.
//!
//! **Complete** means the image data itself is whole. Bytes after the image's end are not
//! damage: phones append a video to a JPEG ("motion photos"), tools append metadata after a
//! PNG's `IEND`, writers pad with zeros. Each format's structure is walked from the start
//! (JPEG marker segments and entropy-coded scans, PNG chunks, the WebP RIFF size) to find
//! where the image ends; only an end that lies beyond the file is truncation. Formats without
//! such a structure (GIF's trailer can be followed by anything), and files whose structure
//! is damaged rather than cut, are confirmed by a full decode.

use std::io::Cursor;
use std::path::Path;

pub use image::ImageFormat;
use image::{ImageReader, Limits};

/// Largest pixel count an image may have. A header that claims more is refused as a
/// decompression bomb: a few bytes on disk that would take gigabytes to decode.
pub const MAX_PIXELS: u64 = 200_000_000;

/// The decoding limits every decode of keylabel uses: the pixel limit above, as bytes of
/// RGBA, plus room for the decoder's own buffers.
pub fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_alloc = Some(MAX_PIXELS * 4 + (64 << 20));
    l
}

/// The image format of `head` (the first bytes of a file), by its magic bytes.
pub fn sniff(head: &[u8]) -> Option<ImageFormat> {
    image::guess_format(head).ok()
}

/// The lower-case name keylabel stores for a format.
pub fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Png => "png",
        ImageFormat::Gif => "gif",
        ImageFormat::WebP => "webp",
        ImageFormat::Bmp => "bmp",
        ImageFormat::Tiff => "tiff",
        ImageFormat::Ico => "ico",
        ImageFormat::Pnm => "pnm",
        ImageFormat::Tga => "tga",
        ImageFormat::Qoi => "qoi",
        ImageFormat::Hdr => "hdr",
        ImageFormat::Avif => "avif",
        ImageFormat::OpenExr => "exr",
        ImageFormat::Farbfeld => "farbfeld",
        ImageFormat::Dds => "dds",
        _ => "image",
    }
}

/// Why an entry that is neither a regular file nor a folder is not read: reading a named
/// pipe or a device could wait forever or never end.
pub fn special_file(kind: std::fs::FileType) -> Option<&'static str> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return Some("a named pipe (FIFO), not a regular file: not read");
        }
        if kind.is_char_device() || kind.is_block_device() {
            return Some("a device, not a regular file: not read");
        }
        if kind.is_socket() {
            return Some("a socket, not a regular file: not read");
        }
    }
    (!kind.is_file() && !kind.is_dir()).then_some("not a regular file: not read")
}

/// Opens `path` for reading without waiting: a named pipe with no writer would block a
/// plain open.
pub fn open_without_waiting(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// Reads a whole image file: opened without waiting, and only when it is a regular file
/// (a sample path in a shared project could name a named pipe or `/dev/zero`).
pub fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    read_file_start(path, u64::MAX)
}

/// [`read_file`], reading at most the first `limit` bytes.
pub fn read_file_start(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = open_without_waiting(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a folder, not a file",
        ));
    }
    if let Some(reason) = special_file(meta.file_type()) {
        return Err(std::io::Error::other(reason));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(limit) as usize);
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The JPEG thumbnail that cameras and phones embed in a JPEG's EXIF data (the second
/// image file directory, IFD1), when there is one: a few kilobytes, in the same stored
/// pixel frame as the photo. Only the marker segments before the first scan are read, and
/// every offset is checked against the bytes there.
pub fn exif_thumbnail(jpeg: &[u8]) -> Option<&[u8]> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut at = 2;
    // Marker segments: FF xx, a big-endian length that counts itself, the payload.
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF {
        let marker = jpeg[at + 1];
        if marker == 0xDA || marker == 0xD9 {
            return None; // the image data starts: no EXIF before it
        }
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        let payload = jpeg.get(at + 4..at + 2 + len)?;
        if marker == 0xE1
            && let Some(tiff) = payload.strip_prefix(b"Exif\0\0")
            && let Some(thumb) = tiff_thumbnail(tiff)
        {
            return Some(thumb);
        }
        at += 2 + len.max(2);
    }
    None
}

/// The thumbnail an EXIF TIFF structure points to from IFD1 (tags 0x0201 offset and 0x0202
/// length), if it lies within `tiff` and starts like a JPEG.
fn tiff_thumbnail(tiff: &[u8]) -> Option<&[u8]> {
    let big = match tiff.get(..4)? {
        [b'I', b'I', 42, 0] => false,
        [b'M', b'M', 0, 42] => true,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(at..at + 2)?.try_into().ok()?;
        Some(if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(at..at + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let ifd0 = u32_at(4)? as usize;
    let entries0 = usize::from(u16_at(ifd0)?);
    let ifd1 = u32_at(ifd0 + 2 + 12 * entries0)? as usize;
    if ifd1 == 0 || ifd1 == ifd0 {
        return None;
    }
    let (mut offset, mut length) = (None, None);
    for i in 0..usize::from(u16_at(ifd1)?) {
        let entry = ifd1 + 2 + 12 * i;
        // A LONG (type 4) or SHORT (type 3) count-1 value, stored in the entry itself.
        let value = match u16_at(entry + 2)? {
            3 => u32::from(u16_at(entry + 8)?),
            4 => u32_at(entry + 8)?,
            _ => continue,
        } as usize;
        match u16_at(entry)? {
            0x0201 => offset = Some(value),
            0x0202 => length = Some(value),
            _ => {}
        }
    }
    let (offset, length) = (offset?, length?);
    let thumb = tiff.get(offset..offset.checked_add(length)?)?;
    thumb.starts_with(&[0xFF, 0xD8]).then_some(thumb)
}

/// Why [`decode_upright`] gave no image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes are no image format keylabel decodes.
    NotAnImage,
    /// An image that cannot be decoded, and why (truncated, over the limits, corrupt).
    Cannot(String),
}

/// An image as a person should see it.
pub struct Upright {
    /// The pixels, turned as the EXIF orientation says and scaled down to the asked size.
    pub image: image::RgbaImage,
    /// Width and height of the upright image at full size.
    pub original_size: [u32; 2],
    /// How the stored pixels were turned to show them (maps boxes between the frames).
    pub turn: Turn,
}

/// How an image's stored pixels are turned to be seen upright: its EXIF orientation and
/// its stored size. Boxes are kept in the stored frame (what decoders and exports see) and
/// drawn in the upright one; these maps are the one place that converts between them, in
/// continuous coordinates (a pixel's centre is at +0.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Turn {
    pub orientation: image::metadata::Orientation,
    /// Width and height as stored in the file.
    pub stored: [u32; 2],
}

impl Turn {
    /// No turning: the stored frame is the upright one.
    pub fn none(stored: [u32; 2]) -> Turn {
        Turn {
            orientation: image::metadata::Orientation::NoTransforms,
            stored,
        }
    }

    /// Whether width and height trade places (a photo turned on its side).
    pub fn swaps_sides(&self) -> bool {
        use image::metadata::Orientation::*;
        matches!(
            self.orientation,
            Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH
        )
    }

    /// Width and height as the image is seen.
    pub fn upright_size(&self) -> [u32; 2] {
        let [w, h] = self.stored;
        if self.swaps_sides() { [h, w] } else { [w, h] }
    }

    /// A point of the stored frame, in the upright frame.
    pub fn to_upright(&self, [x, y]: [f64; 2]) -> [f64; 2] {
        use image::metadata::Orientation::*;
        let (w, h) = (f64::from(self.stored[0]), f64::from(self.stored[1]));
        match self.orientation {
            NoTransforms => [x, y],
            Rotate90 => [h - y, x],
            Rotate180 => [w - x, h - y],
            Rotate270 => [y, w - x],
            FlipHorizontal => [w - x, y],
            FlipVertical => [x, h - y],
            Rotate90FlipH => [y, x],
            Rotate270FlipH => [h - y, w - x],
        }
    }

    /// A point of the upright frame, in the stored frame.
    pub fn to_stored(&self, [u, v]: [f64; 2]) -> [f64; 2] {
        use image::metadata::Orientation::*;
        let (w, h) = (f64::from(self.stored[0]), f64::from(self.stored[1]));
        match self.orientation {
            NoTransforms => [u, v],
            Rotate90 => [v, h - u],
            Rotate180 => [w - u, h - v],
            Rotate270 => [w - v, u],
            FlipHorizontal => [w - u, v],
            FlipVertical => [u, h - v],
            Rotate90FlipH => [v, u],
            Rotate270FlipH => [w - v, h - u],
        }
    }

    /// A rectangle `[x, y, w, h]` of the stored frame, in the upright frame (every turn
    /// keeps rectangles axis-aligned).
    pub fn rect_to_upright(&self, r: [f64; 4]) -> [f64; 4] {
        span(
            self.to_upright([r[0], r[1]]),
            self.to_upright([r[0] + r[2], r[1] + r[3]]),
        )
    }

    /// A rectangle `[x, y, w, h]` of the upright frame, in the stored frame.
    pub fn rect_to_stored(&self, r: [f64; 4]) -> [f64; 4] {
        span(
            self.to_stored([r[0], r[1]]),
            self.to_stored([r[0] + r[2], r[1] + r[3]]),
        )
    }
}

/// The rectangle with corners `a` and `b`.
fn span(a: [f64; 2], b: [f64; 2]) -> [f64; 4] {
    let (x0, x1) = (a[0].min(b[0]), a[0].max(b[0]));
    let (y0, y1) = (a[1].min(b[1]), a[1].max(b[1]));
    [x0, y0, x1 - x0, y1 - y0]
}

/// How many channels a decoder gives the image in `bytes`, from its header alone: 1 grey, 2
/// grey with alpha, 3 colour, 4 colour with alpha (Pascal VOC's `<depth>`). `None` when the
/// bytes are no image keylabel decodes.
pub fn channels(bytes: &[u8]) -> Option<u8> {
    use image::ImageDecoder;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), sniff(bytes)?);
    reader.limits(limits());
    Some(reader.into_decoder().ok()?.color_type().channel_count())
}

/// Decodes an encoded image for showing: a damaged file is refused (a decoder would fill a
/// cut-off file with grey, and a labeler must see that it is damaged), the limits above
/// hold before any pixel is decoded, the EXIF orientation is applied (the stored pixels
/// stay as they are everywhere else), and the result is scaled down so that its longer
/// side is at most `max_side`.
pub fn decode_upright(bytes: &[u8], max_side: u32) -> Result<Upright, DecodeError> {
    use image::ImageDecoder;
    let cannot = |why: String| DecodeError::Cannot(why);
    let format = sniff(bytes).ok_or(DecodeError::NotAnImage)?;
    check_complete(format, bytes).map_err(cannot)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(describe)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(cannot("the image is empty (0 pixels)".into()));
    }
    let pixels = u64::from(w) * u64::from(h);
    if pixels > MAX_PIXELS {
        return Err(cannot(format!(
            "{w}×{h} is {} megapixels, over the limit of {} (a decompression bomb?)",
            pixels / 1_000_000,
            MAX_PIXELS / 1_000_000
        )));
    }
    let turn = Turn {
        orientation,
        stored: [w, h],
    };
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(describe)?;
    img.apply_orientation(orientation);
    let (w, h) = (img.width(), img.height());
    let limit = max_side.max(1);
    let image = if w.max(h) > limit {
        let scale = f64::from(limit) / f64::from(w.max(h));
        let nw = ((f64::from(w) * scale).round() as u32).clamp(1, limit);
        let nh = ((f64::from(h) * scale).round() as u32).clamp(1, limit);
        // `thumbnail` averages whole source pixels: as sharp as a triangle filter for large
        // reductions, several times faster.
        image::imageops::thumbnail(&img, nw, nh)
    } else {
        img.into_rgba8()
    };
    Ok(Upright {
        image,
        original_size: [w, h],
        turn,
    })
}

fn describe(e: image::ImageError) -> DecodeError {
    DecodeError::Cannot(match e {
        image::ImageError::Limits(l) => format!("over keylabel's memory limit for one image ({l})"),
        image::ImageError::Unsupported(u) => format!("unsupported image: {u}"),
        image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file ends early (truncated image)".into()
        }
        other => other.to_string(),
    })
}

/// Where the image data of a file ends, as far as its structure tells cheaply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The image ends at this offset; anything after it is other data.
    At(usize),
    /// The structure runs past the end of the file: the data is cut.
    Cut(&'static str),
    /// The structure is not what the format says it must be.
    Damaged(&'static str),
    /// This format has no structure to walk cheaply.
    Unknown,
}

/// Whether the image data in `bytes` (a whole file of `format`) is complete; the reason
/// ("truncated jpeg: …") when it is not. Data after the image's end is allowed.
pub fn check_complete(format: ImageFormat, bytes: &[u8]) -> Result<(), String> {
    let truncated = |what: &str| Err(format!("truncated {}: {what}", format_name(format)));
    match image_end(format, bytes) {
        End::At(_) => Ok(()),
        End::Cut(what) => truncated(what),
        // Structure that is not as the format says (stray bytes between segments, which some
        // writers leave) is refused only when the decoder cannot read the image either.
        End::Damaged(what) => match decode_error(format, bytes) {
            None => Ok(()),
            Some(_) => Err(format!("corrupt {}: {what}", format_name(format))),
        },
        End::Unknown if format == ImageFormat::Gif => {
            // The trailer byte ends a GIF; without it at the end, decode to be sure.
            let end = bytes.len() - bytes.iter().rev().take_while(|&&b| b == 0).count();
            if bytes[..end].ends_with(&[0x3B]) {
                return Ok(());
            }
            match decode_error(format, bytes) {
                None => Ok(()),
                Some(e) => truncated(&format!("the image data cannot be read to its end ({e})")),
            }
        }
        End::Unknown => Ok(()),
    }
}

/// How many bytes follow the image's end in `bytes` (0 when none, or when the format does
/// not say where it ends).
pub fn trailing_bytes(format: ImageFormat, bytes: &[u8]) -> usize {
    match image_end(format, bytes) {
        End::At(end) => bytes.len() - end,
        _ => 0,
    }
}

fn image_end(format: ImageFormat, bytes: &[u8]) -> End {
    match format {
        ImageFormat::Jpeg => jpeg_end(bytes),
        ImageFormat::Png => png_end(bytes),
        ImageFormat::WebP => match bytes.get(4..8) {
            // RIFF: bytes 4..8 give the size of everything after the first 8 bytes.
            Some(b) => {
                let end = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize + 8;
                if end <= bytes.len() {
                    End::At(end)
                } else {
                    End::Cut("the RIFF header gives more bytes than the file has")
                }
            }
            None => End::Cut("the file ends inside the RIFF header"),
        },
        _ => End::Unknown,
    }
}

/// Walks a JPEG's marker segments and entropy-coded scans to its end-of-image marker.
/// Inside a scan `FF` is followed by `00` (a stuffed byte), a restart marker or fill bytes;
/// any other marker ends the scan. Progressive files have many scans; each is walked.
fn jpeg_end(bytes: &[u8]) -> End {
    const CUT: End = End::Cut("the image data ends before its end-of-image marker (FF D9)");
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return End::Cut("no start-of-image marker");
    }
    let mut i = 2;
    loop {
        // A marker: FF (any number of fill FFs), then its code.
        if bytes.get(i) != Some(&0xFF) {
            return if i >= bytes.len() {
                CUT
            } else {
                End::Damaged("a marker segment is damaged")
            };
        }
        while bytes.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&code) = bytes.get(i) else {
            return CUT;
        };
        i += 1;
        match code {
            0xD9 => return End::At(i),
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(len) = bytes.get(i..i + 2) else {
            return CUT;
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len < 2 {
            return End::Damaged("a marker segment is damaged");
        }
        i += len;
        if i > bytes.len() {
            return CUT;
        }
        if code == 0xDA {
            // Entropy-coded data up to the next marker that is not a stuffed byte or a
            // restart.
            loop {
                let Some(at) = bytes[i..].iter().position(|&b| b == 0xFF) else {
                    return CUT;
                };
                i += at;
                let Some(&next) = bytes.get(i + 1) else {
                    return CUT;
                };
                match next {
                    0x00 | 0xD0..=0xD7 => i += 2,
                    0xFF => i += 1,
                    _ => break,
                }
            }
        }
    }
}

/// Walks a PNG's chunks to `IEND`.
fn png_end(bytes: &[u8]) -> End {
    const CUT: End = End::Cut("the image data ends before its IEND chunk");
    let mut i = 8; // the signature
    loop {
        let Some(head) = bytes.get(i..i + 8) else {
            return CUT;
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = &head[4..8];
        if !kind.iter().all(u8::is_ascii_alphabetic) || (i == 8 && kind != b"IHDR") {
            return End::Damaged("its chunks are damaged");
        }
        let end = i + 12 + len; // length, type, data, CRC
        if end > bytes.len() {
            return CUT;
        }
        if kind == b"IEND" {
            return End::At(end);
        }
        i = end;
    }
}

/// Decodes the whole image; the decoder's reason when that fails. Confirms a file whose
/// format has no cheap end test.
fn decode_error(format: ImageFormat, bytes: &[u8]) -> Option<String> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits());
    reader.decode().err().map(|e| e.to_string())
}

/// Which way up the image in `bytes` is meant to be seen (its EXIF orientation; the
/// identity when it has none). The stored pixels are never changed: exports keep the
/// stored frame, as decoders produce it; the window shows the image upright.
pub fn orientation(format: ImageFormat, bytes: &[u8]) -> image::metadata::Orientation {
    use image::ImageDecoder;
    ImageReader::with_format(Cursor::new(bytes), format)
        .into_decoder()
        .ok()
        .and_then(|mut d| d.orientation().ok())
        .unwrap_or(image::metadata::Orientation::NoTransforms)
}

#[cfg(test)]
mod tests {
    use super::Turn;
    use image::metadata::Orientation;

    const ALL: [Orientation; 8] = [
        Orientation::NoTransforms,
        Orientation::Rotate90,
        Orientation::Rotate180,
        Orientation::Rotate270,
        Orientation::FlipHorizontal,
        Orientation::FlipVertical,
        Orientation::Rotate90FlipH,
        Orientation::Rotate270FlipH,
    ];

    /// Each pixel of a 5×3 image, turned by the image crate (what the window shows), lands
    /// where `Turn` maps its centre, and back: the maps and the pixels agree.
    #[test]
    fn turns_map_points_as_the_pixels_are_turned() {
        let (w, h) = (5u32, 3u32);
        let stored =
            image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([x as u8, y as u8, 7, 255]));
        for o in ALL {
            let mut shown = image::DynamicImage::ImageRgba8(stored.clone());
            shown.apply_orientation(o);
            let shown = shown.to_rgba8();
            let turn = Turn {
                orientation: o,
                stored: [w, h],
            };
            assert_eq!(
                turn.upright_size(),
                [shown.width(), shown.height()],
                "{o:?}"
            );
            for y in 0..h {
                for x in 0..w {
                    let c = [f64::from(x) + 0.5, f64::from(y) + 0.5];
                    let [u, v] = turn.to_upright(c);
                    let px = shown.get_pixel(u.floor() as u32, v.floor() as u32).0;
                    assert_eq!((px[0], px[1]), (x as u8, y as u8), "{o:?} at ({x}, {y})");
                    assert_eq!(turn.to_stored([u, v]), c, "{o:?} back from ({u}, {v})");
                }
            }
            // A rectangle over pixels (1, 0) and (2, 0) covers the same pixels upright.
            let r = turn.rect_to_upright([1.0, 0.0, 2.0, 1.0]);
            assert_eq!(r[2] * r[3], 2.0, "{o:?}");
            assert_eq!(turn.rect_to_stored(r), [1.0, 0.0, 2.0, 1.0], "{o:?}");
        }
    }
}
