//! The transactions' bus register map methods: the names of a bus's
//! registers (see [`crate::vocab::bus_map`]), stored per space.

use crate::db::{ReadTransaction, WriteTransaction};
use crate::store::StoreRead;
use crate::store::boundary::{guard, guard_in, guard_write};
use crate::store::busmap;
use crate::vocab::bus_map::BusMap;
use crate::vocab::error::Result;

/// The bus register map of space `space` in `store` (empty without one).
fn load(store: &dyn StoreRead, space: &str) -> Result<BusMap> {
    let Some(id) = store.space_id(space)? else {
        return Ok(BusMap::default());
    };
    let registers = store
        .bus_register_records(id)?
        .into_iter()
        .map(|(address, record)| busmap::decode(id, address, &record))
        .collect::<Result<Vec<_>>>()?;
    BusMap::new(registers)
}

impl ReadTransaction {
    /// The register map of the bus recorded into space `space` (empty if
    /// none was set, or there is no such space).
    pub fn bus_map(&self, space: &str) -> Result<BusMap> {
        guard(&|| format!("the bus register map of '{space}'"), || {
            load(&self.store, space)
        })
    }
}

impl WriteTransaction {
    /// Stores `map` as the register map of the bus recorded into space
    /// `space` (created if missing), replacing any earlier.
    pub fn set_bus_map(&mut self, space: &str, map: &BusMap) -> Result<()> {
        guard_write(self, &|| format!("setting the bus register map of '{space}'"), |this| {
            let id = this.create_space(space)?.space;
            let records: Vec<(u64, Vec<u8>)> = map.iter().map(|r| (r.address, busmap::encode(r))).collect();
            this.store.replace_bus_register_records(id, &records)
        })
    }

    /// The register map of the bus recorded into `space`, including this
    /// transaction's changes.
    pub fn bus_map(&self, space: &str) -> Result<BusMap> {
        guard_in(
            Some(&self.store),
            &|| format!("the bus register map of '{space}'"),
            || load(&self.store, space),
        )
    }
}
