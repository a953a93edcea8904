//! Memory regions (M12): named address ranges of a space with a lifespan and
//! Read/Write/Execute/Volatile flags, as a debugger reports a target's
//! memory map over time; adding, changing from a snap on, deleting, and the
//! queries by name, snap, address and overlap.
//!
//! A region is a *record*: a name, a lifespan, a range and flags, in one
//! space. Changing a region's flags or range from a snap on splits its record
//! at that snap, the way Ghidra splits a value's lifespan: `[a, b]` becomes
//! `[a, s - 1]` with the old values and `[s, b]` with the new ones. In one
//! space, two records of one name are never alive at a common snap, and two
//! records alive at a common snap never share an address (as Ghidra's
//! `addRegion` refuses overlapping regions). Every bound is inclusive.
//!
//! Regions are few (thousands): queries scan the records of their space.
//!
//! ```
//! use tracemem::{AddressRange, Database, Lifespan, RegionFlags, RegionRead};
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("trace.tmdb");
//! let db = Database::create(&path)?;
//! let mut txn = db.begin_write()?;
//! let mut regions = txn.regions("ram")?;
//! regions.add(".text", Lifespan::new(0, i64::MAX)?, 0x1000, 0x1fff, RegionFlags::READ | RegionFlags::EXECUTE)?;
//! regions.set_flags(".text", 50, RegionFlags::READ | RegionFlags::WRITE)?; // patched from snap 50 on
//! txn.commit()?;
//!
//! let read = db.begin_read()?;
//! let regions = read.regions("ram")?;
//! assert_eq!(regions.containing(10, 0x1fff)?.unwrap().flags, RegionFlags::READ | RegionFlags::EXECUTE);
//! assert_eq!(regions.get(".text", 60)?.unwrap().lifespan, Lifespan::new(50, i64::MAX)?);
//! assert!(regions.containing(-1, 0x1000)?.is_none());
//! assert!(regions.address_set(60, RegionFlags::EXECUTE)?.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::store::boundary::{Failable, guard_in, guard_write};
use crate::store::regions::{RegionRecord, decode, encode};
use crate::store::{StoreRead, WriteStore};
use crate::vocab::error::{Error, Result};
use crate::vocab::region::{Region, RegionFlags};
use crate::vocab::types::{AddressRange, Lifespan, RangeSet, Snap};

/// The longest region name, in bytes.
const MAX_NAME_LEN: usize = 1024;

mod private {
    use crate::store::StoreRead;

    /// What a query runs against.
    pub struct Source<'a> {
        pub(crate) store: &'a dyn StoreRead,
        pub(crate) space: u32,
        pub(crate) name: &'a str,
        /// The write transaction, if any: redb failing in a query fails it.
        pub(crate) txn: Option<&'a dyn crate::store::boundary::Failable>,
    }

    /// Keeps [`super::RegionRead`] implemented only here.
    pub trait Sealed {
        fn parts(&self) -> Source<'_>;
    }
}

use private::{Sealed, Source};

/// The regions of one space in a read transaction.
pub struct Regions<'a> {
    pub(crate) store: &'a dyn StoreRead,
    pub(crate) space: u32,
    pub(crate) name: String,
}

/// The regions of one space in a write transaction: changes them, and
/// answers queries with the transaction's own changes visible.
pub struct RegionsMut<'a> {
    pub(crate) store: &'a mut WriteStore,
    pub(crate) space: u32,
    pub(crate) name: String,
}

impl Sealed for Regions<'_> {
    fn parts(&self) -> Source<'_> {
        Source {
            store: self.store,
            space: self.space,
            name: &self.name,
            txn: None,
        }
    }
}

impl Sealed for RegionsMut<'_> {
    fn parts(&self) -> Source<'_> {
        Source {
            store: &*self.store,
            space: self.space,
            name: &self.name,
            txn: Some(&*self.store),
        }
    }
}

/// Every region record of the space, decoded, in (name, first snap) order.
fn load(src: &(impl Sealed + ?Sized)) -> Result<Vec<Region>> {
    let source = src.parts();
    let mut out = Vec::new();
    for (name, first, bytes) in source.store.region_records(source.space)? {
        let record = decode(source.space, &name, first, &bytes)?;
        out.push(Region {
            name,
            space: source.name.to_string(),
            lifespan: record.lifespan,
            range: record.range,
            flags: record.flags,
        });
    }
    Ok(out)
}

/// Whether two lifespans share a snap.
fn lifespans_meet(a: Lifespan, b: Lifespan) -> bool {
    a.min() <= b.max() && b.min() <= a.max()
}

