//! The arguments of `#[invalidates(...)]` as written: string literals (the
//! tags) first, then optional `cache = expr` and `crate = path`, read as
//! [`crate::nested`] reads a list. Only their shape is checked here.

use proc_macro2::TokenStream;
use syn::{Lit, LitStr};

use crate::args::{CratePath, UserExpr};
use crate::errors::Errors;
use crate::nested::{self, Nested, Seen};

/// The named arguments.
#[derive(Default)]
pub(crate) struct Named {
    /// The cache to invalidate in instead of the request's.
    pub cache: Option<UserExpr>,
    /// The path of the `cached-etag` crate, for re-exporters.
    pub krate: Option<CratePath>,
}

/// Everything between the parentheses.
#[derive(Default)]
pub(crate) struct Args {
    /// The tags, as written.
    pub tags: Vec<LitStr>,
    /// `cache = ...`, `crate = ...`.
    pub named: Named,
}

impl Args {
    /// Parses the arguments, pushing every mistake to `errors` and keeping
    /// what parsed, so that the model still checks it.
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
        let mut args = Args::default();
        let Some(items) = errors.handle(nested::parse_list(tokens)) else {
            return args;
        };
        // The tags first, then the named arguments: the errors in that order.
        for item in &items {
            match item {
                Nested::Lit(Lit::Str(tag)) => args.tags.push(tag.clone()),
                Nested::Lit(other) => errors.push(syn::Error::new(
                    other.span(),
                    "expected a tag as a string literal, as in \"camera:{id}\"",
                )),
                _ => {}
            }
        }
        let mut seen = Seen::default();
        for item in &items {
            let Some(path) = item.path() else { continue };
            let name = nested::path_to_string(path);
            match name.as_str() {
                "cache" => seen.fill(&mut args.named.cache, &name, item, errors),
                "crate" => seen.fill(&mut args.named.krate, &name, item, errors),
                _ => errors.push(nested::unknown_field(item, &name, &["cache", "crate"])),
            }
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn parse(tokens: TokenStream) -> (Args, Vec<String>) {
        let mut errors = Errors::new();
        let args = Args::parse(tokens, &mut errors);
        let messages = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        };
        (args, messages)
    }

    #[test]
    fn tags_then_named_arguments() {
        let (args, errors) = parse(quote!("a", "b:{id}", cache = state.cache, crate = ::x));
        assert!(errors.is_empty(), "{errors:?}");
        let tags: Vec<String> = args.tags.iter().map(LitStr::value).collect();
        assert_eq!(tags, ["a", "b:{id}"]);
        assert!(args.named.cache.is_some() && args.named.krate.is_some());
    }

    #[test]
    fn a_non_string_tag_and_an_unknown_name_are_both_reported() {
        let (args, errors) = parse(quote!("a", 7, ttl = 5));
        assert_eq!(args.tags.len(), 1);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("expected a tag as a string literal"));
        assert!(errors[1].contains("ttl"));
    }
}
