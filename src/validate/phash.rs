//! Near-duplicate images (`NEAR_DUPLICATES`): a 64-bit perceptual hash per image, cached in
//! the project, and a multi-index search for pairs within a small Hamming distance.
//!
//! The hash is a difference hash (64 bits: each row of a 9×8 grid of cell means, compared
//! left to right; see [`difference_hash`]) of the image's luma, the BT.601 luma a JPEG
//! stores for every format, so that a picture and its re-encoding in another format give
//! the same means. It ignores re-encoding, scaling and uniform brightness changes. The cell
//! means are taken in one pass over the decoded pixels, without a general-purpose resize,
//! so a small image costs little more than its decoding; images up to
//! [`IMPORT_HASH_PIXELS`] are hashed at import. A JPEG that carries an EXIF thumbnail of its
//! own aspect ratio (as phones and cameras write) is hashed from that thumbnail; other JPEGs
//! are decoded to luma only (the chroma planes are never converted). Decoding at a reduced
//! DCT scale saves little: entropy decoding is most of a large JPEG's cost.
//!
//! Finding pairs: split the 64 bits into `d + 1` bands. Two hashes within distance `d`
//! differ in at most `d` bands, so (pigeonhole) they agree exactly on at least one; only
//! hashes that share a band value are compared. With the default `d = 4` that is five
//! bands of 12–13 bits, and comparisons stay close to linear in the number of images.

use std::collections::HashMap;
use std::io::Cursor;

use image::{GrayImage, ImageFormat, ImageReader};
use rusqlite::params;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use super::{Finding, MAX_LISTED, Severity, names_of, plural};
use crate::media::{MAX_PIXELS, format_name, limits};
use crate::project::{Project, Result, SampleId, ValidationSettings};

/// Names the hash recipe in the cache; change it whenever the recipe changes, so that no
/// hash computed another way is ever compared with a new one.
pub const ALGORITHM: &str = "dhash64-luma-cells9x8-v3-exif-thumbnail";

/// An EXIF thumbnail stands in for its photo only when it is at least this large on its
/// shorter side (enough pixels per cell of the hash grid) ...
const MIN_THUMBNAIL_SIDE: u32 = 64;
/// ... and has the photo's aspect ratio within this fraction (a thumbnail padded with bars,
/// or one of another picture, does not).
const ASPECT_TOLERANCE: f64 = 0.02;

/// One hashed image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hashed {
    pub id: SampleId,
    /// BLAKE3 of the file's current content: identical files are duplicates, not near ones.
    pub content: [u8; 32],
    pub hash: u64,
}

/// The perceptual hash of an encoded image, or why it cannot be decoded.
pub fn perceptual_hash(bytes: &[u8], format: ImageFormat) -> std::result::Result<u64, String> {
    let luma = decode_luma(bytes, format)?;
    Ok(difference_hash(luma.as_raw(), luma.width() as usize))
}

/// Images up to this many pixels are hashed at import, from the bytes import reads anyway
/// (decoding one takes about a millisecond); larger ones, unless they carry a matching EXIF
/// thumbnail, are hashed by the first validation that looks for near-duplicates.
pub const IMPORT_HASH_PIXELS: u64 = 1 << 20;

/// The perceptual hash when computing it costs little next to reading the file: the image
/// is small, or it is a JPEG with a matching EXIF thumbnail. `None` otherwise.
pub(crate) fn cheap_hash(
    bytes: &[u8],
    format: ImageFormat,
    pixels: u64,
) -> Option<std::result::Result<u64, String>> {
    if pixels <= IMPORT_HASH_PIXELS {
        return Some(perceptual_hash(bytes, format));
    }
    if format == ImageFormat::Jpeg {
        let thumb = matching_thumbnail(bytes)?;
        return Some(Ok(difference_hash(thumb.as_raw(), thumb.width() as usize)));
    }
    None
}

/// The hash grid: `COLUMNS` × `ROWS` cell means, compared left to right in each row.
const COLUMNS: usize = 9;
const ROWS: usize = 8;

