//! The arguments of `#[invalidates(...)]` as written: string literals (the
//! tags) first, then optional `cache = expr` and `crate = path`, read by
//! darling. Only their shape is checked here.

use darling::ast::NestedMeta;
use darling::error::Accumulator;
use darling::{Error, FromMeta};
use proc_macro2::TokenStream;
use syn::{Lit, LitStr};

use crate::args::{CratePath, UserExpr};

/// The named arguments.
#[derive(Debug, Default, FromMeta)]
pub(crate) struct Named {
    /// The cache to invalidate in instead of the request's.
    pub cache: Option<UserExpr>,
    /// The path of the `cached-etag` crate, for re-exporters.
    #[darling(rename = "crate")]
    pub krate: Option<CratePath>,
}

/// Everything between the parentheses.
#[derive(Debug, Default)]
pub(crate) struct Args {
    /// The tags, as written.
    pub tags: Vec<LitStr>,
    /// `cache = ...`, `crate = ...`.
    pub named: Named,
}

impl Args {
    /// Parses the arguments, pushing every mistake to `errors` and keeping
    /// what parsed, so that the model still checks it.
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Accumulator) -> Args {
        let Some(items) = errors.handle(NestedMeta::parse_meta_list(tokens).map_err(Error::from))
        else {
            return Args::default();
        };
        let mut tags = Vec::new();
        let mut metas = Vec::new();
        for item in items {
            match item {
                NestedMeta::Lit(Lit::Str(tag)) => tags.push(tag),
                NestedMeta::Lit(other) => errors.push(
                    Error::custom("expected a tag as a string literal, as in \"camera:{id}\"")
                        .with_span(&other),
                ),
                meta => metas.push(meta),
            }
        }
        let named = errors.handle(Named::from_list(&metas)).unwrap_or_default();
        Args { tags, named }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn parse(tokens: TokenStream) -> (Args, Vec<String>) {
        let mut errors = Error::accumulator();
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
