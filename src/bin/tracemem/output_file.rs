//! Where a verb's `-o PATH` writes, so that an output can't destroy data:
//! `-` is standard output; a file is written beside `PATH` and renamed over
//! it only when complete (a failure leaves no partial file); `PATH` is
//! refused when it is one of the verb's inputs (the same file, a hard link
//! to it, or a symlink to it) and, unless `--force`, when it exists.

use std::fs::File;
use std::io::BufWriter;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::failure::Failure;

/// A file being written, renamed into place by [`OutputFile::finish`];
/// dropped unfinished, it is removed.
pub struct OutputFile {
    temporary: PathBuf,
    target: PathBuf,
    file: Option<BufWriter<File>>,
    /// Renamed into place: nothing to remove.
    done: bool,
}

/// Whether `a` and `b` are one file (same device and inode, symlinks
/// followed); false when either does not exist.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Refuses an output `path` of `verb` that is one of its `inputs`.
pub fn refuse_inputs(verb: &str, path: &Path, inputs: &[&Path]) -> Result<(), Failure> {
    match inputs.iter().find(|input| same_file(path, input)) {
        Some(input) => Err(Failure::error(
            format!("{verb}: {}", path.display()),
            format!("refusing to write onto the input {}", input.display()),
        )),
        None => Ok(()),
    }
}

/// Opens the output `path` of `verb`; `None` for `-` (standard output).
pub fn create(verb: &str, path: &Path, inputs: &[&Path], force: bool) -> Result<Option<OutputFile>, Failure> {
    if path.as_os_str() == "-" {
        return Ok(None);
    }
    let shown = path.display();
    refuse_inputs(verb, path, inputs)?;
    if !force && std::fs::symlink_metadata(path).is_ok() {
        return Err(Failure::error(
            format!("{verb}: {shown}"),
            "the file exists; pass --force to replace it",
        ));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.partial", std::process::id()));
    let file = File::create(&temporary).map_err(|e| Failure::error(format!("{verb}: {}", temporary.display()), e))?;
    Ok(Some(OutputFile {
        temporary,
        target: path.to_path_buf(),
        file: Some(BufWriter::new(file)),
        done: false,
    }))
}

impl OutputFile {
    /// The writer of the file's contents.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.file.as_mut().expect("written before finish")
    }

    /// Flushes the file to the disk and renames it over the target.
    pub fn finish(mut self, verb: &str) -> Result<(), Failure> {
        let what = || format!("{verb}: {}", self.target.display());
        let file = self.file.take().expect("finished once");
        let file = file.into_inner().map_err(|e| Failure::error(what(), e.into_error()))?;
        file.sync_all().map_err(|e| Failure::error(what(), e))?;
        std::fs::rename(&self.temporary, &self.target).map_err(|e| Failure::error(what(), e))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if !self.done {
            drop(self.file.take());
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}
