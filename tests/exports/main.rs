//! The exports, read back by the readers other tools use: waveforms by
//! wellen (the library behind the Surfer viewer).

mod waveforms;
