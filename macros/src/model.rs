//! The validated model between parsing and code generation: the arguments
//! and the handler read together, every user error found and reported here
//! (all of them, through one accumulator), so that [`crate::expand`] only
//! writes code.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Expr, LitStr, Type};

use crate::args::{self, Args, DurationArg, Strings, Style};
use crate::errors::Errors;
use crate::flag::Flag;
use crate::handler::Handler;
use crate::nested::SpannedValue;
use crate::template::{self, Tag};

/// Everything the expansion needs, checked.
pub(crate) struct Model {
    /// The handler as written.
    pub handler: Handler,
    /// `crate = ...`, or `::cached_etag`.
    pub krate: syn::Path,
    /// What goes into the handler's `Policy`.
    pub policy: Policy,
    /// Tags with placeholders, as the user's literals, for `format!`.
    pub templated_tags: Vec<LitStr>,
    /// `check = ...`.
    pub check: Option<Expr>,
    /// `cache = ...`.
    pub cache: Option<Expr>,
    /// How the ETag is computed.
    pub style: Style,
    /// The type of the body's value.
    pub output: Output,
}

/// The declared return type.
pub(crate) enum Output {
    /// None: `()`.
    Unit,
    /// A type that can annotate a `let`.
    Named(Type),
    /// A type with an `impl Trait` somewhere in it.
    Opaque(Type),
}

/// The arguments that build the handler's `Policy`, each one set only when
/// the user wrote it (the runtime has the defaults).
#[derive(Default)]
pub(crate) struct Policy {
    pub ttl: Option<Duration>,
    /// Nonzero: a zero window is the runtime's default.
    pub stale_while_revalidate: Option<Duration>,
    /// Nonzero, as above.
    pub stale_if_error: Option<Duration>,
    pub advertise_stale: bool,
    pub strong: bool,
    /// Tags without placeholders, unescaped.
    pub tags: Vec<LitStr>,
    pub vary: Vec<LitStr>,
    pub shared: bool,
    pub cache_control: Option<LitStr>,
    /// Whole seconds.
    pub max_age: Option<u64>,
    pub public: bool,
    pub no_cache: bool,
    pub immutable: bool,
    pub surrogate_keys: bool,
}

impl Model {
    /// Parses and checks the attribute's arguments and the item. On error,
    /// every error found, each spanned at the offending token.
    pub(crate) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Model> {
        let mut errors = Errors::new();
        let args = Args::parse(args, &mut errors);
        let handler = errors.handle(Handler::parse(item));
        if let Some(handler) = &handler {
            handler.check(&mut errors);
        }
        let model = handler.map(|handler| Model::validate(args, handler, &mut errors));
        errors.finish()?;
        Ok(model.expect("no error, so the handler parsed"))
    }

    fn validate(args: Args, handler: Handler, errors: &mut Errors) -> Model {
        let style = args.etag.map_or(Style::Hash, |style| style.into_inner());
        let output = match handler.return_type() {
            None => Output::Unit,
            Some(ty) if handler.returns_impl_trait() => {
                if !matches!(style, Style::Hash) {
                    errors.push(syn::Error::new(
                        ty.span(),
                        "this ETag style reads the value the handler returns, so the \
                             return type must name it: write the type (such as `Json<Image>`) \
                             instead of `impl Trait`, or use etag = \"hash\"",
                    ));
                }
                Output::Opaque(ty.clone())
            }
            Some(ty) => Output::Named(ty.clone()),
        };

        let ttl = args.ttl.map(|ttl| {
            if ttl.0.is_zero() {
                errors.push(syn::Error::new(
                    ttl.span(),
                    "`ttl` must be greater than zero",
                ));
            }
            ttl.0
        });
        let max_age = args.max_age.as_ref().map(|max_age| {
            let DurationArg(duration) = **max_age;
            if duration.subsec_nanos() != 0 {
                errors.push(syn::Error::new(
                    max_age.span(),
                    "`max_age` is sent in whole seconds",
                ));
            }
            duration.as_secs()
        });
        let (stale_while_revalidate, stale_if_error) = check_stale_windows(
            args.stale_while_revalidate.as_ref(),
            args.stale_if_error.as_ref(),
            args.advertise_stale,
            errors,
        );

        let (tags, templated_tags) = args
            .tags
            .map(|tags| split_tags(tags, &handler, errors))
            .unwrap_or_default();
        let vary = args
            .vary
            .map(|vary| check_vary(vary, errors))
            .unwrap_or_default();
        if let Some(value) = &args.cache_control {
            check_cache_control(value, errors);
        }
        check_conflicts(
            &args.cache_control,
            args.max_age.as_ref().map(|m| m.span()),
            args.public,
            args.no_cache,
            args.immutable,
            args.advertise_stale,
            errors,
        );

        Model {
            krate: args::CratePath::or_default(args.krate),
            policy: Policy {
                ttl,
                stale_while_revalidate,
                stale_if_error,
                advertise_stale: args.advertise_stale.is_present(),
                strong: args.strong.is_present(),
                tags,
                vary,
                shared: args.shared.is_present(),
                cache_control: args.cache_control,
                max_age,
                public: args.public.is_present(),
                no_cache: args.no_cache.is_present(),
                immutable: args.immutable.is_present(),
                surrogate_keys: args.surrogate_keys.is_present(),
            },
            templated_tags,
            check: args.check.map(|check| check.0),
            cache: args.cache.map(|cache| cache.0),
            style,
            output,
            handler,
        }
    }
}