/// A difference hash of a luma image (`luma` is `width` bytes per row): the image is cut
/// into 9×8 cells, each cell's mean is taken over the pixels in it (every pixel counted
/// once, in integers, and rounded to a whole luma level), and bit `8·row + i` (from the
/// most significant) is set when cell `i` of that row is darker than cell `i + 1`. An
/// image narrower than 9 or lower than 8 pixels repeats its pixels over the cells. One
/// pass over the pixels, no resampling.
pub fn difference_hash(luma: &[u8], width: usize) -> u64 {
    if width == 0 || luma.is_empty() {
        return 0;
    }
    let height = luma.len() / width;
    // Cell `i` of `n` over `len` pixels: [i·len/n, (i+1)·len/n), at least one pixel.
    let span = |i: usize, n: usize, len: usize| {
        let start = (i * len / n).min(len - 1);
        (start, ((i + 1) * len / n).clamp(start + 1, len))
    };
    let columns: [(usize, usize); COLUMNS] = std::array::from_fn(|i| span(i, COLUMNS, width));
    let mut hash = 0u64;
    for row in 0..ROWS {
        let (top, bottom) = span(row, ROWS, height);
        let mut sums = [0u64; COLUMNS];
        for line in luma[top * width..bottom * width].chunks_exact(width) {
            for (sum, &(start, end)) in sums.iter_mut().zip(&columns) {
                *sum += line[start..end].iter().map(|&v| u64::from(v)).sum::<u64>();
            }
        }
        // Means rounded to whole luma levels, as in the classic 8-bit reduction: cells
        // of a flat region compare equal (bit clear) instead of by noise far below one
        // level, which re-encoding changes.
        let lines = (bottom - top) as u64;
        let means: [u64; COLUMNS] = std::array::from_fn(|i| {
            let count = lines * (columns[i].1 - columns[i].0) as u64;
            (2 * sums[i] + count) / (2 * count)
        });
        for pair in means.windows(2) {
            hash = hash << 1 | u64::from(pair[0] < pair[1]);
        }
    }
    hash
}

/// Decodes the whole image to luma (leniently for JPEG, as viewers do).
fn decode_luma(bytes: &[u8], format: ImageFormat) -> std::result::Result<GrayImage, String> {
    if format == ImageFormat::Jpeg {
        if let Some(small) = matching_thumbnail(bytes) {
            return Ok(small);
        }
        // The luma-only path does not convert every colour space (CMYK, YCCK); `image`'s
        // decoder does, at the cost of the colour conversion.
        return jpeg_luma(bytes).or_else(|fast| decode_generic(bytes, format).map_err(|_| fast));
    }
    decode_generic(bytes, format)
}

/// The photo's EXIF thumbnail as luma, when it has one that matches it: the thumbnail is a
/// downscaled copy of the photo that the camera made, and decoding its few kilobytes
/// instead of twelve megapixels is what makes the first validation of a phone's photos
/// fast. It must have the photo's aspect ratio (read from the photo's header) and be
/// large enough for the 64×64 reduction; otherwise the photo itself is decoded.
fn matching_thumbnail(jpeg: &[u8]) -> Option<GrayImage> {
    let thumb = crate::media::exif_thumbnail(jpeg)?;
    let (w, h) = ImageReader::with_format(Cursor::new(jpeg), ImageFormat::Jpeg)
        .into_dimensions()
        .ok()?;
    let small = jpeg_luma(thumb).ok()?;
    let (tw, th) = small.dimensions();
    if tw.min(th) < MIN_THUMBNAIL_SIDE || w == 0 || h == 0 {
        return None;
    }
    let (photo, thumbnail) = (f64::from(w) / f64::from(h), f64::from(tw) / f64::from(th));
    ((photo - thumbnail).abs() / photo <= ASPECT_TOLERANCE).then_some(small)
}

fn jpeg_luma(bytes: &[u8]) -> std::result::Result<GrayImage, String> {
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::Luma)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder
        .decode_headers()
        .map_err(|e| format!("corrupt JPEG: {e}"))?;
    let (w, h) = decoder
        .dimensions()
        .ok_or_else(|| "corrupt JPEG: no size in its header".to_string())?;
    if (w as u64) * (h as u64) > MAX_PIXELS {
        return Err(format!("{w}×{h} pixels is too large to decode"));
    }
    let data = decoder.decode().map_err(|e| format!("corrupt JPEG: {e}"))?;
    let (w, h) = (w as u32, h as u32);
    // Luma output has one byte per pixel.
    GrayImage::from_raw(w, h, data)
        .ok_or_else(|| "corrupt JPEG: fewer pixels than its header states".to_string())
}

fn decode_generic(bytes: &[u8], format: ImageFormat) -> std::result::Result<GrayImage, String> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits());
    let image = reader
        .decode()
        .map_err(|e| format!("cannot decode the {}: {e}", format_name(format)))?;
    if !image.color().has_color() {
        return Ok(image.into_luma8());
    }
    // The luma a JPEG stores (BT.601, as JFIF's integer conversion), not `image`'s BT.709
    // one: the same picture as PNG and as JPEG must give the same cell means.
    let rgb = image.into_rgb8();
    let (w, h) = rgb.dimensions();
    let luma = rgb
        .pixels()
        .map(|p| {
            let [r, g, b] = p.0.map(u32::from);
            ((77 * r + 150 * g + 29 * b + 128) >> 8) as u8
        })
        .collect();
    Ok(GrayImage::from_raw(w, h, luma).expect("one byte per pixel"))
}

