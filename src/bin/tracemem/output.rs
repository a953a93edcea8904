//! How results look: the hexdump in xxd's layout, and JSON strings.

use std::fmt::Write as _;

/// What one byte of a hexdump shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// Never observed: `..`.
    Unknown,
    /// The most recent state is ERROR: `!!`.
    Error,
    /// A known value.
    Known(u8),
}

/// One line of xxd's layout for up to 16 cells starting at `address`:
/// `0000000040000000: 4200 0000 .... !!!!  B...`.
pub fn hexdump_line(address: u64, cells: &[Cell]) -> String {
    let mut line = format!("{address:08x}:");
    for (i, cell) in cells.iter().enumerate() {
        if i % 2 == 0 {
            line.push(' ');
        }
        match cell {
            Cell::Unknown => line.push_str(".."),
            Cell::Error => line.push_str("!!"),
            Cell::Known(b) => {
                let _ = write!(line, "{b:02x}");
            }
        }
    }
    // Pad a short last line so the text column lines up.
    let width = 16 * 2 + 8;
    let used = cells.len() * 2 + cells.len().div_ceil(2);
    line.push_str(&" ".repeat(width - used));
    line.push_str("  ");
    for cell in cells {
        line.push(match cell {
            Cell::Known(b) if b.is_ascii_graphic() || *b == b' ' => char::from(*b),
            _ => '.',
        });
    }
    line
}

/// A JSON string literal of `text`.
pub fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string())
}

/// A progress bar on standard error with `template`: drawn only when
/// standard error is a terminal, never with `quiet`.
pub fn progress_bar(template: &str, quiet: bool) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    if quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template(template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_xxd() {
        let cells: Vec<Cell> = b"Hello, tracemem!".iter().map(|&b| Cell::Known(b)).collect();
        assert_eq!(
            hexdump_line(0x10, &cells),
            "00000010: 4865 6c6c 6f2c 2074 7261 6365 6d65 6d21  Hello, tracemem!"
        );
        assert_eq!(
            hexdump_line(0x4000_0000, &[Cell::Known(0x42), Cell::Unknown, Cell::Error]),
            "40000000: 42.. !!                                  B.."
        );
    }
}
