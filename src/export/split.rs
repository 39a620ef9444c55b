//! Split assignment: a pure function of a sample's content hash and the seed.
//!
//! Because nothing else goes in (not the sample's position, not the number of samples), a
//! re-export after adding samples keeps every existing sample in its split, and identical
//! content always lands in one split, so a duplicate can never leak from train into eval.

use anyhow::{Result, bail};

/// The split names and weights used when none are given.
pub const DEFAULT_SPLITS: &str = "train=8,eval=2";

/// Parses `train=8,eval=2`: names of letters, digits, `_` and `-` (they become folder
/// names), each given once, with positive integer weights.
pub fn parse_splits(s: &str) -> Result<Vec<(String, u32)>> {
    let mut out: Vec<(String, u32)> = Vec::new();
    for part in s.split(',').map(str::trim) {
        if part.is_empty() {
            bail!("`{s}`: empty split; write splits as NAME=WEIGHT, separated by commas");
        }
        let Some((name, weight)) = part.split_once('=') else {
            bail!("`{part}`: a split is NAME=WEIGHT, e.g. train=8");
        };
        let (name, weight) = (name.trim(), weight.trim());
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            || name.starts_with('-')
        {
            bail!(
                "`{name}`: a split name must be 1 to 64 letters, digits, `_` or `-` (it \
                 becomes a folder name) and not start with `-`"
            );
        }
        let weight: u32 = match weight.parse() {
            Ok(w) if w > 0 => w,
            _ => bail!("`{part}`: the weight of split `{name}` must be a whole number above 0"),
        };
        if out.iter().any(|(n, _)| n == name) {
            bail!("split `{name}` is given twice");
        }
        out.push((name.to_string(), weight));
    }
    Ok(out)
}

/// The index into `splits` of the split a sample with `content_hash` belongs to.
///
/// BLAKE3 of the seed (little-endian) followed by the hash text gives a uniform 64-bit
/// number; scaled into the total weight, it falls into one split's share of the cumulative
/// weights. `splits` must not be empty (see [`parse_splits`]).
pub fn split_of(content_hash: &str, seed: u64, splits: &[(String, u32)]) -> usize {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&seed.to_le_bytes());
    hasher.update(content_hash.as_bytes());
    let digest = hasher.finalize();
    let x = u64::from_le_bytes(digest.as_bytes()[..8].try_into().expect("8 bytes"));
    let total: u64 = splits.iter().map(|(_, w)| u64::from(*w)).sum();
    // `x * total / 2^64` lies in [0, total) without the bias of `x % total`.
    let point = ((u128::from(x) * u128::from(total)) >> 64) as u64;
    let mut upto = 0u64;
    for (i, (_, w)) in splits.iter().enumerate() {
        upto += u64::from(*w);
        if point < upto {
            return i;
        }
    }
    splits.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!(
            parse_splits("train=8, eval=2").unwrap(),
            vec![("train".to_string(), 8), ("eval".to_string(), 2)]
        );
        assert_eq!(parse_splits("all=1").unwrap().len(), 1);
        for bad in [
            "", "train", "train=0", "train=-1", "train=x", "a/b=1", "t=1,t=2", ".=1", "train=8,",
        ] {
            assert!(parse_splits(bad).is_err(), "{bad:?} was accepted");
        }
        let msg = parse_splits("train=0").unwrap_err().to_string();
        assert!(msg.contains("above 0"), "{msg}");
    }

    #[test]
    fn weights_are_respected() {
        let splits = parse_splits("train=8,eval=2").unwrap();
        let mut counts = [0u32; 2];
        for i in 0..10_000u32 {
            counts[split_of(&blake3::hash(&i.to_le_bytes()).to_hex(), 7, &splits)] += 1;
        }
        // 8,000 expected; a binomial standard deviation is 40.
        assert!((7_800..=8_200).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn seed_changes_the_assignment() {
        let splits = parse_splits("a=1,b=1").unwrap();
        let hashes: Vec<String> = (0..200u32)
            .map(|i| blake3::hash(&i.to_le_bytes()).to_hex().to_string())
            .collect();
        let a: Vec<usize> = hashes.iter().map(|h| split_of(h, 1, &splits)).collect();
        let b: Vec<usize> = hashes.iter().map(|h| split_of(h, 2, &splits)).collect();
        assert_ne!(a, b);
        let again: Vec<usize> = hashes.iter().map(|h| split_of(h, 1, &splits)).collect();
        assert_eq!(a, again);
    }
}