/// Stores freshly computed hashes, replacing any for older content of the same sample.
pub(super) fn store(
    project: &Project,
    rows: &[(SampleId, String, std::result::Result<u64, String>)],
) -> Result<()> {
    if project.is_read_only() || rows.is_empty() {
        return Ok(()); // a cache: a read-only project hashes again each time
    }
    let tx = rusqlite::Transaction::new_unchecked(
        project.conn(),
        rusqlite::TransactionBehavior::Immediate,
    )?;
    {
        let mut stale = tx.prepare_cached(
            "DELETE FROM perceptual_hashes WHERE sample_id = ?1 AND algorithm = ?2 \
             AND content_hash <> ?3",
        )?;
        let mut insert = tx.prepare_cached(
            "INSERT OR REPLACE INTO perceptual_hashes(sample_id, content_hash, algorithm, \
             phash, error) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (id, content, value) in rows {
            stale.execute(params![id, ALGORITHM, content])?;
            let (hash, error) = match value {
                Ok(h) => (Some(*h as i64), None),
                Err(e) => (None, Some(e.as_str())),
            };
            insert.execute(params![id, content, ALGORITHM, hash, error])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Groups of items whose hashes are within `distance` bits, each group sorted, groups in
/// order of their first member. Items in one group are linked by a chain of close pairs.
pub fn group_near(hashes: &[u64], distance: u32) -> Vec<Vec<usize>> {
    let n = hashes.len();
    let mut uf = UnionFind::new(n);
    // Identical hashes join at once and are compared once, through one representative.
    let mut reps: HashMap<u64, usize> = HashMap::new();
    for (i, h) in hashes.iter().enumerate() {
        match reps.get(h) {
            Some(&r) => uf.union(r, i),
            None => {
                reps.insert(*h, i);
            }
        }
    }
    let mut unique: Vec<(u64, usize)> = reps.into_iter().collect();
    unique.sort_unstable();
    if distance >= 64 {
        for w in unique.windows(2) {
            uf.union(w[0].1, w[1].1);
        }
    } else if distance > 0 {
        for (shift, width) in bands(distance + 1) {
            let mask = if width >= 64 {
                u64::MAX
            } else {
                (1u64 << width) - 1
            };
            let mut buckets: HashMap<u64, Vec<(u64, usize)>> = HashMap::new();
            for &(h, i) in &unique {
                buckets.entry((h >> shift) & mask).or_default().push((h, i));
            }
            for bucket in buckets.values().filter(|b| b.len() > 1) {
                for (a, &(ha, ia)) in bucket.iter().enumerate() {
                    for &(hb, ib) in &bucket[a + 1..] {
                        if (ha ^ hb).count_ones() <= distance {
                            uf.union(ia, ib);
                        }
                    }
                }
            }
        }
    }
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..n {
        groups.entry(uf.find(i)).or_default().push(i);
    }
    let mut out: Vec<Vec<usize>> = groups.into_values().filter(|g| g.len() > 1).collect();
    out.sort_unstable_by_key(|g| g[0]);
    out
}

/// `count` bands covering 64 bits as evenly as possible: (shift, width).
fn bands(count: u32) -> Vec<(u32, u32)> {
    let count = count.clamp(1, 64);
    let (base, extra) = (64 / count, 64 % count);
    let mut shift = 0;
    (0..count)
        .map(|i| {
            let width = base + u32::from(i < extra);
            let band = (shift, width);
            shift += width;
            band
        })
        .collect()
}

struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> UnionFind {
        UnionFind {
            parent: (0..n).collect(),
        }
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi] = lo;
        }
    }
}

