//! Text normalisation: Unicode NFKC, width, case, traditional → simplified Chinese, punctuation and noise.

use std::collections::HashMap;
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;

/// The OpenCC-derived traditional → simplified character table, parsed once (an immutable constant).
static T2S: LazyLock<HashMap<char, char>> = LazyLock::new(|| {
    let mut map = HashMap::new();
    for line in include_str!("../data/t2s.txt").lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut chars = line.chars();
        if let (Some(t), Some(' '), Some(s)) = (chars.next(), chars.next(), chars.next()) {
            map.insert(t, s);
        }
    }
    map
});

/// Converts one traditional Chinese character to simplified (other characters are returned unchanged).
pub fn to_simplified(c: char) -> char {
    T2S.get(&c).copied().unwrap_or(c)
}

/// Whether `c` is written without spaces between words (Han, kana, Hangul).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F
        | 0x3040..=0x30FF | 0x31F0..=0x31FF | 0xAC00..=0xD7AF | 0x3005 | 0x3007)
}

/// Whether `c` may join two parts of a number or an order id ("3.5", "SO-2023-001").
fn is_joiner(c: char) -> bool {
    matches!(c, '.' | '-' | '_' | '/' | ':' | '#')
}

/// Normalises text for matching.
///
/// Applies NFKC (which folds full-width forms to half width), lower-cases, converts traditional Chinese to
/// simplified, drops apostrophes inside words, turns punctuation, symbols and emoji into single spaces and keeps
/// numbers and order ids ("SO-2023-001", "3.5") whole. The result has single spaces and no leading or trailing space.
pub fn normalize(text: &str) -> String {
    let chars: Vec<char> = text.nfkc().flat_map(char::to_lowercase).map(to_simplified).collect();
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for (i, &c) in chars.iter().enumerate() {
        let prev = if i > 0 { chars[i - 1] } else { ' ' };
        let next = chars.get(i + 1).copied().unwrap_or(' ');
        let keep = if c.is_alphanumeric() {
            true
        } else if is_joiner(c) {
            let (pa, na) = (prev.is_ascii_alphanumeric(), next.is_ascii_alphanumeric());
            pa && na && (prev.is_ascii_digit() || next.is_ascii_digit())
        } else if matches!(c, '\'' | '’') && prev.is_alphabetic() && next.is_alphabetic() {
            // "don't" → "dont": drop the apostrophe without splitting the word.
            continue;
        } else {
            false
        };
        if keep {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        } else {
            pending_space = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalises_like_a_specification() {
        let cases = [
            ("Hello, World!", "hello world"),
            ("ＡＢＣ１２３　全角", "abc123 全角"),
            ("我們的訂單號碼是多少？？？", "我们的订单号码是多少"),
            ("退款。。。怎么还没到😡😡", "退款 怎么还没到"),
            ("Order #SO-2023-0042 isn't here", "order so-2023-0042 isnt here"),
            ("价格3.5元", "价格3.5元"),
            ("   ", ""),
            ("e-mail", "e mail"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize(input), expected, "input: {input}");
        }
    }
}
