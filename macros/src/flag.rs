//! A flag argument (`strong`, `#[resource(id)]`): present when written
//! alone, absent when not written, an error with any value or parentheses.

use proc_macro2::Span;
use syn::Meta;
use syn::spanned::Spanned;

use crate::nested::{FromMeta, Slot, unexpected_type};

/// Whether a flag was written, and where.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Flag(Option<Span>);

impl Flag {
    /// Whether the flag was written.
    pub(crate) fn is_present(&self) -> bool {
        self.0.is_some()
    }

    /// Where the flag was written, or the call site if it was not.
    pub(crate) fn span(&self) -> Span {
        self.0.unwrap_or_else(Span::call_site)
    }
}

impl FromMeta for Flag {
    fn from_meta(meta: &Meta) -> syn::Result<Self> {
        match meta {
            Meta::Path(path) => Ok(Flag(Some(path.span()))),
            Meta::List(list) => {
                let name = list
                    .path
                    .get_ident()
                    .map_or_else(String::new, |name| name.to_string());
                Err(syn::Error::new(
                    meta.span(),
                    format!("`{name}` is a flag and takes no parentheses: write `{name}` alone"),
                ))
            }
            Meta::NameValue(name_value) => Err(unexpected_type(&name_value.value)),
        }
    }
}

impl Slot for Flag {
    type Value = Flag;

    fn is_filled(&self) -> bool {
        self.is_present()
    }

    fn fill(&mut self, value: Flag) {
        *self = value;
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

    /// A value is an error of its own: its type is not a flag's.
    #[test]
    fn a_flag_with_a_value_is_an_error() {
        let out = crate::expand::attribute(
            quote!(strong = true),
            quote!(
                async fn handler() {}
            ),
        )
        .to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(!out.contains("takes no parentheses"), "{out}");
        assert!(out.contains("Unexpected type `bool`"), "{out}");
    }

    /// Anything in the parentheses: the same error, once.
    #[test]
    fn a_flag_with_arguments_in_parentheses_is_one_error() {
        let out = crate::expand::attribute(
            quote!(strong(a, b)),
            quote!(
                async fn handler() {}
            ),
        )
        .to_string();
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
        assert!(
            out.contains("`strong` is a flag and takes no parentheses"),
            "{out}"
        );
    }
}