/// The stale windows, each `None` when absent or zero (the runtime's
/// default). Advertised windows go into `Cache-Control` in whole seconds, as
/// `max_age` does, and advertising needs a window to send.
fn check_stale_windows(
    while_revalidate: Option<&SpannedValue<DurationArg>>,
    if_error: Option<&SpannedValue<DurationArg>>,
    advertise: Flag,
    errors: &mut Errors,
) -> (Option<Duration>, Option<Duration>) {
    let mut window = |name: &str, arg: Option<&SpannedValue<DurationArg>>| {
        let arg = arg?;
        let DurationArg(duration) = **arg;
        if advertise.is_present() && duration.subsec_nanos() != 0 {
            errors.push(syn::Error::new(
                arg.span(),
                format!("`{name}` is sent in whole seconds when advertised"),
            ));
        }
        (!duration.is_zero()).then_some(duration)
    };
    let windows = (
        window("stale_while_revalidate", while_revalidate),
        window("stale_if_error", if_error),
    );
    if advertise.is_present() && windows == (None, None) {
        let written = while_revalidate.is_some() || if_error.is_some();
        errors.push(syn::Error::new(
            advertise.span(),
            format!(
                "`advertise_stale` needs `stale_while_revalidate` or `stale_if_error`{}",
                if written { " greater than zero" } else { "" }
            ),
        ));
    }
    windows
}

/// Splits `tags(...)` into literal tags and templates, checking that every
/// placeholder names something an argument pattern binds.
pub(crate) fn split_tags(
    Strings(tags): Strings,
    handler: &Handler,
    errors: &mut Errors,
) -> (Vec<LitStr>, Vec<LitStr>) {
    let mut literal = Vec::new();
    let mut templated = Vec::new();
    for tag in tags {
        match template::parse(&tag.value()) {
            Ok(Tag::Literal(text)) if text.is_empty() => {
                errors.push(syn::Error::new(tag.span(), "a tag cannot be empty"));
            }
            Ok(Tag::Literal(text)) => literal.push(LitStr::new(&text, tag.span())),
            Ok(Tag::Template(names)) => {
                let unbound: Vec<_> = names.iter().filter(|name| !handler.binds(name)).collect();
                for name in &unbound {
                    errors.push(syn::Error::new(tag.span(), unbound_name(name, handler)));
                }
                if unbound.is_empty() {
                    templated.push(tag);
                }
            }
            Err(message) => errors.push(syn::Error::new(tag.span(), message)),
        }
    }
    (literal, templated)
}

fn unbound_name(name: &str, handler: &Handler) -> String {
    let function = &handler.item.sig.ident;
    let bound: Vec<String> = handler.bound.iter().map(ToString::to_string).collect();
    let candidates: Vec<&str> = bound.iter().map(String::as_str).collect();
    let hint = match args::did_you_mean(name, &candidates) {
        Some(best) => format!("did you mean `{{{best}}}`?"),
        None if bound.is_empty() => "its arguments bind no name".to_owned(),
        None => format!("the names bound are: {}", candidates.join(", ")),
    };
    format!("`{{{name}}}`: no argument pattern of `{function}` binds `{name}`; {hint}")
}

