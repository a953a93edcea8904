//! The transactions' register methods: the register map and scope, and the
//! registers of a thread or frame (see [`crate::memory::registers`]).

use crate::db::{ReadTransaction, WriteTransaction};
use crate::memory::registers::{Registers, RegistersMut, load_map};
use crate::store::boundary::{guard, guard_in, guard_write};
use crate::store::regmap::load_scope;
use crate::vocab::error::Result;
use crate::vocab::register::{RegisterMap, RegisterScope};

impl ReadTransaction {
    /// The register map stored in the database (empty if none was set).
    pub fn register_map(&self) -> Result<RegisterMap> {
        guard(&|| "register_map".to_string(), || load_map(&self.store))
    }

    /// How register spaces map to threads and frames.
    pub fn register_scope(&self) -> Result<RegisterScope> {
        guard(&|| "register_scope".to_string(), || load_scope(&self.store))
    }

    /// The registers of `thread` (its frame 0); an error if nothing was ever
    /// written to them.
    pub fn registers(&self, thread: &str) -> Result<Registers<'_>> {
        self.registers_in_frame(thread, 0)
    }

    /// The registers of `frame` of `thread` (see [`RegisterScope`]); an
    /// error if nothing was ever written to them.
    pub fn registers_in_frame(&self, thread: &str, frame: u32) -> Result<Registers<'_>> {
        let scope = self.register_scope()?;
        let name = scope.space_name(thread, frame)?;
        let map = self.register_map()?;
        Ok(Registers {
            mem: self.space(&name)?,
            map,
        })
    }
}

impl WriteTransaction {
    /// Stores `map` as the database's register map, replacing any earlier.
    /// Values already recorded stay where they are: registers are bytes of
    /// their spaces.
    pub fn set_register_map(&mut self, map: &RegisterMap) -> Result<()> {
        guard_write(self, &|| "set_register_map".to_string(), |this| {
            let records: Vec<(String, Vec<u8>)> = map
                .iter()
                .map(|def| (def.name.clone(), crate::store::regmap::encode(def)))
                .collect();
            this.store.replace_register_records(&records)
        })
    }

    /// The register map, including this transaction's changes.
    pub fn register_map(&self) -> Result<RegisterMap> {
        guard_in(Some(&self.store), &|| "register_map".to_string(), || {
            load_map(&self.store)
        })
    }

    /// Sets how register spaces map to threads and frames from now on
    /// (spaces already written keep their names and contents).
    pub fn set_register_scope(&mut self, scope: RegisterScope) -> Result<()> {
        guard_write(self, &|| "set_register_scope".to_string(), |this| {
            this.store.set_register_scope(scope)
        })
    }

    /// How register spaces map to threads and frames, including this
    /// transaction's change.
    pub fn register_scope(&self) -> Result<RegisterScope> {
        guard_in(Some(&self.store), &|| "register_scope".to_string(), || {
            load_scope(&self.store)
        })
    }

    /// The registers of `thread` (its frame 0), their space created if needed.
    pub fn registers(&mut self, thread: &str) -> Result<RegistersMut<'_>> {
        self.registers_in_frame(thread, 0)
    }

    /// The registers of `frame` of `thread` (see [`RegisterScope`]), their
    /// space created if needed.
    pub fn registers_in_frame(&mut self, thread: &str, frame: u32) -> Result<RegistersMut<'_>> {
        let scope = self.register_scope()?;
        let name = scope.space_name(thread, frame)?;
        let map = self.register_map()?;
        Ok(RegistersMut {
            mem: self.create_space(&name)?,
            map,
        })
    }
}
