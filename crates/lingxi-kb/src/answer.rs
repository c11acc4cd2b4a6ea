//! Answers are rich text: an HTML fragment restricted to an allow-list, with a plain-text rendering beside it.

use std::collections::HashSet;

/// The tags an answer may use; everything else is removed (its text kept, except for `script` and `style`).
pub const ALLOWED_TAGS: [&str; 16] =
    ["a", "b", "blockquote", "br", "code", "em", "i", "li", "ol", "p", "pre", "s", "strong", "u", "ul", "span"];

/// An answer in both renderings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The sanitised HTML fragment.
    pub html: String,
    /// The same answer as plain text (paragraphs and line breaks as newlines, list items as "• ").
    pub text: String,
}

/// Sanitises an answer with the allow-list and renders its plain text. Plain text without tags comes out as itself
/// (its newlines kept).
pub fn sanitize_answer(input: &str) -> Answer {
    let html = ammonia::Builder::empty()
        .tags(HashSet::from(ALLOWED_TAGS))
        .add_tag_attributes("a", ["href", "title"])
        .url_schemes(HashSet::from(["http", "https", "mailto", "tel"]))
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean_content_tags(HashSet::from(["script", "style"]))
        .clean(input)
        .to_string();
    let text = plain_text(&html);
    Answer { html, text }
}

/// The plain text of a sanitised fragment (well-formed, as ammonia serialises it).
fn plain_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&unescape(&rest[..lt]));
        let Some(gt) = rest[lt..].find('>') else {
            rest = "";
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        let closing = tag.starts_with('/');
        let name: String = tag.trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        match (name.as_str(), closing) {
            ("br", _) => out.push('\n'),
            ("li", false) => {
                newline(&mut out);
                out.push_str("• ");
            }
            ("p" | "ul" | "ol" | "blockquote" | "pre" | "li", _) => newline(&mut out),
            _ => {}
        }
        rest = &rest[lt + gt + 1..];
    }
    out.push_str(&unescape(rest));
    out.trim().to_owned()
}

/// Ends the current line unless it is already ended (or nothing has been written).
fn newline(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitising_keeps_the_allow_list_and_drops_the_rest() {
        let cases = [
            ("七天无理由退货", "七天无理由退货", "七天无理由退货"),
            ("a < b & c", "a &lt; b &amp; c", "a < b & c"),
            ("<b>粗体</b><script>alert(1)</script>", "<b>粗体</b>", "粗体"),
            ("<p onclick=\"x()\">one</p><p>two</p>", "<p>one</p><p>two</p>", "one\ntwo"),
            ("<img src=x onerror=alert(1)>图", "图", "图"),
            ("<ul><li>一</li><li>二</li></ul>", "<ul><li>一</li><li>二</li></ul>", "• 一\n• 二"),
            ("line 1\nline 2", "line 1\nline 2", "line 1\nline 2"),
            ("a<br>b", "a<br>b", "a\nb"),
            ("<style>p{}</style><i>x</i>", "<i>x</i>", "x"),
        ];
        for (input, html, text) in cases {
            let a = sanitize_answer(input);
            assert_eq!((a.html.as_str(), a.text.as_str()), (html, text), "{input}");
        }
    }

    #[test]
    fn links_keep_only_safe_schemes_and_get_rel() {
        let a =
            sanitize_answer(r#"<a href="https://shop.example/returns">退货</a> <a href="javascript:alert(1)">x</a>"#);
        assert!(a.html.contains(r#"href="https://shop.example/returns""#), "{}", a.html);
        assert!(a.html.contains("noopener"), "{}", a.html);
        assert!(!a.html.contains("javascript"), "{}", a.html);
        assert_eq!(a.text, "退货 x");
    }
}
