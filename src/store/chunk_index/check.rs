//! Checking a chunk index against the chunks table it copies: every key,
//! stored value and hash probe, and every stretch image made again.

use redb::ReadableTable;

use super::read::ChunkIndex;
use super::stretches;
use crate::store::schema::CHUNKS;
use crate::vocab::error::{Result, StorageContext};

impl ChunkIndex {
    /// Compares it with the chunks `txn` holds, the state its stamp says it
    /// indexes: every key and stored value, in order, every granule found
    /// through the hash table, and every stretch image (which stretches get
    /// one at which snaps, and its bytes). Each difference found, naming
    /// where (the first ten).
    pub fn differences(&self, txn: &redb::ReadTransaction) -> Result<Vec<String>> {
        let chunks = txn.open_table(CHUNKS).context("checking the chunk index")?;
        let mut table = chunks.iter().context("checking the chunk index")?;
        let mut problems = Vec::new();
        let mut note = |problem: String| {
            if problems.len() < 10 {
                problems.push(format!("{}: {problem}", self.path.display()));
            }
        };
        let mut indexed = 0u64;
        self.for_each_entry(&mut |space, run| {
            match self.granule(space, run.granule)? {
                Some(found) if (found.first, found.end) == (run.first, run.end) => {}
                _ => note(format!(
                    "granule {:#x} of space {space} not found by its hash",
                    run.granule
                )),
            }
            for i in run.first..run.end {
                indexed += 1;
                let first = self.first_snap(i);
                let bytes = self.chunk_bytes(i)?;
                match table.next() {
                    Some(entry) => {
                        let (key, value) = entry.context("checking the chunk index")?;
                        if key.value() != (space, run.granule, first) || value.value() != bytes {
                            note(format!(
                                "chunk {i} is {:?} ({} bytes), the table's {:?} ({} bytes)",
                                (space, run.granule, first),
                                bytes.len(),
                                key.value(),
                                value.value().len()
                            ));
                        }
                    }
                    None => note(format!(
                        "chunk {i} {:?} is not in the table",
                        (space, run.granule, first)
                    )),
                }
            }
            Ok(())
        })?;
        let rest = table.count() as u64;
        // The stretch images, made again from the chunks.
        let marks = stretches::select(&chunks)?;
        if marks.len() != self.sections.stretch_images {
            note(format!(
                "{} stretch images, the chunks make {}",
                self.sections.stretch_images,
                marks.len()
            ));
        }
        for (i, &made) in marks.iter().enumerate().take(self.sections.stretch_images) {
            let mark = self.stretch_mark(i);
            let (made, image) = stretches::make(&chunks, made)?;
            if mark != made {
                note(format!("stretch image {i} is {mark:?}, the chunks make {made:?}"));
            } else if self.stretch_image_bytes(i) != image {
                note(format!("stretch image {i} ({mark:?}) is not the one the chunks make"));
            }
        }
        if rest > 0 || indexed != self.sections.chunks as u64 {
            note(format!(
                "{indexed} chunks listed of {} counted; the table has {rest} more",
                self.sections.chunks
            ));
        }
        Ok(problems)
    }
}
