//! The transactions' region methods: the memory map of a space (see
//! [`crate::regions`]).

use crate::db::{ReadTransaction, WriteTransaction};
use crate::memory::regions::{Regions, RegionsMut};
use crate::store::StoreRead;
use crate::store::boundary::guard;
use crate::vocab::error::{Error, Result};

impl ReadTransaction {
    /// The regions of the space `space`.
    pub fn regions(&self, space: &str) -> Result<Regions<'_>> {
        guard(&|| "regions".to_string(), || {
            let id = self.store.space_id(space)?.ok_or_else(|| Error::UnknownSpace {
                name: space.to_string(),
            })?;
            Ok(Regions {
                store: &self.store,
                space: id,
                name: space.to_string(),
            })
        })
    }
}

impl WriteTransaction {
    /// The regions of the space `space`, created if it does not exist.
    pub fn regions(&mut self, space: &str) -> Result<RegionsMut<'_>> {
        let id = self.create_space(space)?.space;
        Ok(RegionsMut {
            store: &mut self.store,
            space: id,
            name: space.to_string(),
        })
    }
}