/// Queries of a space's regions. Implemented by [`Regions`] and [`RegionsMut`].
pub trait RegionRead: Sealed {
    /// The name of the space.
    fn space_name(&self) -> &str {
        self.parts().name
    }

    /// Every region record, by name, then by first snap.
    fn all(&self) -> Result<Vec<Region>> {
        guard_in(self.parts().txn, &|| "regions".to_string(), || load(self))
    }

    /// The region named `name` alive at `snap`.
    fn get(&self, name: &str, snap: Snap) -> Result<Option<Region>> {
        guard_in(self.parts().txn, &|| "region".to_string(), || {
            Ok(load(self)?
                .into_iter()
                .find(|r| r.name == name && r.lifespan.contains(snap)))
        })
    }

    /// The region alive at `snap` that contains `addr`.
    fn containing(&self, snap: Snap, addr: u64) -> Result<Option<Region>> {
        guard_in(self.parts().txn, &|| "region_containing".to_string(), || {
            Ok(load(self)?
                .into_iter()
                .find(|r| r.lifespan.contains(snap) && r.range.contains(addr)))
        })
    }

    /// The regions alive at some snap of `lifespan` with an address in
    /// `range` (bounds inclusive), by name.
    fn intersecting(&self, lifespan: Lifespan, range: AddressRange) -> Result<Vec<Region>> {
        guard_in(self.parts().txn, &|| "regions_intersecting".to_string(), || {
            Ok(load(self)?
                .into_iter()
                .filter(|r| lifespans_meet(r.lifespan, lifespan) && r.range.intersect(&range).is_some())
                .collect())
        })
    }

    /// The regions alive at `snap`, in address order.
    fn at(&self, snap: Snap) -> Result<Vec<Region>> {
        guard_in(self.parts().txn, &|| "regions_at".to_string(), || {
            let mut out: Vec<Region> = load(self)?.into_iter().filter(|r| r.lifespan.contains(snap)).collect();
            out.sort_by_key(|r| r.range.min());
            Ok(out)
        })
    }

    /// The addresses of the regions alive at `snap` that have every flag of
    /// `with` (all of them for [`RegionFlags::NONE`]).
    fn address_set(&self, snap: Snap, with: RegionFlags) -> Result<RangeSet> {
        Ok(self
            .at(snap)?
            .into_iter()
            .filter(|r| r.flags.contains(with))
            .map(|r| r.range)
            .collect())
    }
}

impl RegionRead for Regions<'_> {}
impl RegionRead for RegionsMut<'_> {}

impl Failable for RegionsMut<'_> {
    fn fail(&self, why: String) {
        self.store.fail(why);
    }

    fn failure(&self) -> Option<Error> {
        self.store.failure()
    }
}

