//! Turning an export's bytes into text, in the encoding the mapping declares
//! or the one sniffed from the bytes.
//!
//! The whole file is decoded at once: exports are small (a few hundred bytes
//! per person), and having the text whole lets every later step count
//! physical lines exactly. Nothing is ever replaced: a byte that is not valid
//! in the declared encoding is an error at its line, because a guessed
//! character in an email or a department would silently change a grant.

use encoding_rs::{DecoderResult, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// The encoding a mapping asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    /// A byte-order mark decides; without one, UTF-8 when the bytes are valid
    /// UTF-8, else Windows-1252.
    Auto,
    Utf8,
    /// Endianness from the byte-order mark; little-endian without one, as
    /// Windows writes it.
    Utf16,
    Windows1252,
}

impl Encoding {
    pub(super) fn from_name(name: &str) -> Option<Encoding> {
        match name.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Encoding::Auto),
            "utf-8" | "utf8" => Some(Encoding::Utf8),
            "utf-16" | "utf16" => Some(Encoding::Utf16),
            "windows-1252" | "cp1252" => Some(Encoding::Windows1252),
            _ => None,
        }
    }
}

/// Text decoded from an export, and the encoding it turned out to be in.
#[derive(Debug)]
pub(super) struct Decoded {
    pub(super) text: String,
    pub(super) encoding: &'static str,
}

/// Bytes that are not valid in the encoding in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DecodeError {
    /// 1-based physical line of the first bad byte.
    pub(super) line: u32,
    pub(super) encoding: &'static str,
    pub(super) message: String,
}

pub(super) fn decode(bytes: &[u8], declared: Encoding) -> Result<Decoded, DecodeError> {
    let bom = encoding_rs::Encoding::for_bom(bytes);
    match declared {
        Encoding::Auto => match bom {
            Some((encoding, len)) => strict(encoding, &bytes[len..]),
            None if std::str::from_utf8(bytes).is_ok() && !looks_like_utf16(bytes) => {
                strict(UTF_8, bytes)
            }
            None => match utf16_without_bom(bytes) {
                Some(encoding) => strict(encoding, bytes),
                None => strict(WINDOWS_1252, bytes),
            },
        },
        Encoding::Utf8 => match bom {
            Some((encoding, len)) if encoding == UTF_8 => strict(UTF_8, &bytes[len..]),
            Some((encoding, _)) => Err(wrong_bom(encoding, "utf-8")),
            None => strict(UTF_8, bytes),
        },
        Encoding::Utf16 => match bom {
            Some((encoding, len)) if encoding != UTF_8 => strict(encoding, &bytes[len..]),
            Some((encoding, _)) => Err(wrong_bom(encoding, "utf-16")),
            None => strict(UTF_16LE, bytes),
        },
        Encoding::Windows1252 => match bom {
            // In Windows-1252 these bytes would read as "ï»¿" or "ÿþ": far
            // likelier a mislabelled file than a name starting that way.
            Some((encoding, _)) => Err(wrong_bom(encoding, "windows-1252")),
            None => strict(WINDOWS_1252, bytes),
        },
    }
}

/// Without a byte-order mark, ASCII text in UTF-16 is valid UTF-8 full of
/// NUL bytes; a NUL in the first pair gives it away.
fn looks_like_utf16(bytes: &[u8]) -> bool {
    utf16_without_bom(bytes).is_some()
}

fn utf16_without_bom(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    match bytes {
        [a, 0, ..] if *a != 0 => Some(UTF_16LE),
        [0, b, ..] if *b != 0 => Some(UTF_16BE),
        _ => None,
    }
}

