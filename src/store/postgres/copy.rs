//! Rows in `COPY … FROM STDIN`'s text format: one line per row, its values separated by tabs,
//! `\N` for NULL, and the four characters that would end a value or a line escaped. Used by the
//! writer (a batch's calls) and by `push` (a local run's rows).

use std::fmt::Write as _;

use rust_decimal::Decimal;

/// Appends `text` escaped for COPY's text format.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// A COPY text buffer written a row at a time: [`CopyRows::row`] starts a row, each value call
/// adds one column.
#[derive(Debug, Default)]
pub struct CopyRows {
    out: String,
    first: bool,
}

impl CopyRows {
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            out: String::with_capacity(bytes),
            first: true,
        }
    }

    /// Ends the row before (if any) and starts a new one.
    pub fn row(&mut self) -> &mut Self {
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.first = true;
        self
    }

    fn separate(&mut self) {
        if !self.first {
            self.out.push('\t');
        }
        self.first = false;
    }

    pub fn null(&mut self) -> &mut Self {
        self.separate();
        self.out.push_str("\\N");
        self
    }

    pub fn int(&mut self, n: i64) -> &mut Self {
        self.separate();
        let _ = write!(self.out, "{n}");
        self
    }

    pub fn opt_int(&mut self, n: Option<i64>) -> &mut Self {
        match n {
            Some(n) => self.int(n),
            None => self.null(),
        }
    }

    pub fn flag(&mut self, b: bool) -> &mut Self {
        self.separate();
        self.out.push(if b { 't' } else { 'f' });
        self
    }

    pub fn opt_flag(&mut self, b: Option<bool>) -> &mut Self {
        match b {
            Some(b) => self.flag(b),
            None => self.null(),
        }
    }

    /// Exact money: the decimal's own digits, which `NUMERIC` reads back unchanged.
    pub fn money(&mut self, amount: Decimal) -> &mut Self {
        self.separate();
        let _ = write!(self.out, "{amount}");
        self
    }

    pub fn text(&mut self, text: &str) -> &mut Self {
        self.separate();
        escape_into(&mut self.out, text);
        self
    }

    pub fn opt_text(&mut self, text: Option<&str>) -> &mut Self {
        match text {
            Some(text) => self.text(text),
            None => self.null(),
        }
    }

    /// The rows, each ended by a newline; empty when there are none.
    pub fn finish(mut self) -> String {
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn rows_are_written_in_copy_text_format() {
        let mut rows = CopyRows::with_capacity(64);
        rows.row()
            .null()
            .int(-42)
            .flag(true)
            .text("a\tb\nc\\d\re")
            .money(Decimal::from_str("0.0000054").unwrap());
        rows.row()
            .opt_int(None)
            .opt_text(Some("x"))
            .opt_flag(Some(false))
            .money(Decimal::from_str("-1234567890123456789.000000001").unwrap());
        assert_eq!(
            rows.finish(),
            "\\N\t-42\tt\ta\\tb\\nc\\\\d\\re\t0.0000054\n\
             \\N\tx\tf\t-1234567890123456789.000000001\n"
        );
        assert_eq!(CopyRows::with_capacity(0).finish(), "");
    }
}