impl RegionsMut<'_> {
    /// Checks that `region` may replace the records `replaced` (their first
    /// snaps, all of its name): no other record of its name alive at one of
    /// its snaps, and no region alive at one of its snaps sharing an address.
    fn check_fits(&self, all: &[Region], region: &Region, replaced: &[Snap]) -> Result<()> {
        for other in all {
            if other.name == region.name && replaced.contains(&other.lifespan.min()) {
                continue;
            }
            if !lifespans_meet(other.lifespan, region.lifespan) {
                continue;
            }
            if other.name == region.name {
                return Err(Error::RegionExists {
                    region: region.name.clone(),
                    space: self.name.clone(),
                    snap: other.lifespan.min().max(region.lifespan.min()),
                });
            }
            if other.range.intersect(&region.range).is_some() {
                return Err(Error::RegionOverlap {
                    region: region.name.clone(),
                    other: other.name.clone(),
                    space: self.name.clone(),
                });
            }
        }
        Ok(())
    }

    fn put(&mut self, region: &Region) -> Result<()> {
        let record = RegionRecord {
            lifespan: region.lifespan,
            range: region.range,
            flags: region.flags,
        };
        self.store
            .put_region_record(self.space, &region.name, region.lifespan.min(), &encode(&record))
    }

    /// The record of `name` alive at `snap`, and every record of the space.
    fn alive(&self, name: &str, snap: Snap) -> Result<(Region, Vec<Region>)> {
        let all = load(self)?;
        let region = all
            .iter()
            .find(|r| r.name == name && r.lifespan.contains(snap))
            .cloned()
            .ok_or_else(|| Error::UnknownRegion {
                region: name.to_string(),
                space: self.name.clone(),
                snap,
            })?;
        Ok((region, all))
    }

    /// Adds the region `name` over `[first, last]`, alive over `lifespan`.
    /// Refused: an empty name, a reversed range, another region of that name
    /// alive at one of its snaps, an overlap with a region alive at one of
    /// its snaps.
    pub fn add(&mut self, name: &str, lifespan: Lifespan, first: u64, last: u64, flags: RegionFlags) -> Result<Region> {
        guard_write(self, &|| "add_region".to_string(), |this| {
            if name.is_empty() || name.len() > MAX_NAME_LEN {
                return Err(Error::InvalidRegion {
                    region: name.to_string(),
                    reason: format!("names are 1 to {MAX_NAME_LEN} bytes"),
                });
            }
            let range = region_range(name, first, last)?;
            let region = Region {
                name: name.to_string(),
                space: this.name.clone(),
                lifespan,
                range,
                flags,
            };
            this.check_fits(&load(this)?, &region, &[])?;
            this.put(&region)?;
            Ok(region)
        })
    }

    /// Splits the record of `name` alive at `from` at `from` and applies
    /// `change` to its part from `from` on.
    fn change_from(&mut self, name: &str, from: Snap, change: impl FnOnce(&mut Region)) -> Result<()> {
        let (old, all) = self.alive(name, from)?;
        let mut new = old.clone();
        new.lifespan = Lifespan::new(from, old.lifespan.max())?;
        change(&mut new);
        self.check_fits(&all, &new, &[old.lifespan.min()])?;
        if old.lifespan.min() < from {
            let mut before = old;
            before.lifespan = Lifespan::new(before.lifespan.min(), from - 1)?;
            self.put(&before)?;
        }
        self.put(&new)
    }

    /// Sets the flags of the region `name` from snap `from` on: its record
    /// alive at `from` is split there (unless it starts there) and the part
    /// from `from` to its end gets `flags`. Later records of the name are
    /// separate regions and keep theirs.
    pub fn set_flags(&mut self, name: &str, from: Snap, flags: RegionFlags) -> Result<()> {
        guard_write(self, &|| "set_region_flags".to_string(), |this| {
            this.change_from(name, from, |r| r.flags = flags)
        })
    }

    /// Moves or resizes the region `name` to `[first, last]` from snap
    /// `from` on, splitting its record alive at `from` as
    /// [`RegionsMut::set_flags`] does.
    pub fn set_range(&mut self, name: &str, from: Snap, first: u64, last: u64) -> Result<()> {
        guard_write(self, &|| "set_region_range".to_string(), |this| {
            let range = region_range(name, first, last)?;
            this.change_from(name, from, |r| r.range = range)
        })
    }

    /// Ends the region `name` alive at `from` just before `from`: it is no
    /// longer alive from `from` on (deleted if it started at `from`).
    pub fn delete_from(&mut self, name: &str, from: Snap) -> Result<()> {
        guard_write(self, &|| "delete_region_from".to_string(), |this| {
            let (mut old, _) = this.alive(name, from)?;
            if old.lifespan.min() == from {
                return this.store.delete_region_record(this.space, name, from);
            }
            old.lifespan = Lifespan::new(old.lifespan.min(), from - 1)?;
            this.put(&old)
        })
    }

    /// Gives the record of `name` alive at `snap` the lifespan `lifespan`,
    /// checked as [`RegionsMut::add`] checks.
    pub fn set_lifespan(&mut self, name: &str, snap: Snap, lifespan: Lifespan) -> Result<()> {
        guard_write(self, &|| "set_region_lifespan".to_string(), |this| {
            let (old, all) = this.alive(name, snap)?;
            let mut new = old.clone();
            new.lifespan = lifespan;
            this.check_fits(&all, &new, &[old.lifespan.min()])?;
            this.store.delete_region_record(this.space, name, old.lifespan.min())?;
            this.put(&new)
        })
    }

    /// Deletes the record of `name` alive at `snap`, over its whole lifespan.
    pub fn delete(&mut self, name: &str, snap: Snap) -> Result<()> {
        guard_write(self, &|| "delete_region".to_string(), |this| {
            let (old, _) = this.alive(name, snap)?;
            this.store.delete_region_record(this.space, name, old.lifespan.min())
        })
    }
}

/// The range `[first, last]` of region `name`, refused if reversed.
fn region_range(name: &str, first: u64, last: u64) -> Result<AddressRange> {
    AddressRange::new(first, last).map_err(|_| Error::InvalidRegion {
        region: name.to_string(),
        reason: format!("reversed address range {first:#x}:{last:#x}"),
    })
}
