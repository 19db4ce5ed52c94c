//! Code generation for `#[cached_etag]`: from a checked [`Model`] to the
//! handler that consults the cache. Expansion reports no user error (the model
//! did); when there is one, [`attribute`] emits the function unchanged with
//! the errors, so that routes naming it still resolve.
//!
//! The generated handler takes the runtime's `CacheRequest` extractor first (under
//! a mixed-site name no user code can see), keeps the policy in a `static`
//! inside its body, and moves the user's body, untouched, into the future the
//! runtime runs on a miss. Every path goes through `<crate>::__private`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::{Ident, LitStr};

use crate::args::Style;
use crate::model::{Model, Output, Policy};

/// Parses, checks and expands. On any error: the item as written, followed
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

/// The cached handler.
pub(crate) fn expand(model: &Model) -> TokenStream {
    Function {
        model,
        names: &Names::new(),
    }
    .into_token_stream()
}

/// The names the expansion introduces. Mixed-site spans make them invisible
/// to the user's code and keep them from shadowing the user's names.
struct Names {
    /// The injected extractor argument.
    request: Ident,
    /// `use <crate>::__private as __ce;`
    private: Ident,
    policy: Ident,
    check: Ident,
    output: Ident,
}

impl Names {
    fn new() -> Names {
        let ident = |name| Ident::new(name, Span::mixed_site());
        Names {
            request: ident("__cached_etag"),
            private: ident("__ce"),
            policy: ident("__policy"),
            check: ident("__check"),
            output: ident("__output"),
        }
    }
}

/// The whole function: the user's attributes, visibility and signature with
/// the extractor added and the return type replaced, and the new body.
struct Function<'a> {
    model: &'a Model,
    names: &'a Names,
}

impl ToTokens for Function<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let Function { model, names } = *self;
        let item = &model.handler.item;
        let krate = &model.krate;
        let (request, private) = (&names.request, &names.private);

        let mut sig = item.sig.clone();
        sig.inputs.insert(
            0,
            syn::parse_quote!(#request: #krate::__private::CacheRequest),
        );
        sig.output = syn::parse_quote!(-> #krate::__private::Response);

        let attrs = &item.attrs;
        let vis = &item.vis;
        let policy = PolicyStatic { model, names };
        let tags = Tags { model, names };
        let check = Check { model, names };
        let cache = model.cache.as_ref().map(|cache| {
            quote! {
                let #request = #request.with_cache(#cache);
            }
        });
        let check_arg = if model.check.is_some() {
            names.check.to_token_stream()
        } else {
            quote!(#private::None)
        };
        let policy_name = &names.policy;
        let fill = Fill { model, names };
        tokens.extend(quote! {
            #(#attrs)*
            #vis #sig {
                use #krate::__private as #private;
                #policy
                #check
                #cache
                #request
                    .respond_with(#policy_name, #check_arg, move || (#tags, #fill))
                    .await
            }
        });
    }
}

/// `let __policy = { static POLICY: ... = ...; &*POLICY };`: built once, on
/// the first request, and local to the function so it collides with nothing.
struct PolicyStatic<'a> {
    model: &'a Model,
    names: &'a Names,
}

impl ToTokens for PolicyStatic<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let ce = &self.names.private;
        let binding = &self.names.policy;
        let fn_name = self.model.handler.item.sig.ident.unraw().to_string();
        let doc = format!(" The caching policy of `{fn_name}`, built on first use.");
        let name = LitStr::new(&format!("::{fn_name}"), Span::call_site());
        let statik = Ident::new("POLICY", Span::mixed_site());
        let site = Site {
            model: self.model,
            names: self.names,
        };
        let calls = BuilderCalls {
            policy: &self.model.policy,
            private: ce,
        };
        tokens.extend(quote! {
            let #binding = {
                #[doc = #doc]
                static #statik: #ce::LazyLock<#ce::Arc<#ce::Policy>> = #ce::LazyLock::new(|| {
                    #ce::Policy::builder(#ce::concat!(#ce::module_path!(), #name))
                        #site
                        #calls
                        .build()
                });
                &*#statik
            };
        });
    }
}

