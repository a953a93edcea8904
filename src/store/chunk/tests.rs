//! Chunk records, views, checkpoints and images against a byte-by-byte model.

use roaring::RoaringBitmap;

use super::checkpoint::bitmap_mask;
use super::*;
use crate::vocab::error::Error;
use crate::vocab::types::MemState;

fn place() -> String {
    "test chunk".into()
}

#[test]
fn a_chunk_round_trips_through_its_archive() {
    let mut image = vec![ByteAsOf::default(); 256];
    image[3] = ByteAsOf {
        value: 7,
        known: Some(5),
        record: Some((MemState::Known, 5)),
    };
    image[4] = ByteAsOf {
        value: 8,
        known: Some(2),
        record: Some((MemState::Error, 6)),
    };
    image[9] = ByteAsOf {
        value: 0,
        known: None,
        record: Some((MemState::Error, 6)),
    };
    let mut chunk = ChunkRecord::new(10, CheckpointRecord::from_image(&image));
    chunk.push_delta(
        10,
        &[OwnedRun {
            first: 3,
            last: 3,
            data: Some(vec![0xaa]),
        }],
    );
    chunk.push_delta(
        12,
        &[OwnedRun {
            first: 4,
            last: 9,
            data: None,
        }],
    );
    let bytes = chunk.to_bytes().unwrap();
    let view = ChunkView::of_bytes(&bytes, &place).unwrap();
    assert_eq!(view.delta_count(), 2);
    assert_eq!(view.delta_snap(1), 12);
    // As of snap 11: byte 3 from delta 10, byte 4 from the checkpoint.
    let mut out = vec![ByteAsOf::default(); 7];
    view.resolve(11, 3, &mut out, Need::BOTH, &place).unwrap();
    assert_eq!(out[0].value, 0xaa);
    assert_eq!(out[0].known, Some(10));
    assert_eq!(out[1].value, 8);
    assert_eq!(out[1].known, Some(2));
    assert_eq!(out[1].record, Some((MemState::Error, 6)));
    assert_eq!(out[6].record, Some((MemState::Error, 6)));
    assert_eq!(out[2], ByteAsOf::default());
    // As of snap 12 the ERROR delta covers 4..=9.
    let mut out = vec![ByteAsOf::default(); 2];
    view.resolve(12, 3, &mut out, Need::BOTH, &place).unwrap();
    assert_eq!(out[1].record, Some((MemState::Error, 12)));
    assert_eq!(out[1].known, Some(2));
    assert_eq!(ChunkRecord::from_bytes(&bytes, &place).unwrap(), chunk);
}

#[test]
fn checkpoint_bitmaps_decode_without_roaring_as_with_it() {
    // Sets of every shape a checkpoint holds: runs, scattered
    // positions, one position, full, and both ends of a granule.
    let mut sets: Vec<Vec<u32>> = vec![
        vec![0],
        vec![255],
        (0..256).collect(),
        (0..256).step_by(2).collect(),
        (10..20).chain(100..101).chain(200..256).collect(),
        (0..256).filter(|p| p % 7 == 3 || p / 64 == 2).collect(),
    ];
    let mut x = 12345u64;
    for _ in 0..200 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let density = (x >> 60) + 1;
        sets.push(
            (0..256u32)
                .filter(|p| (x >> (p % 61)).wrapping_add(u64::from(*p)) % 16 < density)
                .collect(),
        );
    }
    for set in sets {
        let mut bitmap: RoaringBitmap = set.iter().copied().collect();
        bitmap.optimize();
        let mut bytes = Vec::new();
        bitmap.serialize_into(&mut bytes).unwrap();
        let mask = bitmap_mask(&bytes, &place, "known").unwrap();
        let decoded: Vec<u32> = (0..256u32).filter(|&p| mask_has(&mask, p as usize)).collect();
        assert_eq!(decoded, set);
        // Cut short or lengthened, the same bytes are an error.
        assert!(bitmap_mask(&bytes[..bytes.len() - 1], &place, "known").is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(bitmap_mask(&longer, &place, "known").is_err());
    }
}

#[test]
fn damaged_chunks_are_errors() {
    let mut chunk = ChunkRecord::new(0, CheckpointRecord::default());
    chunk.push_delta(
        0,
        &[OwnedRun {
            first: 0,
            last: 3,
            data: Some(vec![1, 2, 3, 4]),
        }],
    );
    chunk.data.pop();
    let bytes = chunk.to_bytes().unwrap();
    let view = ChunkView::of_bytes(&bytes, &place).unwrap();
    assert!(matches!(view.delta(0, &place), Err(Error::Corrupt { .. })));
    assert!(ChunkView::of_bytes(&[1, 2, 3], &place).is_err());
}

#[test]
fn edits_cut_and_merge_runs() {
    let mut runs = vec![OwnedRun {
        first: 0,
        last: 9,
        data: Some((0..10).collect()),
    }];
    Edit::Error { first: 3, last: 4 }.apply_to(&mut runs);
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[1].data, None);
    Edit::Put {
        first: 3,
        data: vec![30, 40],
    }
    .apply_to(&mut runs);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].data.as_deref(), Some(&[0, 1, 2, 30, 40, 5, 6, 7, 8, 9][..]));
    Edit::Remove { first: 0, last: 9 }.apply_to(&mut runs);
    assert!(runs.is_empty());
}
