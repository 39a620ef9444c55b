//! Near-duplicate images (`NEAR_DUPLICATES`): a 64-bit perceptual hash per image, cached in
//! the project, and a multi-index search for pairs within a small Hamming distance.
//!
//! The hash is a difference hash (`image_hasher`'s gradient algorithm, 8×8 bits) of the
//! image's luma, taken after a box-filtered reduction to 64×64: it ignores re-encoding,
//! scaling and uniform brightness changes. A JPEG that carries an EXIF thumbnail of its own
//! aspect ratio (as phones and cameras write) is hashed from that thumbnail; other JPEGs are
//! decoded to luma only (the chroma planes are never converted). Decoding at a reduced DCT
//! scale saves little: entropy decoding is most of a large JPEG's cost.
//!
//! Finding pairs: split the 64 bits into `d + 1` bands. Two hashes within distance `d`
//! differ in at most `d` bands, so (pigeonhole) they agree exactly on at least one; only
//! hashes that share a band value are compared. With the default `d = 4` that is five
//! bands of 12–13 bits, and comparisons stay close to linear in the number of images.

use std::collections::HashMap;
use std::io::Cursor;

use image::imageops::FilterType;
use image::{GrayImage, ImageFormat, ImageReader};
use image_hasher::{HashAlg, HasherConfig};
use rusqlite::params;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use super::{Finding, MAX_LISTED, Severity, names_of, plural};
use crate::media::{MAX_PIXELS, format_name, limits};
use crate::project::{Project, Result, SampleId, ValidationSettings};

/// Names the hash recipe in the cache; change it whenever the recipe changes, so that no
/// hash computed another way is ever compared with a new one.
pub const ALGORITHM: &str = "dhash64-luma-box64-v2-exif-thumbnail";

/// An EXIF thumbnail stands in for its photo only when it is at least this large on its
/// shorter side (the hash is taken from a 64×64 reduction) ...
const MIN_THUMBNAIL_SIDE: u32 = 64;
/// ... and has the photo's aspect ratio within this fraction (a thumbnail padded with bars,
/// or one of another picture, does not).
const ASPECT_TOLERANCE: f64 = 0.02;

/// The side of the reduced image the hash is taken from.
const REDUCED: u32 = 64;

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
    let small = image::imageops::thumbnail(&luma, REDUCED, REDUCED);
    let hasher = HasherConfig::with_bytes_type::<[u8; 8]>()
        .hash_alg(HashAlg::Gradient)
        .hash_size(8, 8)
        .resize_filter(FilterType::Triangle)
        .to_hasher();
    let hash = hasher.hash_image(&small);
    Ok(u64::from_be_bytes(hash.into_inner()))
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
    Ok(image.into_luma8())
}

/// Stores freshly computed hashes, replacing any for older content of the same sample.
pub(super) fn store(
    project: &Project,
    rows: &[(SampleId, String, std::result::Result<u64, String>)],
) -> Result<()> {
    if project.is_read_only() {
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
