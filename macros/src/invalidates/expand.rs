//! Code generation for `#[invalidates(...)]`: the handler gains the
//! runtime's `WriteCache` extractor (under a mixed-site name), formats its
//! tags from the bound names before the body runs (the body may move
//! them), runs the body unchanged, and hands the value and the tags to the
//! runtime, which makes the response and invalidates after a 2xx. On a
//! user error the function is emitted unchanged with the errors.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

use super::model::{Model, Tag};

/// Parses, checks and expands; on any error, the item as written followed
/// by every error.
pub(crate) fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    match Model::parse(args, item.clone()) {
        Ok(model) => expand(&model),
        Err(errors) => {
            let errors = errors.into_compile_error();
            quote!(#item #errors)
        }
    }
}

/// The write handler.
pub(crate) fn expand(model: &Model) -> TokenStream {
    let ident = |name| Ident::new(name, Span::mixed_site());
    let (request, ce, tags, output) = (
        ident("__cached_etag"),
        ident("__ce"),
        ident("__tags"),
        ident("__output"),
    );
    let krate = &model.krate;
    let item = &model.handler.item;
    let mut sig = item.sig.clone();
    sig.inputs.insert(
        0,
        syn::parse_quote!(#request: #krate::__private::WriteCache),
    );
    sig.output = syn::parse_quote!(-> #krate::__private::Response);
    let (attrs, vis, body) = (&item.attrs, &item.vis, &item.block);
    let tag_values = model.tags.iter().map(|tag| match tag {
        Tag::Literal(text) => quote!(#ce::String::from(#text)),
        Tag::Template(template) => quote!(#ce::format!(#template)),
    });
    let cache = model.cache.as_ref().map(|cache| {
        quote! {
            let #request = #request.with_cache(#cache);
        }
    });
    // The value typed as the declared return type, so that inference and
    // errors stay on the user's type; `impl Trait` cannot annotate a `let`
    // and goes through an identity function instead.
    let value = match model.output() {
        None => quote!(let #output: () = async move #body.await;),
        Some(ty) if model.handler.returns_impl_trait() => {
            let typed = ident("__typed");
            quote! {
                /// The handler's declared return type, which has an `impl Trait`.
                fn #typed(output: #ty) -> #ty {
                    output
                }
                let #output = #typed(async move #body.await);
            }
        }
        Some(ty) => quote!(let #output: #ty = async move #body.await;),
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            use #krate::__private as #ce;
            let #tags = [#(#tag_values),*];
            #cache
            #value
            #request.after(#tags, #output).await
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    #[test]
    fn on_error_the_item_is_emitted_unchanged_with_the_errors() {
        let item = quote!(
            fn put() {}
        );
        let out = attribute(quote!("a"), item.clone()).to_string();
        assert!(out.starts_with(&item.to_string()));
        assert!(out.contains("compile_error"));
    }

    #[test]
    fn tags_are_formatted_before_the_body_runs() {
        let item = quote!(
            async fn put(Path(id): Path<i64>) -> StatusCode {
                drop(id);
                StatusCode::OK
            }
        );
        let out = attribute(quote!("cameras:list", "camera:{id}"), item).to_string();
        let tags = out.find("format !").unwrap();
        let body = out.find("drop (id)").unwrap();
        assert!(tags < body, "{out}");
        assert!(out.contains("__cached_etag : :: cached_etag :: __private :: WriteCache"));
        assert!(out.contains(". after (__tags , __output) . await"));
    }
}