/// `NEAR_DUPLICATES` over the hashed images. Files with identical content are left to
/// `DUPLICATE_SAMPLES`: a group needs at least two different contents.
pub(super) fn near_duplicates(
    project: &Project,
    hashed: &[Hashed],
    settings: &ValidationSettings,
    out: &mut Vec<Finding>,
) -> Result<()> {
    // One entry per distinct content.
    let mut by_content: HashMap<[u8; 32], usize> = HashMap::new();
    let mut contents: Vec<(u64, Vec<SampleId>)> = Vec::new();
    for h in hashed {
        match by_content.get(&h.content) {
            Some(&i) => contents[i].1.push(h.id),
            None => {
                by_content.insert(h.content, contents.len());
                contents.push((h.hash, vec![h.id]));
            }
        }
    }
    let hashes: Vec<u64> = contents.iter().map(|(h, _)| *h).collect();
    let groups = group_near(&hashes, settings.near_duplicate_distance);
    if groups.is_empty() {
        return Ok(());
    }
    let mut count = 0u64;
    let mut listed: Vec<SampleId> = Vec::new();
    for g in &groups {
        let mut ids: Vec<SampleId> = g.iter().flat_map(|&i| contents[i].1.clone()).collect();
        ids.sort_unstable();
        count += ids.len() as u64;
        let room = MAX_LISTED.saturating_sub(listed.len());
        listed.extend(ids.into_iter().take(room));
    }
    out.push(
        Finding::new(
            "NEAR_DUPLICATES",
            Severity::Warning,
            count,
            format!(
                "{} look alike in {} (perceptual hashes within {} bits; listed group by \
                 group); near-copies can land in different splits and make evaluation look \
                 better than it is: keep one of each group, or exclude the others",
                plural(count, "image", "images"),
                plural(groups.len() as u64, "group", "groups"),
                settings.near_duplicate_distance
            ),
        )
        .with_samples(names_of(project, &listed)?),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w`×`h` luma image from a function of the pixel's position.
    fn luma(w: usize, h: usize, f: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| f(x, y))
            .collect()
    }

    #[test]
    fn difference_hash_reads_left_to_right_gradients() {
        // Flat: no cell is darker than its right neighbour.
        assert_eq!(difference_hash(&luma(64, 48, |_, _| 90), 64), 0);
        // Brighter to the right: every comparison sets its bit.
        assert_eq!(difference_hash(&luma(90, 40, |x, _| x as u8), 90), u64::MAX);
        // Darker to the right: none does.
        assert_eq!(difference_hash(&luma(90, 40, |x, _| 200 - x as u8), 90), 0);
        // Row 0 (the top eighth) brighter to the right, the rest flat: the first byte only.
        let top = luma(72, 64, |x, y| if y < 8 { x as u8 } else { 50 });
        assert_eq!(difference_hash(&top, 72), 0xFF00_0000_0000_0000);
    }

    #[test]
    fn difference_hash_ignores_scale_and_brightness() {
        let base = |x: usize, y: usize| ((x * 3 + y * 5) % 97 + (x / 9) * 7) as u8;
        let small = difference_hash(&luma(90, 64, base), 90);
        // The same picture at twice the size, and brighter by a constant.
        let large = difference_hash(&luma(180, 128, |x, y| base(x / 2, y / 2)), 180);
        let bright = difference_hash(&luma(90, 64, |x, y| base(x, y) + 40), 90);
        assert!(
            (small ^ large).count_ones() <= 4,
            "{small:016x} {large:016x}"
        );
        assert_eq!(small, bright);
    }

    #[test]
    fn difference_hash_of_images_smaller_than_its_grid() {
        // Fewer pixels than cells: pixels repeat over the cells; nothing is out of range.
        for (w, h) in [(1, 1), (2, 1), (1, 9), (3, 2), (8, 7), (9, 8)] {
            let img = luma(w, h, |x, y| (x * 40 + y) as u8);
            let hash = difference_hash(&img, w);
            if w == 1 {
                assert_eq!(hash, 0, "{w}×{h}: one column has no gradient");
            }
        }
        assert_eq!(difference_hash(&[], 5), 0);
        assert_eq!(difference_hash(&[1, 2, 3], 0), 0);
        // A two-pixel row, dark then bright: the cells over the right pixel are brighter
        // once, where the grid crosses from one pixel to the other.
        assert_eq!(difference_hash(&[0, 255], 2).count_ones(), 8);
    }

    #[test]
    fn bands_cover_64_bits() {
        for count in [1, 2, 5, 7, 64] {
            let b = bands(count);
            assert_eq!(b.len(), count as usize);
            assert_eq!(b.iter().map(|(_, w)| w).sum::<u32>(), 64);
            assert_eq!(b[0].0, 0);
        }
    }

    /// The multi-index must find exactly the pairs a brute-force comparison finds.
    #[test]
    fn multi_index_matches_brute_force() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut hashes = Vec::new();
        for _ in 0..300 {
            let base = next();
            hashes.push(base);
            // Near copies: flip 1 to 6 random bits.
            let flips = next() % 6 + 1;
            let mut h = base;
            for _ in 0..flips {
                h ^= 1 << (next() % 64);
            }
            hashes.push(h);
        }
        for d in [0, 2, 4, 5] {
            let groups = group_near(&hashes, d);
            let mut uf = UnionFind::new(hashes.len());
            for i in 0..hashes.len() {
                for j in i + 1..hashes.len() {
                    if (hashes[i] ^ hashes[j]).count_ones() <= d {
                        uf.union(i, j);
                    }
                }
            }
            let mut expected: HashMap<usize, Vec<usize>> = HashMap::new();
            for i in 0..hashes.len() {
                expected.entry(uf.find(i)).or_default().push(i);
            }
            let mut expected: Vec<Vec<usize>> =
                expected.into_values().filter(|g| g.len() > 1).collect();
            expected.sort_unstable_by_key(|g| g[0]);
            assert_eq!(groups, expected, "distance {d}");
            if d >= 4 {
                assert!(!groups.is_empty());
            }
        }
    }
}