fn label(encoding: &'static encoding_rs::Encoding) -> &'static str {
    if encoding == UTF_8 {
        "utf-8"
    } else if encoding == UTF_16LE {
        "utf-16le"
    } else if encoding == UTF_16BE {
        "utf-16be"
    } else {
        "windows-1252"
    }
}

fn wrong_bom(found: &'static encoding_rs::Encoding, declared: &'static str) -> DecodeError {
    DecodeError {
        line: 1,
        encoding: declared,
        message: format!(
            "the file starts with a {} byte-order mark; set csv.encoding to auto or {}",
            label(found),
            if found == UTF_8 { "utf-8" } else { "utf-16" }
        ),
    }
}

fn strict(encoding: &'static encoding_rs::Encoding, bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let name = label(encoding);
    if encoding == UTF_8 {
        return match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Decoded {
                text: text.to_owned(),
                encoding: name,
            }),
            Err(e) => {
                let good = &bytes[..e.valid_up_to()];
                let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
                let bad = bytes[e.valid_up_to()];
                Err(DecodeError {
                    line: line as u32,
                    encoding: name,
                    message: format!(
                        "byte 0x{bad:02X} is not UTF-8; if the file is Windows-1252 \
                         (Excel's \"CSV\"), set csv.encoding to windows-1252 or auto"
                    ),
                })
            }
        };
    }

    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut text = String::with_capacity(
        decoder
            .max_utf8_buffer_length_without_replacement(bytes.len())
            .unwrap_or(bytes.len() * 3),
    );
    let mut input = bytes;
    loop {
        let (result, read) = decoder.decode_to_string_without_replacement(input, &mut text, true);
        input = &input[read..];
        match result {
            DecoderResult::InputEmpty => break,
            DecoderResult::OutputFull => text.reserve(input.len() * 3 + 16),
            DecoderResult::Malformed(_, _) => {
                let line = 1 + text.matches('\n').count();
                return Err(DecodeError {
                    line: line as u32,
                    encoding: name,
                    message: if input.is_empty() {
                        "the file ends in the middle of a character; it looks truncated".into()
                    } else {
                        "the bytes here are not a valid character (a lone surrogate)".into()
                    },
                });
            }
        }
    }
    Ok(Decoded {
        text,
        encoding: name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str, bom: bool) -> Vec<u8> {
        let mut out = if bom { vec![0xFF, 0xFE] } else { vec![] };
        out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        out
    }

    fn utf16be(text: &str) -> Vec<u8> {
        let mut out = vec![0xFE, 0xFF];
        out.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        out
    }

    #[test]
    fn auto_follows_the_byte_order_mark() {
        let text = "Name\nZoë\n";
        let mut bom8 = vec![0xEF, 0xBB, 0xBF];
        bom8.extend(text.as_bytes());
        for (bytes, encoding) in [
            (bom8, "utf-8"),
            (utf16le(text, true), "utf-16le"),
            (utf16be(text), "utf-16be"),
        ] {
            let decoded = decode(&bytes, Encoding::Auto).unwrap();
            assert_eq!(decoded.text, text);
            assert_eq!(decoded.encoding, encoding);
        }
    }

    #[test]
    fn auto_falls_back_to_windows_1252() {
        let decoded = decode(b"Name\nZo\xEB M\xFCller\n", Encoding::Auto).unwrap();
        assert_eq!(decoded.text, "Name\nZoë Müller\n");
        assert_eq!(decoded.encoding, "windows-1252");
    }

    #[test]
    fn auto_recognises_utf16_without_byte_order_mark() {
        let decoded = decode(&utf16le("Name\nAna\n", false), Encoding::Auto).unwrap();
        assert_eq!(decoded.text, "Name\nAna\n");
    }

    #[test]
    fn declared_utf8_rejects_windows_1252_bytes_at_their_line() {
        let err = decode(b"Name\nAna\nZo\xEB\n", Encoding::Utf8).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("0xEB"), "{}", err.message);
    }

    #[test]
    fn declared_encoding_refuses_a_foreign_byte_order_mark() {
        let err = decode(&utf16le("Name\n", true), Encoding::Windows1252).unwrap_err();
        assert!(
            err.message.contains("utf-16le byte-order mark"),
            "{}",
            err.message
        );
        let err = decode(b"\xEF\xBB\xBFName\n", Encoding::Utf16).unwrap_err();
        assert!(
            err.message.contains("utf-8 byte-order mark"),
            "{}",
            err.message
        );
    }

    #[test]
    fn truncated_utf16_is_an_error() {
        let mut bytes = utf16le("Name\nAna\n", true);
        bytes.push(b'X');
        let err = decode(&bytes, Encoding::Utf16).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("truncated"), "{}", err.message);
    }
}
