//! How results look: the hexdump in xxd's layout (bytes or words), JSON
//! documents, and ranges (`0xLO:0xHI`, as the arguments take them).

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

/// One line of words of `word` bytes (`little` or big-endian) for up to 16
/// cells: `40000000: 00000042 ........` (a word with a byte never
/// observed shows dots, one with an ERROR byte `!`s).
pub fn word_line(address: u64, cells: &[Cell], word: usize, little: bool) -> String {
    let mut line = format!("{address:08x}:");
    for chunk in cells.chunks(word) {
        line.push(' ');
        let mut order: Vec<&Cell> = chunk.iter().collect();
        if little {
            order.reverse();
        }
        if chunk.contains(&Cell::Error) {
            line.push_str(&"!!".repeat(chunk.len()));
        } else if chunk.contains(&Cell::Unknown) {
            line.push_str(&"..".repeat(chunk.len()));
        } else {
            for cell in order {
                if let Cell::Known(b) = cell {
                    let _ = write!(line, "{b:02x}");
                }
            }
        }
    }
    line
}

/// An inclusive address range as the arguments take it: `0x1000:0x100f`.
pub fn range_text(first: u64, last: u64) -> String {
    format!("{first:#x}:{last:#x}")
}

/// Prints `docs` as one JSON array (`[]` when empty).
pub fn print_json_array(out: &mut impl std::io::Write, docs: &[serde_json::Value]) -> std::io::Result<()> {
    writeln!(out, "{}", serde_json::Value::Array(docs.to_vec()))
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

    #[test]
    fn words_follow_the_byte_order() {
        let cells: Vec<Cell> = [0x42, 0, 0, 0, 1, 2, 3, 4].iter().map(|&b| Cell::Known(b)).collect();
        assert_eq!(word_line(0x10, &cells, 4, true), "00000010: 00000042 04030201");
        assert_eq!(word_line(0x10, &cells, 4, false), "00000010: 42000000 01020304");
        assert_eq!(
            word_line(0, &[Cell::Known(1), Cell::Unknown], 2, true),
            "00000000: ...."
        );
    }
}