/// Header names in `vary(...)`: RFC 9110 §5.1 tokens, written lower case as
/// the runtime keys on them, each once.
fn check_vary(Strings(names): Strings, errors: &mut Errors) -> Vec<LitStr> {
    let mut seen = Vec::<String>::new();
    for name in &names {
        let value = name.value();
        let message = if value.is_empty() {
            Some("a header name cannot be empty".to_owned())
        } else if !value.bytes().all(is_tchar) {
            Some(format!(
                "\"{value}\" is not a header name: use letters, digits and `-`, as in \"accept-language\""
            ))
        } else if value.bytes().any(|b| b.is_ascii_uppercase()) {
            Some(format!(
                "header names are written lower case here: \"{}\"",
                value.to_ascii_lowercase()
            ))
        } else if seen.contains(&value) {
            Some(format!("\"{value}\" is already in `vary`"))
        } else {
            seen.push(value);
            None
        };
        if let Some(message) = message {
            errors.push(syn::Error::new(name.span(), message));
        }
    }
    names
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A header value the runtime can send as is: visible ASCII and spaces.
fn check_cache_control(value: &LitStr, errors: &mut Errors) {
    let text = value.value();
    if text.trim().is_empty() {
        errors.push(syn::Error::new(
            value.span(),
            "`cache_control` cannot be empty",
        ));
    } else if !text.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        errors.push(syn::Error::new(
            value.span(),
            "`cache_control` must be visible ASCII characters and spaces",
        ));
    }
}

