//! The change index: which granules have records at each snap, ordered
//! by (space, snap, granule) and chunked into buckets of 256 snaps, so that one
//! redb row serves many changes.
//!
//! A bucket's value is a sequence of LEB128 varints over its entries in
//! (snap, granule) order: for the first entry, the snap's offset from the
//! bucket's first snap and the granule number; for each next entry, the snap
//! delta and the zigzag-encoded difference from the previous entry's granule
//! (LEB128).

use std::collections::BTreeSet;

use crate::format::varint;
use crate::store::packed;
use crate::vocab::error::{Error, Result};
use crate::vocab::types::Snap;

/// log2 of the snaps per bucket.
const BUCKET_SHIFT: u32 = 8;

/// The bucket holding `snap` (floor division, so negative snaps order first).
pub(crate) fn bucket_of(snap: Snap) -> i64 {
    snap >> BUCKET_SHIFT
}

/// The first snap of `bucket`.
fn bucket_base(bucket: i64) -> Snap {
    bucket << BUCKET_SHIFT
}

/// Encodes the entries of one bucket (all with snaps inside it).
pub(crate) fn encode_bucket(bucket: i64, entries: &BTreeSet<(Snap, u64)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 3);
    let mut prev: Option<(Snap, u64)> = None;
    for &(snap, granule) in entries {
        match prev {
            None => {
                varint::put(&mut out, (snap - bucket_base(bucket)) as u64);
                varint::put(&mut out, granule);
            }
            Some((psnap, pgranule)) => {
                varint::put(&mut out, (snap - psnap) as u64);
                varint::put(&mut out, varint::zigzag(granule.wrapping_sub(pgranule) as i64));
            }
        }
        prev = Some((snap, granule));
    }
    out
}

/// The value to store for a bucket: its encoding, or that packed at
/// `level` when that is smaller.
pub(crate) fn stored_bucket(bucket: i64, entries: &BTreeSet<(Snap, u64)>, level: i32) -> Result<Vec<u8>> {
    let encoded = encode_bucket(bucket, entries);
    let packed = packed::seal(packed::Kind::ChangeBucket, &encoded, level)?;
    Ok(packed::smaller(encoded, packed))
}

/// Decodes a bucket, unpacked or packed, checking that it is well formed.
pub(crate) fn decode_bucket(bucket: i64, bytes: &[u8], place: &dyn Fn() -> String) -> Result<BTreeSet<(Snap, u64)>> {
    if packed::is_packed(bytes) {
        let encoded = packed::open(packed::Kind::ChangeBucket, bytes, place)?;
        return decode_unpacked_bucket(bucket, &encoded, place);
    }
    decode_unpacked_bucket(bucket, bytes, place)
}

fn decode_unpacked_bucket(bucket: i64, bytes: &[u8], place: &dyn Fn() -> String) -> Result<BTreeSet<(Snap, u64)>> {
    let bad = || Error::corrupt(place(), format!("change bucket {bucket} is malformed"));
    // A damaged key may name a bucket past the snaps.
    let base = bucket.checked_mul(1 << BUCKET_SHIFT).ok_or_else(bad)?;
    let span = 1i64 << BUCKET_SHIFT;
    let mut out = BTreeSet::new();
    let mut at = 0;
    let mut prev: Option<(Snap, u64)> = None;
    while at < bytes.len() {
        let a = varint::get(bytes, &mut at).ok_or_else(bad)?;
        let b = varint::get(bytes, &mut at).ok_or_else(bad)?;
        let entry = match prev {
            None => (
                base.checked_add(i64::try_from(a).map_err(|_| bad())?).ok_or_else(bad)?,
                b,
            ),
            Some((psnap, pgranule)) => {
                let snap = psnap
                    .checked_add(i64::try_from(a).map_err(|_| bad())?)
                    .ok_or_else(bad)?;
                let granule = pgranule.wrapping_add(varint::unzigzag(b) as u64);
                if a == 0 && granule <= pgranule {
                    return Err(bad());
                }
                (snap, granule)
            }
        };
        if entry
            .0
            .checked_sub(base)
            .is_none_or(|offset| !(0..span).contains(&offset))
        {
            return Err(bad());
        }
        out.insert(entry);
        prev = Some(entry);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unpacked_bucket_never_looks_packed() {
        // A change bucket ends in a varint's last byte, below 0x80.
        let entries = [(5, 3u64), (9, 200)].into_iter().collect();
        assert!(!packed::is_packed(&encode_bucket(0, &entries)));
    }

    #[test]
    fn buckets_round_trip_including_scratch_snaps() {
        for snaps in [
            vec![-256i64, -200, -1],
            vec![0, 0, 5, 255],
            vec![i64::MIN, i64::MIN + 3],
        ] {
            let bucket = bucket_of(snaps[0]);
            let entries: BTreeSet<(Snap, u64)> = snaps
                .iter()
                .enumerate()
                .map(|(i, &s)| (s, (i as u64) * 1000 + u64::MAX / 2))
                .collect();
            let bytes = encode_bucket(bucket, &entries);
            assert_eq!(decode_bucket(bucket, &bytes, &|| "t".into()).unwrap(), entries);
        }
        assert_eq!(bucket_of(-1), -1);
        assert_eq!(bucket_of(255), 0);
        assert!(decode_bucket(0, &[0x80], &|| "t".into()).is_err());
        assert!(decode_bucket(0, &[0x80, 0x02, 0], &|| "t".into()).is_err());
    }

    /// Found by the `records` fuzz target: in a bucket near the bottom of
    /// the snaps, an entry near the top overflowed the offset check (and, in
    /// a release build, wrapped around it and was accepted).
    #[test]
    fn entries_far_outside_their_bucket_are_malformed() {
        let bucket = bucket_of(Snap::MIN);
        let mut bytes = Vec::new();
        varint::put(&mut bytes, 0);
        varint::put(&mut bytes, 1);
        varint::put(&mut bytes, u64::MAX >> 1);
        varint::put(&mut bytes, 0);
        assert!(decode_bucket(bucket, &bytes, &|| "t".into()).is_err());
        assert!(
            decode_bucket(i64::MAX, &[0, 0], &|| "t".into()).is_err(),
            "a bucket past the snaps"
        );
    }
}
