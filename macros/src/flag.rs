//! A flag argument (`strong`, `#[resource(id)]`): present when written
//! alone, absent when not written, an error with any value.
//!
//! darling's own `Flag` (0.24) panics on a flag written with empty
//! parentheses (`strong()`): it asks `()` for the error such a value should
//! give, and `()` accepts an empty list. This one reports it instead, and
//! leaves every other case to darling, so its messages stay the same.

use darling::{Error, FromMeta, Result};
use proc_macro2::Span;
use syn::Meta;

/// Whether a flag was written, and where.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Flag(darling::util::Flag);

impl Flag {
    /// Whether the flag was written.
    pub(crate) fn is_present(&self) -> bool {
        self.0.is_present()
    }

    /// Where the flag was written, or the call site if it was not.
    pub(crate) fn span(&self) -> Span {
        self.0.span()
    }
}

impl FromMeta for Flag {
    fn from_none() -> Option<Self> {
        Some(Flag::default())
    }

    fn from_meta(meta: &Meta) -> Result<Self> {
        match meta {
            Meta::List(list) if list.tokens.is_empty() => {
                let name = list
                    .path
                    .get_ident()
                    .map_or_else(String::new, |name| name.to_string());
                Err(Error::custom(format!(
                    "`{name}` is a flag and takes no parentheses: write `{name}` alone"
                ))
                .with_span(meta))
            }
            _ => darling::util::Flag::from_meta(meta).map(Flag),
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    /// Every flag of `#[cached_etag]`, written `name()`, through the
    /// attribute's whole entry: one error each, no panic.
    #[test]
    fn a_flag_with_empty_parentheses_is_an_error_not_a_panic() {
        for flag in [
            "strong",
            "shared",
            "public",
            "no_cache",
            "immutable",
            "surrogate_keys",
        ] {
            let flag = syn::Ident::new(flag, proc_macro2::Span::call_site());
            let out = crate::expand::attribute(
                quote!(#flag()),
                quote!(
                    async fn handler() -> String {
                        String::new()
                    }
                ),
            )
            .to_string();
            let expected = format!("`{flag}` is a flag and takes no parentheses");
            assert!(out.contains(&expected), "{out}");
            assert!(out.contains("async fn handler"), "{out}");
        }
    }

    #[test]
    fn a_resource_mark_with_empty_parentheses_is_an_error_not_a_panic() {
        let out = crate::derive::resource(quote! {
            struct Camera {
                #[resource(id())]
                slug: String,
            }
        })
        .to_string();
        assert!(
            out.contains("`id` is a flag and takes no parentheses"),
            "{out}"
        );
    }

    /// What darling's flag already reported stays as it was.
    #[test]
    fn a_flag_with_a_value_keeps_darlings_error() {
        let out = crate::expand::attribute(
            quote!(strong = true),
            quote!(
                async fn handler() {}
            ),
        )
        .to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(!out.contains("takes no parentheses"), "{out}");
    }
}
