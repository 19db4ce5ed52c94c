//! Tag templates: a tag such as `"image:{id}"` names values that the handler's
//! argument patterns bind. The generated code hands the original literal to
//! `format!`, so the placeholders resolve to the user's bindings; this module
//! only reads the template to check it at compile time, with `format!`'s
//! syntax: `{name}`, `{name:spec}`, and `{{` / `}}` for literal braces.

/// A tag as written in `tags(...)`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tag {
    /// No placeholder: the tag itself, with `{{` and `}}` unescaped.
    Literal(String),
    /// At least one placeholder: the names it inserts, in order.
    Template(Vec<String>),
}

/// Reads one tag. The error is a sentence for the user; the caller spans it
/// at the string literal.
pub(crate) fn parse(text: &str) -> Result<Tag, String> {
    let mut literal = String::new();
    let mut names = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            '{' if chars.next_if(|&(_, c)| c == '{').is_some() => literal.push('{'),
            '}' if chars.next_if(|&(_, c)| c == '}').is_some() => literal.push('}'),
            '{' => {
                let Some(len) = text[start + 1..].find('}') else {
                    return Err(format!(
                        "unclosed `{{` in tag \"{text}\": write `{{{{` for a literal brace"
                    ));
                };
                let inner = &text[start + 1..start + 1 + len];
                for _ in 0..=inner.chars().count() {
                    chars.next();
                }
                let name = inner.split_once(':').map_or(inner, |(name, _spec)| name);
                names.push(placeholder(text, name)?);
            }
            '}' => {
                return Err(format!(
                    "unmatched `}}` in tag \"{text}\": write `}}}}` for a literal brace"
                ));
            }
            c => literal.push(c),
        }
    }
    Ok(if names.is_empty() {
        Tag::Literal(literal)
    } else {
        Tag::Template(names)
    })
}

/// Checks the name part of one placeholder.
fn placeholder(text: &str, name: &str) -> Result<String, String> {
    if name.is_empty() || name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "positional `{{{name}}}` in tag \"{text}\": a tag template names the argument \
             it inserts, as in \"image:{{id}}\""
        ));
    }
    let is_identifier = !name.starts_with("r#")
        && syn::parse_str::<syn::Ident>(name).is_ok_and(|ident| ident == name);
    if !is_identifier {
        return Err(format!(
            "`{{{name}}}` in tag \"{text}\" is not a name: a tag template inserts names \
             bound by the handler's arguments, as in \"image:{{id}}\""
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(names: &[&str]) -> Result<Tag, String> {
        Ok(Tag::Template(names.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn a_tag_without_placeholder_is_literal() {
        assert_eq!(parse("images"), Ok(Tag::Literal("images".into())));
        assert_eq!(parse(""), Ok(Tag::Literal(String::new())));
    }

    #[test]
    fn doubled_braces_are_literal_braces() {
        assert_eq!(parse("a{{b}}c"), Ok(Tag::Literal("a{b}c".into())));
        assert_eq!(parse("{{id}}"), Ok(Tag::Literal("{id}".into())));
    }

    #[test]
    fn placeholders_give_their_names_in_order() {
        assert_eq!(parse("image:{id}"), template(&["id"]));
        assert_eq!(parse("{camera}/{id}"), template(&["camera", "id"]));
        assert_eq!(parse("{id}{id}"), template(&["id", "id"]));
        assert_eq!(parse("{{x}}:{id}"), template(&["id"]));
        assert_eq!(parse("ünï:{name}"), template(&["name"]));
    }

    #[test]
    fn a_format_spec_is_allowed() {
        assert_eq!(parse("page:{page:04}"), template(&["page"]));
        assert_eq!(parse("{id:?}"), template(&["id"]));
    }

    #[test]
    fn positional_placeholders_are_errors() {
        assert!(
            parse("image:{}")
                .unwrap_err()
                .starts_with("positional `{}`")
        );
        assert!(
            parse("image:{0}")
                .unwrap_err()
                .starts_with("positional `{0}`")
        );
        assert!(
            parse("image:{:?}")
                .unwrap_err()
                .starts_with("positional `{}`")
        );
    }

    #[test]
    fn expressions_are_not_names() {
        assert_eq!(
            parse("{id.0}").unwrap_err(),
            "`{id.0}` in tag \"{id.0}\" is not a name: a tag template inserts names bound by \
             the handler's arguments, as in \"image:{id}\""
        );
        assert!(parse("{ id }").unwrap_err().contains("is not a name"));
        assert!(parse("{type}").unwrap_err().contains("is not a name"));
    }

    #[test]
    fn unbalanced_braces_are_errors() {
        assert_eq!(
            parse("image:{id").unwrap_err(),
            "unclosed `{` in tag \"image:{id\": write `{{` for a literal brace"
        );
        assert_eq!(
            parse("image:id}").unwrap_err(),
            "unmatched `}` in tag \"image:id}\": write `}}` for a literal brace"
        );
    }
}