/// `.site(concat!(file!(), ":", line!(), ":", column!()))`: where the handler
/// is written, which tells apart same-named handlers of one module (`get` in
/// two `impl` blocks) that the name alone would let share entries.
///
/// `line!()` and its kin report where their call's span is, walking out of
/// macro expansions: a span of this macro's making would give the
/// attribute's place, which a `macro_rules!` that writes several handlers
/// shares among them. Spanned at the function's name, hygiene included, they
/// give where the name was written. `__ce` still resolves: mixed-site hygiene
/// hides locals and labels, not the `use` item that names it.
struct Site<'a> {
    model: &'a Model,
    names: &'a Names,
}

impl ToTokens for Site<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let span = self.model.handler.item.sig.ident.span();
        let ce = Ident::new(&self.names.private.to_string(), span);
        tokens.extend(quote_spanned! {span=>
            .site(#ce::concat!(#ce::file!(), ":", #ce::line!(), ":", #ce::column!()))
        });
    }
}

/// The builder calls for the arguments the user wrote, in a fixed order.
struct BuilderCalls<'a> {
    policy: &'a Policy,
    private: &'a Ident,
}

impl ToTokens for BuilderCalls<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let Policy {
            ttl,
            stale_while_revalidate,
            stale_if_error,
            advertise_stale,
            strong,
            tags,
            vary,
            shared,
            cache_control,
            max_age,
            public,
            no_cache,
            immutable,
            surrogate_keys,
        } = self.policy;
        let ce = self.private;
        if let Some(ttl) = ttl {
            let ttl = DurationExpr {
                duration: *ttl,
                private: ce,
            };
            tokens.extend(quote!(.ttl(#ttl)));
        }
        for (window, method) in [
            (stale_while_revalidate, "stale_while_revalidate"),
            (stale_if_error, "stale_if_error"),
        ] {
            if let Some(window) = window {
                let method = Ident::new(method, Span::call_site());
                let window = DurationExpr {
                    duration: *window,
                    private: ce,
                };
                tokens.extend(quote!(.#method(#window)));
            }
        }
        if *advertise_stale {
            tokens.extend(quote!(.advertise_stale()));
        }
        if *strong {
            tokens.extend(quote!(.strong()));
        }
        if !tags.is_empty() {
            tokens.extend(quote!(.tags(&[#(#tags),*])));
        }
        if !vary.is_empty() {
            tokens.extend(quote!(.vary(&[#(#vary),*])));
        }
        if *shared {
            tokens.extend(quote!(.shared()));
        }
        if let Some(value) = cache_control {
            tokens.extend(quote!(.cache_control(#value)));
        }
        if let Some(secs) = max_age {
            let max_age = DurationExpr {
                duration: std::time::Duration::from_secs(*secs),
                private: ce,
            };
            tokens.extend(quote!(.max_age(#max_age)));
        }
        for (set, method) in [
            (*public, "public"),
            (*no_cache, "no_cache"),
            (*immutable, "immutable"),
            (*surrogate_keys, "surrogate_keys"),
        ] {
            if set {
                let method = Ident::new(method, Span::call_site());
                tokens.extend(quote!(.#method()));
            }
        }
    }
}

/// `Duration::from_secs(n)`, or `from_millis` when it is not whole seconds.
struct DurationExpr<'a> {
    duration: std::time::Duration,
    private: &'a Ident,
}

impl ToTokens for DurationExpr<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let ce = self.private;
        if self.duration.subsec_nanos() == 0 {
            let secs = proc_macro2::Literal::u64_unsuffixed(self.duration.as_secs());
            tokens.extend(quote!(#ce::Duration::from_secs(#secs)));
        } else {
            // Duration strings have millisecond resolution.
            let millis = proc_macro2::Literal::u128_unsuffixed(self.duration.as_millis());
            tokens.extend(quote!(#ce::Duration::from_millis(#millis)));
        }
    }
}

/// `vec![format!("image:{id}"), ...]` for templated tags, else
/// `Vec::new()`: evaluated on a miss only, before the fill takes the
/// bindings. The user's literal is passed to `format!` as written, so its
/// placeholders resolve to the user's bindings.
struct Tags<'a> {
    model: &'a Model,
    names: &'a Names,
}

impl ToTokens for Tags<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let templates = &self.model.templated_tags;
        let ce = &self.names.private;
        if templates.is_empty() {
            tokens.extend(quote!(#ce::Vec::new()));
        } else {
            tokens.extend(quote!(#ce::vec![#(#ce::format!(#templates)),*]));
        }
    }
}

/// `let __check = check(<expr>.await);` before the body runs.
struct Check<'a> {
    model: &'a Model,
    names: &'a Names,
}

impl ToTokens for Check<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let Some(expr) = &self.model.check else {
            return;
        };
        let binding = &self.names.check;
        // Spanned over the user's expression, so that a value that is not an
        // ETag is reported there.
        let spans = Spans::of(expr);
        let Spans { first, last } = spans;
        let ce = spans.ident(&self.names.private);
        let expr = Postfix { expr, span: first };
        let call = quote_spanned!(first=> #ce::check);
        let args = quote_spanned!(last=> (#expr.await));
        tokens.extend(quote! {
            let #binding = #call #args;
        });
    }
}

/// An expression that can take `.await` as it is, or else in parentheses
/// (at `span`, the expression's first token).
struct Postfix<'a> {
    expr: &'a syn::Expr,
    span: Span,
}

impl ToTokens for Postfix<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        use syn::Expr;
        match self.expr {
            Expr::Await(_)
            | Expr::Call(_)
            | Expr::Field(_)
            | Expr::Index(_)
            | Expr::Macro(_)
            | Expr::MethodCall(_)
            | Expr::Paren(_)
            | Expr::Path(_)
            | Expr::Try(_) => self.expr.to_tokens(tokens),
            expr => syn::token::Paren(self.span).surround(tokens, |tokens| expr.to_tokens(tokens)),
        }
    }
}

/// The future the runtime runs on a miss: the user's body, moved unchanged
/// into `async move`, its value typed as the declared return type (so
/// inference and errors stay on the user's type), then turned into a
/// response with its validators by the style.
///
/// A return type with an `impl Trait` cannot annotate a `let`; the value goes
/// through an identity function that takes and returns that type instead,
/// which checks the same bounds and keeps the user's imports used.
struct Fill<'a> {
    model: &'a Model,
    names: &'a Names,
}

impl ToTokens for Fill<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let output = &self.names.output;
        let body = &self.model.handler.item.block;
        let style = StyleCall {
            model: self.model,
            names: self.names,
        };
        let value = match &self.model.output {
            Output::Unit => quote! {
                let #output: () = async move #body.await;
            },
            Output::Named(ty) => quote! {
                let #output: #ty = async move #body.await;
            },
            Output::Opaque(ty) => {
                let typed = Ident::new("__typed", Span::mixed_site());
                quote! {
                    /// The handler's declared return type, which has an `impl Trait`.
                    fn #typed(output: #ty) -> #ty {
                        output
                    }
                    let #output = #typed(async move #body.await);
                }
            }
        };
        tokens.extend(quote! {
            async move {
                #value
                #style
            }
        });
    }
}

/// `__ce::composite(__output)`, spanned at the return type so that an output
/// lacking the style's trait is reported there, on the user's type (at the
/// function's name when there is no return type).
struct StyleCall<'a> {
    model: &'a Model,
    names: &'a Names,
}

impl ToTokens for StyleCall<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let spans = match &self.model.output {
            Output::Unit => Spans::at(self.model.handler.item.sig.ident.span()),
            Output::Named(ty) | Output::Opaque(ty) => Spans::of(ty),
        };
        let span = spans.first;
        let ce = spans.ident(&self.names.private);
        let output = spans.ident(&self.names.output);
        tokens.extend(match &self.model.style {
            Style::Hash => quote_spanned!(span=> #ce::hash(#output)),
            Style::Timestamp => quote_spanned!(span=> #ce::timestamp(#output)),
            Style::Composite => quote_spanned!(span=> #ce::composite(#output)),
            Style::Collection => quote_spanned!(span=> #ce::collection(#output)),
            Style::Custom(path) => quote_spanned!(span=> #ce::custom(#output, #path)),
        });
    }
}

/// The first and last token spans of some user code. On stable Rust a span
/// cannot be joined, but rustc spans an expression from its first to its last
/// token: generated tokens placed at these two ends make an expression that
/// rustc reports as covering the user's code.
#[derive(Clone, Copy)]
struct Spans {
    first: Span,
    last: Span,
}

impl Spans {
    fn of<T: ToTokens>(code: &T) -> Spans {
        let mut tokens = code.to_token_stream().into_iter();
        let first = tokens
            .next()
            .map_or_else(Span::call_site, |token| token.span());
        let last = tokens.last().map_or(first, |token| token.span());
        Spans { first, last }
    }

    fn at(span: Span) -> Spans {
        Spans {
            first: span,
            last: span,
        }
    }

    /// `ident`, with its mixed-site hygiene, located at the first token.
    fn ident(&self, ident: &Ident) -> Ident {
        Ident::new(
            &ident.to_string(),
            Span::mixed_site().located_at(self.first),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HANDLER: &str = "async fn get_image(Path(id): Path<i64>, State(db): State<Db>) -> Json<Image> { Json(db.image(id).await) }";

    fn model(args: TokenStream) -> Model {
        Model::parse(args, HANDLER.parse().unwrap()).unwrap()
    }

    fn render<T: ToTokens>(piece: T) -> String {
        piece.into_token_stream().to_string()
    }

    #[test]
    fn on_error_the_item_is_emitted_unchanged_with_the_errors() {
        let item: TokenStream = "fn get() -> u8 { 1 }".parse().unwrap();
        let out = attribute(quote!(ttl = 0), item.clone()).to_string();
        assert!(out.starts_with(&item.to_string()), "{out}");
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
    }

    #[test]
    fn builder_calls_only_for_what_was_written() {
        let names = Names::new();
        let calls = |args| {
            let model = model(args);
            render(BuilderCalls {
                policy: &model.policy,
                private: &names.private,
            })
        };
        assert_eq!(calls(quote!()), "");
        assert_eq!(
            calls(quote!(ttl = 300)),
            ". ttl (__ce :: Duration :: from_secs (300))"
        );
        assert_eq!(
            calls(quote!(ttl = "1m500ms")),
            ". ttl (__ce :: Duration :: from_millis (60500))"
        );
        assert_eq!(
            calls(quote!(
                tags("images", "image:{id}", "{{a}}"),
                vary("accept")
            )),
            ". tags (& [\"images\" , \"{a}\"]) . vary (& [\"accept\"])"
        );
        assert_eq!(
            calls(quote!(
                surrogate_keys,
                immutable,
                public,
                strong,
                shared,
                max_age = "1h"
            )),
            ". strong () . shared () . max_age (__ce :: Duration :: from_secs (3600)) . public () . immutable () . surrogate_keys ()"
        );
        assert_eq!(
            calls(quote!(cache_control = "no-store")),
            ". cache_control (\"no-store\")"
        );
    }

    #[test]
    fn stale_windows_follow_the_ttl() {
        let names = Names::new();
        let calls = |args| {
            let model = model(args);
            render(BuilderCalls {
                policy: &model.policy,
                private: &names.private,
            })
        };
        assert_eq!(
            calls(quote!(
                advertise_stale,
                public,
                stale_if_error = "10m",
                stale_while_revalidate = 30,
                ttl = 60
            )),
            ". ttl (__ce :: Duration :: from_secs (60)) \
             . stale_while_revalidate (__ce :: Duration :: from_secs (30)) \
             . stale_if_error (__ce :: Duration :: from_secs (600)) \
             . advertise_stale () . public ()"
        );
        assert_eq!(
            calls(quote!(stale_while_revalidate = "500ms")),
            ". stale_while_revalidate (__ce :: Duration :: from_millis (500))"
        );
        assert_eq!(
            calls(quote!(stale_while_revalidate = 0, stale_if_error = "0s")),
            ""
        );
    }

    #[test]
    fn policy_static_is_named_for_the_function() {
        let model = model(quote!(strong));
        let names = Names::new();
        assert_eq!(
            render(PolicyStatic {
                model: &model,
                names: &names
            }),
            "let __policy = { # [doc = \" The caching policy of `get_image`, built on first use.\"] \
             static POLICY : __ce :: LazyLock < __ce :: Arc < __ce :: Policy >> = \
             __ce :: LazyLock :: new (|| { __ce :: Policy :: builder (__ce :: concat ! \
             (__ce :: module_path ! () , \"::get_image\")) \
             . site (__ce :: concat ! (__ce :: file ! () , \":\" , __ce :: line ! () , \":\" , __ce :: column ! ())) \
             . strong () . build () }) ; & * POLICY } ;"
        );
    }

    #[test]
    fn templated_tags_format_the_original_literal() {
        let names = Names::new();
        let model = model(quote!(tags("images", "image:{id}", "db")));
        assert_eq!(
            render(Tags {
                model: &model,
                names: &names
            }),
            "__ce :: vec ! [__ce :: format ! (\"image:{id}\")]"
        );
        let model = self::model(quote!(tags("images")));
        assert_eq!(
            render(Tags {
                model: &model,
                names: &names
            }),
            "__ce :: Vec :: new ()"
        );
    }

    #[test]
    fn check_awaits_the_expression() {
        let names = Names::new();
        let check = |args| {
            render(Check {
                model: &model(args),
                names: &names,
            })
        };
        assert_eq!(check(quote!()), "");
        assert_eq!(
            check(quote!(check = db.version(id))),
            "let __check = __ce :: check (db . version (id) . await) ;"
        );
        assert_eq!(
            check(quote!(check = version(&db, id))),
            "let __check = __ce :: check (version (& db , id) . await) ;"
        );
        assert_eq!(
            check(quote!(check = async { db.version(id).await? })),
            "let __check = __ce :: check ((async { db . version (id) . await ? }) . await) ;"
        );
    }

    #[test]
    fn fill_moves_the_body_and_types_its_value() {
        let names = Names::new();
        let model = model(quote!(etag = "composite"));
        assert_eq!(
            render(Fill {
                model: &model,
                names: &names
            }),
            "async move { let __output : Json < Image > = async move { Json (db . image (id) . await) } . await ; \
             __ce :: composite (__output) }"
        );
    }

    #[test]
    fn fill_types_impl_trait_through_an_identity_function() {
        let names = Names::new();
        let model = Model::parse(
            quote!(),
            quote!(
                async fn h() -> impl IntoResponse {
                    "x"
                }
            ),
        )
        .unwrap();
        assert_eq!(
            render(Fill {
                model: &model,
                names: &names
            }),
            "async move { # [doc = r\" The handler's declared return type, which has an `impl Trait`.\"] \
             fn __typed (output : impl IntoResponse) -> impl IntoResponse { output } \
             let __output = __typed (async move { \"x\" } . await) ; __ce :: hash (__output) }"
        );
    }

    #[test]
    fn style_calls() {
        let names = Names::new();
        let style = |args| {
            render(StyleCall {
                model: &model(args),
                names: &names,
            })
        };
        assert_eq!(style(quote!()), "__ce :: hash (__output)");
        assert_eq!(
            style(quote!(etag = "timestamp")),
            "__ce :: timestamp (__output)"
        );
        assert_eq!(
            style(quote!(etag = "collection")),
            "__ce :: collection (__output)"
        );
        assert_eq!(
            style(quote!(etag = etags::image)),
            "__ce :: custom (__output , etags :: image)"
        );
    }

    #[test]
    fn signature_gains_the_extractor_and_keeps_the_rest() {
        let item = quote! {
            /// Docs.
            #[tracing::instrument]
            pub(crate) async fn h(Path(id): Path<i64>) -> Json<Image> where Image: Clone { todo!() }
        };
        let out = attribute(quote!(crate = my::reexport), item).to_string();
        assert!(
            out.starts_with(
                "# [doc = r\" Docs.\"] # [tracing :: instrument] pub (crate) async fn h \
                 (__cached_etag : my :: reexport :: __private :: CacheRequest , Path (id) : Path < i64 >) \
                 -> my :: reexport :: __private :: Response where Image : Clone { \
                 use my :: reexport :: __private as __ce ;"
            ),
            "{out}"
        );
    }

    #[test]
    fn expansion_is_deterministic() {
        let expand = || {
            attribute(
                quote!(tags("a", "b:{id}"), vary("accept")),
                HANDLER.parse().unwrap(),
            )
            .to_string()
        };
        assert_eq!(expand(), expand());
    }
}

#[cfg(test)]
mod snapshots;
