//! Splitting decoded export text into a header and rows, each row with the
//! physical line it starts on.
//!
//! Parsing is the csv crate's (RFC 4180 quoting, CRLF or LF). Two things it
//! does not do are done here: it reports the line where a record's read began,
//! which is before any blank lines it skipped, so the line is moved past
//! them; and it ends a quoted field silently at the end of input, which would
//! let a truncated export through as a shorter last row, so a quote still
//! open at the end is an error.

/// The candidates that `delimiter: auto` chooses from, in the order that
/// breaks ties.
const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

/// An export split into cells.
#[derive(Debug)]
pub(super) struct Table {
    pub(super) header: Vec<String>,
    pub(super) rows: Vec<Row>,
}

/// A data row that is not blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Row {
    /// 1-based physical line the row starts on.
    pub(super) line: u32,
    pub(super) fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TableError {
    /// No header: the file is empty or blank.
    NoHeader,
    /// A quoted field opened on this line never closes.
    UnterminatedQuote { line: u32 },
}

/// The candidate that splits the header line into the most fields outside
/// quotes; `,` when none splits it.
pub(super) fn sniff_delimiter(text: &str) -> u8 {
    let header = header_line(text);
    let mut best = (b',', 0usize);
    for candidate in CANDIDATES {
        let mut in_quotes = false;
        let count = header
            .bytes()
            .filter(|&b| {
                if b == b'"' {
                    in_quotes = !in_quotes;
                }
                b == candidate && !in_quotes
            })
            .count();
        if count > best.1 {
            best = (candidate, count);
        }
    }
    best.0
}

/// The first non-empty line, up to a line break outside quotes.
fn header_line(text: &str) -> &str {
    let text = text.trim_start_matches(['\r', '\n']);
    let mut in_quotes = false;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' | b'\r' if !in_quotes => return &text[..i],
            _ => {}
        }
    }
    text
}

pub(super) fn read_table(text: &str, delimiter: u8) -> Result<Table, TableError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());

    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    let mut last_start = None;
    let mut record = csv::StringRecord::new();
    loop {
        // Reading from a `&str` cannot fail on I/O or UTF-8, and flexible
        // mode accepts any number of fields, so an error here is a bug.
        let more = reader
            .read_record(&mut record)
            .expect("reading flexible records from a str cannot fail");
        if !more {
            break;
        }
        // The position is where the read began; the record itself starts
        // after any blank lines the reader skipped.
        let position = record.position().expect("csv records carry a position");
        let mut start = position.byte() as usize;
        let mut line = position.line() as u32;
        for b in text[start..].bytes() {
            match b {
                b'\n' => line += 1,
                b'\r' => {}
                _ => break,
            }
            start += 1;
        }
        last_start = Some((start, line));

        let fields: Vec<String> = record.iter().map(str::to_owned).collect();
        match &mut header {
            None => {
                let mut fields = fields;
                if let Some(first) = fields.first_mut()
                    && let Some(rest) = first.strip_prefix('\u{feff}')
                {
                    *first = rest.to_owned();
                }
                header = Some(fields);
            }
            Some(_) => {
                if !fields.iter().all(|f| f.trim().is_empty()) {
                    rows.push(Row { line, fields });
                }
            }
        }
    }

    if let Some((start, line)) = last_start
        && let Some(line) = open_quote_line(&text[start..], delimiter, line)
    {
        return Err(TableError::UnterminatedQuote { line });
    }
    let header = header.ok_or(TableError::NoHeader)?;
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err(TableError::NoHeader);
    }
    Ok(Table { header, rows })
}

/// The line where a quoted field opens and never closes in `record`, the text
/// of one record to the end of input, read the way the csv crate reads it: a
/// quote opens a field only at its start, and `""` inside is a literal quote.
fn open_quote_line(record: &str, delimiter: u8, first_line: u32) -> Option<u32> {
    let bytes = record.as_bytes();
    let mut line = first_line;
    let mut open_at = None;
    let mut field_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if open_at.is_some() {
            if b == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    open_at = None;
                    field_start = false;
                }
            }
        } else {
            if b == b'"' && field_start {
                open_at = Some(line);
            }
            field_start = b == delimiter || b == b'\n' || b == b'\r';
        }
        if b == b'\n' {
            line += 1;
        }
        i += 1;
    }
    open_at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(table: &Table) -> Vec<u32> {
        table.rows.iter().map(|r| r.line).collect()
    }

    #[test]
    fn sniffs_the_delimiter_from_the_header_outside_quotes() {
        assert_eq!(sniff_delimiter("a,b,c\n1;2;3;4;5\n"), b',');
        assert_eq!(sniff_delimiter("\"a,b\";c;d\n"), b';');
        assert_eq!(sniff_delimiter("a\tb\tc\n"), b'\t');
        assert_eq!(sniff_delimiter("a|b|c\r\n"), b'|');
        assert_eq!(sniff_delimiter("single\n"), b',');
    }

    #[test]
    fn rows_keep_their_physical_lines() {
        let text = "h1,h2\r\na,\"multi\r\nline\"\r\n\r\n,\r\nx,y\r\n\r\n\r\n";
        let table = read_table(text, b',').unwrap();
        assert_eq!(table.header, ["h1", "h2"]);
        assert_eq!(lines(&table), [2, 6]);
        assert_eq!(table.rows[0].fields, ["a", "multi\r\nline"]);
        assert_eq!(table.rows[1].fields, ["x", "y"]);
    }

    #[test]
    fn quotes_and_doubled_quotes_are_read() {
        let text = "n;t\n\"Smith; Jr.\";\"Kit \"\"KJ\"\"\"\n";
        let table = read_table(text, b';').unwrap();
        assert_eq!(table.rows[0].fields, ["Smith; Jr.", "Kit \"KJ\""]);
    }

    #[test]
    fn delimiter_only_rows_are_blank() {
        let table = read_table("a;b;c\n1;2;3\n;;\n ; ;\n", b';').unwrap();
        assert_eq!(lines(&table), [2]);
    }

    #[test]
    fn an_unclosed_quote_is_an_error_at_its_line() {
        let text = "a,b\n1,2\n3,\"cut\nshort";
        assert_eq!(
            read_table(text, b',').unwrap_err(),
            TableError::UnterminatedQuote { line: 3 }
        );
        let text = "a,b\n1,\"ends with an escaped quote\"\"";
        assert_eq!(
            read_table(text, b',').unwrap_err(),
            TableError::UnterminatedQuote { line: 2 }
        );
    }

    #[test]
    fn a_closed_quote_at_the_end_is_fine() {
        let table = read_table("a,b\n1,\"two\"", b',').unwrap();
        assert_eq!(table.rows[0].fields, ["1", "two"]);
        let table = read_table("a,b\n1,x\"y", b',').unwrap();
        assert_eq!(table.rows[0].fields, ["1", "x\"y"]);
    }

    #[test]
    fn the_header_loses_its_byte_order_mark() {
        let table = read_table("\u{feff}Employee #,Email\n1,a@x\n", b',').unwrap();
        assert_eq!(table.header, ["Employee #", "Email"]);
    }

    #[test]
    fn an_empty_file_has_no_header() {
        assert_eq!(read_table("", b',').unwrap_err(), TableError::NoHeader);
        assert_eq!(read_table("\n\n", b',').unwrap_err(), TableError::NoHeader);
        assert_eq!(read_table(",,\n", b',').unwrap_err(), TableError::NoHeader);
    }
}
