//! The function the attribute is on, seen as an axum handler: what it is
//! allowed to be (an `async fn` without receiver or generic parameters), what
//! it returns, and which names its argument patterns bind, since tag
//! templates and `check` / `cache` expressions may use those names.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{FnArg, Ident, ItemFn, Pat, ReturnType, Type};

use crate::errors::Errors;

/// An `async fn` about to become a cached handler.
#[derive(Clone)]
pub(crate) struct Handler {
    /// The function as written.
    pub item: ItemFn,
    /// Every name its argument patterns bind, in order, each once.
    pub bound: Vec<Ident>,
}

impl Handler {
    /// Reads the item the attribute is on. Anything but a function is an
    /// error spanned at the item.
    pub(crate) fn parse(item: TokenStream) -> syn::Result<Handler> {
        let item = match syn::parse2::<syn::Item>(item.clone()) {
            Ok(syn::Item::Fn(item)) => item,
            Ok(other) => return Err(not_a_function(&other)),
            Err(_) => return Err(not_a_function(&item)),
        };
        let mut bound: Vec<Ident> = Vec::new();
        for input in &item.sig.inputs {
            if let FnArg::Typed(arg) = input {
                bind(&arg.pat, &mut bound);
            }
        }
        let mut seen = std::collections::HashSet::new();
        bound.retain(|ident| seen.insert(ident.to_string()));
        Ok(Handler { item, bound })
    }

    /// The signature's shape errors: no `async`, a receiver, generic
    /// parameters, `unsafe`, an ABI or a variadic argument. Each error is
    /// spanned at the offending token.
    pub(crate) fn check(&self, errors: &mut Errors) {
        self.check_as("a cached handler", errors);
    }

    /// [`check`](Self::check), with the messages naming the handler as
    /// `role` ("a cached handler", "a write handler").
    pub(crate) fn check_as(&self, role: &str, errors: &mut Errors) {
        let sig = &self.item.sig;
        if sig.asyncness.is_none() {
            errors.push(error_at(
                sig.fn_token,
                &format!("{role} must be an `async fn`: add `async` before `fn`"),
            ));
        }
        if let syn::Safety::Unsafe(unsafety) = &sig.safety {
            errors.push(error_at(unsafety, &format!("{role} cannot be `unsafe`")));
        }
        if let Some(abi) = &sig.abi {
            errors.push(error_at(abi, &format!("{role} cannot have an ABI")));
        }
        if let Some(FnArg::Receiver(receiver)) = sig.inputs.first() {
            errors.push(error_at(
                receiver.self_token,
                &format!(
                    "{role} cannot take `self`: make it a free function, \
                     and pass what `self` held as `State` or an `Extension`"
                ),
            ));
        }
        if !sig.generics.params.is_empty() {
            errors.push(error_at(
                &sig.generics.params,
                &format!("{role} cannot be generic yet: write one handler per type"),
            ));
        }
        if let Some(variadic) = &sig.variadic {
            errors.push(error_at(variadic, &format!("{role} cannot be variadic")));
        }
    }

    /// The declared return type, if any.
    pub(crate) fn return_type(&self) -> Option<&Type> {
        match &self.item.sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) => Some(ty),
        }
    }

    /// Whether the return type has an `impl Trait` anywhere in it, which
    /// cannot be written as a type annotation in the body.
    pub(crate) fn returns_impl_trait(&self) -> bool {
        struct FindImpl(bool);
        impl Visit<'_> for FindImpl {
            fn visit_type_impl_trait(&mut self, _: &syn::TypeImplTrait) {
                self.0 = true;
            }
        }
        let mut find = FindImpl(false);
        if let Some(ty) = self.return_type() {
            find.visit_type(ty);
        }
        find.0
    }

    /// Whether an argument pattern binds `name`.
    pub(crate) fn binds(&self, name: &str) -> bool {
        self.bound.iter().any(|ident| ident == name)
    }
}

/// An error spanned at all of `tokens` (on stable, rustc shows the start).
fn error_at<T: ToTokens>(tokens: T, message: &str) -> syn::Error {
    syn::Error::new(tokens.into_token_stream().span(), message)
}

fn not_a_function<T: ToTokens>(item: &T) -> syn::Error {
    syn::Error::new_spanned(
        item,
        "#[cached_etag] goes on an `async fn` handler: this item is not a function",
    )
}