/// Arguments that would silently override one another.
fn check_conflicts(
    cache_control: &Option<LitStr>,
    max_age: Option<Span>,
    public: Flag,
    no_cache: Flag,
    immutable: Flag,
    advertise_stale: Flag,
    errors: &mut Errors,
) {
    if cache_control.is_some() {
        let flags = [
            ("public", public),
            ("no_cache", no_cache),
            ("immutable", immutable),
            ("advertise_stale", advertise_stale),
        ];
        let set = max_age.map(|span| ("max_age", span)).into_iter().chain(
            flags
                .iter()
                .filter(|(_, flag)| flag.is_present())
                .map(|(name, flag)| (*name, flag.span())),
        );
        for (name, span) in set {
            errors.push(syn::Error::new(
                span,
                format!(
                    "`{name}` conflicts with `cache_control`, which sets the whole header: \
                         write it in `cache_control` or remove `cache_control`"
                ),
            ));
        }
    }
    if no_cache.is_present() && immutable.is_present() {
        errors.push(syn::Error::new(
            immutable.span(),
            "`immutable` conflicts with `no_cache`: choose one",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    const HANDLER: &str =
        "async fn get_image(Path(id): Path<i64>, State(db): State<Db>) -> Json<Image> { todo!() }";

    fn model(args: TokenStream) -> syn::Result<Model> {
        Model::parse(args, HANDLER.parse().unwrap())
    }

    fn messages(args: TokenStream, item: TokenStream) -> Vec<String> {
        let err = Model::parse(args, item).err().expect("an error");
        err.into_iter().map(|e| e.to_string()).collect()
    }

    fn arg_errors(args: TokenStream) -> Vec<String> {
        messages(args, HANDLER.parse().unwrap())
    }

    #[test]
    fn bare_attribute_is_hash_with_runtime_defaults() {
        let model = model(quote!()).unwrap();
        assert!(matches!(model.style, Style::Hash));
        assert_eq!(model.policy.ttl, None);
        assert!(!model.policy.strong);
        assert!(model.templated_tags.is_empty());
        let krate = &model.krate;
        assert_eq!(quote!(#krate).to_string(), ":: cached_etag");
    }

    #[test]
    fn tags_split_into_literal_and_templated() {
        let model = model(quote!(tags("images", "image:{id}", "{{raw}}"))).unwrap();
        let literal: Vec<_> = model.policy.tags.iter().map(LitStr::value).collect();
        assert_eq!(literal, ["images", "{raw}"]);
        let templated: Vec<_> = model.templated_tags.iter().map(LitStr::value).collect();
        assert_eq!(templated, ["image:{id}"]);
    }

    #[test]
    fn a_template_name_must_be_bound() {
        assert_eq!(
            arg_errors(quote!(tags("image:{ids}"))),
            ["`{ids}`: no argument pattern of `get_image` binds `ids`; did you mean `{id}`?"]
        );
        assert_eq!(
            arg_errors(quote!(tags("camera:{camera}"))),
            [
                "`{camera}`: no argument pattern of `get_image` binds `camera`; the names bound are: id, db"
            ]
        );
        assert_eq!(
            messages(
                quote!(tags("{x}")),
                quote!(
                    async fn h() {}
                )
            ),
            ["`{x}`: no argument pattern of `h` binds `x`; its arguments bind no name"]
        );
    }

    #[test]
    fn an_empty_tag_is_an_error() {
        assert_eq!(arg_errors(quote!(tags("a", ""))), ["a tag cannot be empty"]);
    }

    #[test]
    fn a_syntax_error_in_the_arguments_is_reported_with_the_handler_errors() {
        let errors = messages(
            quote!(ttl = ),
            quote!(
                fn h() {}
            ),
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn a_positional_placeholder_is_an_error() {
        assert_eq!(arg_errors(quote!(tags("image:{}"))).len(), 1);
    }

    #[test]
    fn durations_are_checked() {
        assert_eq!(
            arg_errors(quote!(ttl = 0)),
            ["`ttl` must be greater than zero"]
        );
        assert_eq!(
            arg_errors(quote!(ttl = "0s")),
            ["`ttl` must be greater than zero"]
        );
        assert_eq!(
            arg_errors(quote!(max_age = "1500ms")),
            ["`max_age` is sent in whole seconds"]
        );
        let model = model(quote!(ttl = "250ms", max_age = 0)).unwrap();
        assert_eq!(model.policy.ttl, Some(Duration::from_millis(250)));
        assert_eq!(model.policy.max_age, Some(0));
    }

    #[test]
    fn stale_windows_are_kept_when_nonzero() {
        let model = model(quote!(
            ttl = 60,
            stale_while_revalidate = "250ms",
            stale_if_error = "10m"
        ))
        .unwrap();
        assert_eq!(
            model.policy.stale_while_revalidate,
            Some(Duration::from_millis(250))
        );
        assert_eq!(model.policy.stale_if_error, Some(Duration::from_secs(600)));
        assert!(!model.policy.advertise_stale);
        let model = self::model(quote!(stale_while_revalidate = 0, stale_if_error = "0s")).unwrap();
        assert_eq!(model.policy.stale_while_revalidate, None);
        assert_eq!(model.policy.stale_if_error, None);
    }

    #[test]
    fn advertised_windows_are_whole_seconds() {
        let model = model(quote!(stale_if_error = 600, advertise_stale)).unwrap();
        assert!(model.policy.advertise_stale);
        assert_eq!(model.policy.stale_if_error, Some(Duration::from_secs(600)));
        assert_eq!(
            arg_errors(quote!(
                stale_while_revalidate = "1500ms",
                stale_if_error = "10m500ms",
                advertise_stale
            )),
            [
                "`stale_while_revalidate` is sent in whole seconds when advertised",
                "`stale_if_error` is sent in whole seconds when advertised",
            ]
        );
    }

    #[test]
    fn advertise_stale_needs_a_window() {
        assert_eq!(
            arg_errors(quote!(advertise_stale)),
            ["`advertise_stale` needs `stale_while_revalidate` or `stale_if_error`"]
        );
        assert_eq!(
            arg_errors(quote!(stale_while_revalidate = 0, advertise_stale)),
            [
                "`advertise_stale` needs `stale_while_revalidate` or `stale_if_error` greater than zero"
            ]
        );
        assert!(model(quote!(stale_while_revalidate = 30, advertise_stale)).is_ok());
    }

    #[test]
    fn vary_names_are_lower_case_tokens() {
        assert!(model(quote!(vary("accept-language", "x-api-version"))).is_ok());
        assert_eq!(
            arg_errors(quote!(vary("Accept-Language"))),
            ["header names are written lower case here: \"accept-language\""]
        );
        assert_eq!(
            arg_errors(quote!(vary("accept language", ""))),
            [
                "\"accept language\" is not a header name: use letters, digits and `-`, as in \"accept-language\"",
                "a header name cannot be empty"
            ]
        );
        assert_eq!(
            arg_errors(quote!(vary("accept", "accept"))),
            ["\"accept\" is already in `vary`"]
        );
    }

    #[test]
    fn cache_control_is_a_valid_header_value() {
        assert!(
            model(quote!(
                cache_control = "public, max-age=60, stale-while-revalidate=30"
            ))
            .is_ok()
        );
        assert_eq!(
            arg_errors(quote!(cache_control = "")),
            ["`cache_control` cannot be empty"]
        );
        assert_eq!(
            arg_errors(quote!(cache_control = "public\n")),
            ["`cache_control` must be visible ASCII characters and spaces"]
        );
    }

    #[test]
    fn cache_control_conflicts_with_each_header_option() {
        let errors = arg_errors(quote!(
            cache_control = "no-store",
            max_age = 5,
            public,
            no_cache,
            stale_if_error = 60,
            advertise_stale
        ));
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("`max_age` conflicts with `cache_control`"));
        assert!(errors[1].starts_with("`public` conflicts with `cache_control`"));
        assert!(errors[2].starts_with("`no_cache` conflicts with `cache_control`"));
        assert!(errors[3].starts_with("`advertise_stale` conflicts with `cache_control`"));
        // The windows themselves are the server's, whatever the header says.
        assert!(
            model(quote!(
                cache_control = "no-store",
                stale_while_revalidate = 30,
                stale_if_error = 600
            ))
            .is_ok()
        );
    }

    #[test]
    fn no_cache_conflicts_with_immutable() {
        assert_eq!(
            arg_errors(quote!(no_cache, immutable)),
            ["`immutable` conflicts with `no_cache`: choose one"]
        );
        assert!(model(quote!(public, immutable, max_age = "1d")).is_ok());
    }

    #[test]
    fn impl_trait_return_only_with_hash() {
        let item = quote!(
            async fn h() -> impl IntoResponse {
                "x"
            }
        );
        let model = Model::parse(quote!(), item.clone()).unwrap();
        assert!(matches!(model.output, Output::Opaque(_)));
        let errors = messages(quote!(etag = "timestamp"), item);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("this ETag style reads the value the handler returns"));
    }

    #[test]
    fn no_return_type_is_unit() {
        let model = Model::parse(
            quote!(),
            quote!(
                async fn h() {}
            ),
        )
        .unwrap();
        assert!(matches!(model.output, Output::Unit));
    }

    #[test]
    fn two_mistakes_give_two_errors() {
        let errors = messages(
            quote!(ttl = 0),
            quote!(
                fn h() {}
            ),
        );
        assert_eq!(
            errors,
            [
                "a cached handler must be an `async fn`: add `async` before `fn`",
                "`ttl` must be greater than zero",
            ]
        );
    }

    #[test]
    fn a_bad_argument_does_not_hide_the_mistakes_in_the_others() {
        assert_eq!(
            arg_errors(quote!(ttl = 0, etag = "bogus")),
            [
                "unknown ETag style \"bogus\": expected \"hash\", \"timestamp\", \"composite\", \
                 \"collection\" or the path of a `fn(&T) -> ETag`",
                "`ttl` must be greater than zero",
            ]
        );
    }

    #[test]
    fn argument_and_handler_errors_are_all_reported() {
        let errors = messages(
            quote!(tll = 5, etag = "hsh", tags("{nope}")),
            quote!(
                fn h<T>(&self) {}
            ),
        );
        // One per mistake: `tll`, `hsh`, `{nope}`, no `async`, `self`, `<T>`.
        assert_eq!(errors.len(), 6, "{errors:?}");
    }

    #[test]
    fn a_non_function_is_reported_with_the_argument_errors() {
        let errors = messages(
            quote!(ttl = 0),
            quote!(
                struct S;
            ),
        );
        assert_eq!(
            errors.len(),
            1,
            "ttl is only checked with a handler: {errors:?}"
        );
        let errors = messages(
            quote!(tll = 1),
            quote!(
                struct S;
            ),
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
    }
}