/// Pushes the names `pat` binds, left to right. Every pattern kind is walked,
/// so `Path((a, b))`, `Query(Params { page, .. })`, `&x`, `[first, ..]` and
/// `whole @ Path(id)` all count.
fn bind(pat: &Pat, names: &mut Vec<Ident>) {
    match pat {
        Pat::Ident(ident) => {
            names.push(ident.ident.clone());
            if let Some((_, sub)) = &ident.subpat {
                bind(sub, names);
            }
        }
        Pat::Tuple(tuple) => tuple.elems.iter().for_each(|pat| bind(pat, names)),
        Pat::TupleStruct(tuple) => tuple.elems.iter().for_each(|pat| bind(pat, names)),
        Pat::Struct(fields) => fields
            .fields
            .iter()
            .for_each(|field| bind(&field.pat, names)),
        Pat::Slice(slice) => slice.elems.iter().for_each(|pat| bind(pat, names)),
        Pat::Reference(reference) => bind(&reference.pat, names),
        Pat::Paren(paren) => bind(&paren.pat, names),
        Pat::Type(typed) => bind(&typed.pat, names),
        // Every alternative binds the same names; the first one says which.
        Pat::Or(or) => {
            if let Some(first) = or.cases.first() {
                bind(first, names);
            }
        }
        // Literals, ranges, paths, `_`, `..`, macros: no binding.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn handler(tokens: TokenStream) -> Handler {
        Handler::parse(tokens).unwrap()
    }

    fn bound(tokens: TokenStream) -> Vec<String> {
        handler(tokens).bound.iter().map(Ident::to_string).collect()
    }

    fn errors(tokens: TokenStream) -> Vec<String> {
        let mut errors = Errors::new();
        handler(tokens).check(&mut errors);
        match errors.finish() {
            Ok(()) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn names_bound_by_every_kind_of_pattern() {
        assert_eq!(
            bound(quote! {
                async fn h(
                    Path(id): Path<i64>,
                    Path((camera, index)): Path<(i64, u32)>,
                    Query(Params { page, per_page: size, .. }): Query<Params>,
                    State(AppState { ref db, mut cache }): State<AppState>,
                    &reference: &u8,
                    [first, .., last]: [u8; 4],
                    whole @ Extension(inner): Extension<u8>,
                    (Json(body) | Json(body)): Json<Body>,
                    _: Ignored,
                    plain: String,
                ) {}
            }),
            [
                "id",
                "camera",
                "index",
                "page",
                "size",
                "db",
                "cache",
                "reference",
                "first",
                "last",
                "whole",
                "inner",
                "body",
                "plain"
            ]
        );
    }

    #[test]
    fn a_name_bound_twice_is_listed_once() {
        assert_eq!(
            bound(quote!(
                async fn h(a: u8, (a, b): (u8, u8)) {}
            )),
            ["a", "b"]
        );
    }

    #[test]
    fn binds_keeps_the_users_spelling() {
        let h = handler(quote!(
            async fn h(Path(id): Path<i64>) {}
        ));
        assert!(h.binds("id"));
        assert!(!h.binds("Path"));
    }

    #[test]
    fn a_valid_handler_has_no_errors() {
        assert!(
            errors(quote!(
                pub async fn h(Path(id): Path<i64>) -> String {
                    todo!()
                }
            ))
            .is_empty()
        );
        assert!(
            errors(quote!(
                async fn h()
                where
                    u8: Copy,
                {
                }
            ))
            .is_empty()
        );
    }

    #[test]
    fn signature_errors() {
        assert_eq!(
            errors(quote!(
                fn h() {}
            )),
            ["a cached handler must be an `async fn`: add `async` before `fn`"]
        );
        assert_eq!(
            errors(quote!(
                async fn h<T>(t: T) {}
            ))
            .len(),
            1
        );
        assert_eq!(
            errors(quote!(
                async fn h(&self) {}
            ))
            .len(),
            1
        );
        assert_eq!(
            errors(quote!(
                async unsafe fn h() {}
            ))
            .len(),
            1
        );
        assert_eq!(
            errors(quote!(
                async extern "C" fn h() {}
            ))
            .len(),
            1
        );
    }

    #[test]
    fn every_signature_error_is_reported() {
        assert_eq!(
            errors(quote!(
                fn h<T>(self, t: T) {}
            ))
            .len(),
            3
        );
    }

    #[test]
    fn only_functions_are_handlers() {
        let err = Handler::parse(quote!(
            struct S;
        ))
        .err()
        .expect("an error");
        assert_eq!(
            err.to_string(),
            "#[cached_etag] goes on an `async fn` handler: this item is not a function"
        );
        assert!(
            Handler::parse(quote!(
                async fn f(&self);
            ))
            .is_err()
        );
    }

    #[test]
    fn impl_trait_anywhere_in_the_return_type() {
        let returns = |tokens| handler(tokens).returns_impl_trait();
        assert!(returns(quote!(
            async fn h() -> impl IntoResponse {}
        )));
        assert!(returns(quote!(
            async fn h() -> Json<impl Serialize> {}
        )));
        assert!(!returns(quote!(
            async fn h() -> Json<Image> {}
        )));
        assert!(!returns(quote!(
            async fn h() {}
        )));
    }
}
