//! The attribute's arguments as written, read over plain syn (see
//! [`crate::nested`]): each value keeps its span so that later checks can
//! point at it. Only the shape of each value is checked here (a duration, a
//! style, a list of strings); what the values mean together is checked in
//! [`crate::model`].

use std::time::Duration;

use proc_macro2::TokenStream;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Lit, LitStr, Meta, Token};

use crate::errors::Errors;
use crate::flag::Flag;
use crate::nested::{self, FromMeta, Seen, SpannedValue};

/// `#[cached_etag(...)]`: every argument is optional.
#[derive(Default)]
pub(crate) struct Args {
    /// How long the server keeps a response.
    pub ttl: Option<SpannedValue<DurationArg>>,
    /// After the ttl: served at once while one background refresh replaces it.
    pub stale_while_revalidate: Option<SpannedValue<DurationArg>>,
    /// After the ttl: served instead of a failed refresh.
    pub stale_if_error: Option<SpannedValue<DurationArg>>,
    /// Send the stale windows in `Cache-Control`.
    pub advertise_stale: Flag,
    /// How the ETag is computed.
    pub etag: Option<SpannedValue<Style>>,
    /// Send strong ETags.
    pub strong: Flag,
    /// Invalidation tags, literal or templated over bound names.
    pub tags: Option<Strings>,
    /// Request headers the response varies on.
    pub vary: Option<Strings>,
    /// The response does not depend on the user.
    pub shared: Flag,
    /// A cheap async validator, awaited before the body.
    pub check: Option<UserExpr>,
    /// The whole `Cache-Control` header.
    pub cache_control: Option<LitStr>,
    /// `max-age` of the `Cache-Control` header.
    pub max_age: Option<SpannedValue<DurationArg>>,
    /// `Cache-Control: public`.
    pub public: Flag,
    /// `Cache-Control: no-cache`.
    pub no_cache: Flag,
    /// `Cache-Control: immutable`.
    pub immutable: Flag,
    /// Send the tags in `Surrogate-Key` / `Cache-Tag`.
    pub surrogate_keys: Flag,
    /// The cache to use instead of the one in the request's extensions.
    pub cache: Option<UserExpr>,
    /// The path of the `cached-etag` crate, for re-exporters.
    pub krate: Option<CratePath>,
}

/// The arguments' names, as written.
const NAMES: [&str; 18] = [
    "ttl",
    "stale_while_revalidate",
    "stale_if_error",
    "advertise_stale",
    "etag",
    "strong",
    "tags",
    "vary",
    "shared",
    "check",
    "cache_control",
    "max_age",
    "public",
    "no_cache",
    "immutable",
    "surrogate_keys",
    "cache",
    "crate",
];

impl Args {
    /// Parses the tokens between the attribute's parentheses, pushing every
    /// mistake to `errors`. The arguments returned are the ones written
    /// correctly (the first correct one of a repeated name), so that
    /// [`crate::model`] still checks them: one bad argument must not hide the
    /// mistakes in the others (serde_derive's attribute parser keeps going
    /// the same way). A mistake in the list's syntax is the only one
    /// reported for the arguments.
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
        let mut args = Args::default();
        let Some(items) = errors.handle(nested::parse_list(tokens)) else {
            return args;
        };
        let mut seen = Seen::default();
        for item in &items {
            let Some(path) = item.path() else {
                errors.push(nested::unexpected_format("literal", item.span()));
                continue;
            };
            let name = nested::path_to_string(path);
            match name.as_str() {
                "ttl" => seen.fill(&mut args.ttl, &name, item, errors),
                "stale_while_revalidate" => {
                    seen.fill(&mut args.stale_while_revalidate, &name, item, errors)
                }
                "stale_if_error" => seen.fill(&mut args.stale_if_error, &name, item, errors),
                "advertise_stale" => seen.fill(&mut args.advertise_stale, &name, item, errors),
                "etag" => seen.fill(&mut args.etag, &name, item, errors),
                "strong" => seen.fill(&mut args.strong, &name, item, errors),
                "tags" => seen.fill(&mut args.tags, &name, item, errors),
                "vary" => seen.fill(&mut args.vary, &name, item, errors),
                "shared" => seen.fill(&mut args.shared, &name, item, errors),
                "check" => seen.fill(&mut args.check, &name, item, errors),
                "cache_control" => seen.fill(&mut args.cache_control, &name, item, errors),
                "max_age" => seen.fill(&mut args.max_age, &name, item, errors),
                "public" => seen.fill(&mut args.public, &name, item, errors),
                "no_cache" => seen.fill(&mut args.no_cache, &name, item, errors),
                "immutable" => seen.fill(&mut args.immutable, &name, item, errors),
                "surrogate_keys" => seen.fill(&mut args.surrogate_keys, &name, item, errors),
                "cache" => seen.fill(&mut args.cache, &name, item, errors),
                "crate" => seen.fill(&mut args.krate, &name, item, errors),
                _ => errors.push(nested::unknown_field(item, &name, &NAMES)),
            }
        }
        args
    }
}

/// A duration: `300` (seconds) or `"5m"`. See [`crate::duration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DurationArg(pub Duration);

impl FromMeta for DurationArg {
    fn from_expr(expr: &Expr) -> syn::Result<Self> {
        let expected = || {
            syn::Error::new(
                expr.span(),
                "expected a number of seconds or a duration string, as in `300` or `\"5m\"`",
            )
        };
        match expr {
            Expr::Lit(lit) => match &lit.lit {
                // syn reads `-5` after `=` as one literal.
                Lit::Int(int) if int.base10_digits().starts_with('-') => {
                    Err(syn::Error::new(int.span(), "a duration cannot be negative"))
                }
                // `300ms` lexes as the integer 300 with a suffix: not seconds.
                Lit::Int(int) if !int.suffix().is_empty() => Err(syn::Error::new(
                    int.span(),
                    format!("a duration with a unit is written as a string: \"{int}\""),
                )),
                Lit::Int(int) => int
                    .base10_parse::<u64>()
                    .map(|secs| DurationArg(Duration::from_secs(secs))),
                Lit::Str(text) => crate::duration::parse(&text.value())
                    .map(DurationArg)
                    .map_err(|msg| syn::Error::new(text.span(), msg)),
                _ => Err(expected()),
            },
            Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Neg(_),
                ..
            }) => Err(syn::Error::new(
                expr.span(),
                "a duration cannot be negative",
            )),
            Expr::Group(group) => Self::from_expr(&group.expr),
            _ => Err(expected()),
        }
    }
}

/// The ETag styles, by the name the attribute uses.
pub(crate) const STYLE_NAMES: [&str; 4] = ["hash", "timestamp", "composite", "collection"];

/// `etag = "..."` or `etag = path::to::fn`.
#[derive(Clone)]
pub(crate) enum Style {
    /// SHA-256 of the body.
    Hash,
    /// From the value's `UpdatedAt`.
    Timestamp,
    /// `{id}-{updated_at}` from `Identified + UpdatedAt`.
    Composite,
    /// `{count}-{latest}` from `Collection`.
    Collection,
    /// A user function `fn(&T) -> ETag`.
    Custom(syn::Path),
}

impl FromMeta for Style {
    fn from_expr(expr: &Expr) -> syn::Result<Self> {
        match expr {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(name),
                ..
            }) => Style::from_name(name),
            Expr::Path(path) if path.qself.is_none() => Ok(Style::Custom(path.path.clone())),
            Expr::Group(group) => Self::from_expr(&group.expr),
            _ => Err(syn::Error::new(
                expr.span(),
                "expected an ETag style (\"hash\", \"timestamp\", \"composite\", \"collection\") \
                 or the path of a `fn(&T) -> ETag`",
            )),
        }
    }
}

impl Style {
    fn from_name(name: &LitStr) -> syn::Result<Style> {
        let value = name.value();
        match value.as_str() {
            "hash" => Ok(Style::Hash),
            "timestamp" => Ok(Style::Timestamp),
            "composite" => Ok(Style::Composite),
            "collection" => Ok(Style::Collection),
            _ => {
                let message = match did_you_mean(&value, &STYLE_NAMES) {
                    Some(best) => {
                        format!("unknown ETag style \"{value}\": did you mean \"{best}\"?")
                    }
                    None => format!(
                        "unknown ETag style \"{value}\": expected \"hash\", \"timestamp\", \
                         \"composite\", \"collection\" or the path of a `fn(&T) -> ETag`"
                    ),
                };
                Err(syn::Error::new(name.span(), message))
            }
        }
    }
}

/// The closest of `candidates` to `value`, if close enough to suggest (the
/// same measure and threshold as for unknown arguments).
pub(crate) fn did_you_mean<'a>(value: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|candidate| (strsim::jaro_winkler(value, candidate), *candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// A non-empty list of string literals: `tags("a", "b")`.
#[derive(Clone)]
pub(crate) struct Strings(pub Vec<LitStr>);

impl FromMeta for Strings {
    fn from_meta(item: &Meta) -> syn::Result<Self> {
        let name = nested::path_to_string(item.path());
        let expected = || {
            syn::Error::new(
                item.span(),
                format!("expected a list of string literals, as in `{name}(\"a\", \"b\")`"),
            )
        };
        let Meta::List(list) = item else {
            return Err(expected());
        };
        let strings = list.parse_args_with(Punctuated::<LitStr, Token![,]>::parse_terminated)?;
        if strings.is_empty() {
            return Err(expected());
        }
        Ok(Strings(strings.into_iter().collect()))
    }
}

/// An expression over the handler's arguments, kept exactly as written.
#[derive(Clone)]
pub(crate) struct UserExpr(pub Expr);

impl FromMeta for UserExpr {
    fn from_expr(expr: &Expr) -> syn::Result<Self> {
        match expr {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(_), ..
            }) => Err(syn::Error::new(
                expr.span(),
                "expected an expression, found a string: write the expression without quotes",
            )),
            Expr::Group(group) => Self::from_expr(&group.expr),
            _ => Ok(UserExpr(expr.clone())),
        }
    }
}

/// `crate = path`: where the `cached-etag` crate is. The expansion writes
/// it in a `use` item (`use <path>::__private as …;`) and in types, so it
/// must be a path a `use` can name: no generic arguments, no `Self`.
#[derive(Clone)]
pub(crate) struct CratePath(pub syn::Path);

impl CratePath {
    /// The path given, or `::cached_etag`.
    pub(crate) fn or_default(krate: Option<CratePath>) -> syn::Path {
        krate.map_or_else(|| syn::parse_quote!(::cached_etag), |krate| krate.0)
    }
}

impl FromMeta for CratePath {
    fn from_meta(meta: &Meta) -> syn::Result<Self> {
        let path = syn::Path::from_meta(meta)?;
        let private = quote::quote!(use #path::__private as private;);
        if syn::parse2::<syn::ItemUse>(private).is_err() {
            return Err(syn::Error::new(
                path.span(),
                "`crate` is the path of the `cached-etag` crate, such as \
                 `::my_crate::cached_etag`: a module path without generic arguments",
            ));
        }
        Ok(CratePath(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: TokenStream) -> syn::Result<Args> {
        let mut errors = Errors::new();
        let args = Args::parse(tokens, &mut errors);
        errors.finish().map(|()| args)
    }

    /// The arguments kept beside the errors.
    fn parse_with_errors(tokens: TokenStream) -> Args {
        let mut errors = Errors::new();
        let args = Args::parse(tokens, &mut errors);
        assert!(errors.finish().is_err());
        args
    }

    /// Every error, one a line, as rustc shows them.
    fn message(tokens: TokenStream) -> String {
        let errors: Vec<String> = parse(tokens)
            .err()
            .expect("an error")
            .into_iter()
            .map(|err| err.to_string())
            .collect();
        errors.join("\n")
    }

    #[test]
    fn no_arguments_is_all_defaults() {
        let args = parse(quote!()).unwrap();
        assert!(args.ttl.is_none());
        assert!(args.etag.is_none());
        assert!(!args.strong.is_present());
        assert!(args.tags.is_none());
        assert!(args.krate.is_none());
    }

    #[test]
    fn every_argument_parses() {
        let args = parse(quote!(
            ttl = "1h30m",
            stale_while_revalidate = 30,
            stale_if_error = "10m",
            advertise_stale,
            etag = "composite",
            strong,
            tags("images", "image:{id}"),
            vary("accept-language"),
            shared,
            check = db.version(id),
            cache_control = "public, max-age=60",
            max_age = 600,
            public,
            no_cache,
            immutable,
            surrogate_keys,
            cache = state.cache.clone(),
            crate = ::my_crate::cached_etag,
        ))
        .unwrap();
        assert_eq!(
            **args.ttl.as_ref().unwrap(),
            DurationArg(Duration::from_secs(5400))
        );
        assert_eq!(
            **args.stale_while_revalidate.as_ref().unwrap(),
            DurationArg(Duration::from_secs(30))
        );
        assert_eq!(
            **args.stale_if_error.as_ref().unwrap(),
            DurationArg(Duration::from_secs(600))
        );
        assert!(args.advertise_stale.is_present());
        assert!(matches!(**args.etag.as_ref().unwrap(), Style::Composite));
        assert!(args.strong.is_present() && args.shared.is_present());
        let tags: Vec<String> = args.tags.unwrap().0.iter().map(LitStr::value).collect();
        assert_eq!(tags, ["images", "image:{id}"]);
        assert_eq!(args.vary.unwrap().0[0].value(), "accept-language");
        assert!(matches!(args.check.unwrap().0, Expr::MethodCall(_)));
        assert_eq!(args.cache_control.unwrap().value(), "public, max-age=60");
        assert_eq!(
            **args.max_age.as_ref().unwrap(),
            DurationArg(Duration::from_secs(600))
        );
        assert!(args.public.is_present() && args.no_cache.is_present());
        assert!(args.immutable.is_present() && args.surrogate_keys.is_present());
        assert!(matches!(args.cache.unwrap().0, Expr::MethodCall(_)));
        let krate = args.krate.unwrap().0;
        assert_eq!(quote!(#krate).to_string(), ":: my_crate :: cached_etag");
    }

    /// The crate path goes into a `use` item: what a `use` cannot name is
    /// an error at the argument, not broken code in the expansion.
    #[test]
    fn a_crate_path_a_use_cannot_name_is_an_error() {
        for krate in [
            quote!(a::b::<C>),
            quote!(a::b::<C>::d),
            quote!(Self),
            quote!(a::Self::b),
        ] {
            let message = message(quote!(crate = #krate));
            assert!(
                message.contains("path of the `cached-etag` crate"),
                "{krate}: {message}"
            );
        }
        for krate in [
            quote!(::my_crate::cached_etag),
            quote!(crate::ce),
            quote!(super::ce),
        ] {
            assert!(parse(quote!(crate = #krate)).is_ok(), "{krate}");
        }
    }

    /// Through the attributes' whole entries, the function still comes
    /// back, beside the error.
    #[test]
    fn a_crate_path_with_generic_arguments_gives_the_function_and_an_error() {
        let item = quote!(
            async fn handler() {}
        );
        for out in [
            crate::expand::attribute(quote!(crate = a::b::<C>), item.clone()),
            crate::invalidates::attribute(quote!("t", crate = a::b::<C>), item.clone()),
        ] {
            let file: syn::File = syn::parse2(out.clone()).expect("the output is Rust");
            assert!(
                out.to_string().contains("path of the `cached-etag` crate"),
                "{out}"
            );
            assert!(matches!(&file.items[0], syn::Item::Fn(_)), "{out}");
        }
        let out = crate::derive::resource(quote!(
            #[resource(crate = a::<B>)]
            struct S {
                id: u8,
            }
        ));
        assert!(
            out.to_string().contains("path of the `cached-etag` crate"),
            "{out}"
        );
    }

    #[test]
    fn ttl_takes_seconds_or_a_duration_string() {
        let ttl = |tokens| **parse(tokens).unwrap().ttl.as_ref().unwrap();
        assert_eq!(
            ttl(quote!(ttl = 300)),
            DurationArg(Duration::from_secs(300))
        );
        assert_eq!(
            ttl(quote!(ttl = "5m")),
            DurationArg(Duration::from_secs(300))
        );
        assert_eq!(
            ttl(quote!(ttl = "250ms")),
            DurationArg(Duration::from_millis(250))
        );
    }

    #[test]
    fn stale_windows_take_durations_as_ttl_does() {
        let args = parse(quote!(stale_while_revalidate = "250ms", stale_if_error = 0)).unwrap();
        assert_eq!(
            **args.stale_while_revalidate.as_ref().unwrap(),
            DurationArg(Duration::from_millis(250))
        );
        assert_eq!(
            **args.stale_if_error.as_ref().unwrap(),
            DurationArg(Duration::ZERO)
        );
        assert!(
            message(quote!(stale_if_error = "ten minutes"))
                .starts_with("invalid duration \"ten minutes\"")
        );
        assert_eq!(
            message(quote!(stale_while_revalidate = true)),
            "expected a number of seconds or a duration string, as in `300` or `\"5m\"`"
        );
        assert!(parse(quote!(advertise_stale = true)).is_err());
    }

    #[test]
    fn ttl_of_the_wrong_type_says_what_is_expected() {
        let expected = "expected a number of seconds or a duration string, as in `300` or `\"5m\"`";
        assert_eq!(message(quote!(ttl = true)), expected);
        assert_eq!(message(quote!(ttl = 1.5)), expected);
        assert_eq!(message(quote!(ttl = some_const)), expected);
        assert_eq!(message(quote!(ttl = -5)), "a duration cannot be negative");
        assert_eq!(
            message(quote!(ttl = 300ms)),
            "a duration with a unit is written as a string: \"300ms\""
        );
        assert!(message(quote!(ttl = "abc")).starts_with("invalid duration \"abc\""));
    }

    #[test]
    fn etag_takes_a_style_name_or_a_path() {
        let etag = |tokens| parse(tokens).unwrap().etag.unwrap().into_inner();
        assert!(matches!(etag(quote!(etag = "hash")), Style::Hash));
        assert!(matches!(etag(quote!(etag = "timestamp")), Style::Timestamp));
        assert!(matches!(
            etag(quote!(etag = "collection")),
            Style::Collection
        ));
        let Style::Custom(path) = etag(quote!(etag = crate::etags::of_image)) else {
            panic!("expected a custom style");
        };
        assert_eq!(quote!(#path).to_string(), "crate :: etags :: of_image");
    }

    #[test]
    fn unknown_style_suggests_the_closest() {
        assert_eq!(
            message(quote!(etag = "timestmp")),
            "unknown ETag style \"timestmp\": did you mean \"timestamp\"?"
        );
        assert!(message(quote!(etag = "xyz")).starts_with("unknown ETag style \"xyz\": expected"));
        assert!(message(quote!(etag = 5)).starts_with("expected an ETag style"));
    }

    #[test]
    fn unknown_argument_suggests_the_closest() {
        assert_eq!(
            message(quote!(max_ag = 5)),
            "Unknown field: `max_ag`. Did you mean `max_age`?"
        );
        assert_eq!(
            message(quote!(tag("a"))),
            "Unknown field: `tag`. Did you mean `tags`?"
        );
        assert_eq!(
            message(quote!(surrogate_key)),
            "Unknown field: `surrogate_key`. Did you mean `surrogate_keys`?"
        );
        assert_eq!(
            message(quote!(stale_while_revalidat = 30)),
            "Unknown field: `stale_while_revalidat`. Did you mean `stale_while_revalidate`?"
        );
        assert_eq!(
            message(quote!(stale_on_error = 30)),
            "Unknown field: `stale_on_error`. Did you mean `stale_if_error`?"
        );
        assert_eq!(
            message(quote!(advertise)),
            "Unknown field: `advertise`. Did you mean `advertise_stale`?"
        );
    }

    #[test]
    fn duplicate_argument_is_an_error() {
        assert_eq!(message(quote!(ttl = 5, ttl = 6)), "Duplicate field `ttl`");
        assert_eq!(message(quote!(strong, strong)), "Duplicate field `strong`");
    }

    #[test]
    fn lists_need_string_literals() {
        assert_eq!(
            message(quote!(tags = "a")),
            "expected a list of string literals, as in `tags(\"a\", \"b\")`"
        );
        assert_eq!(
            message(quote!(vary())),
            "expected a list of string literals, as in `vary(\"a\", \"b\")`"
        );
        assert_eq!(message(quote!(tags(images))), "expected string literal");
    }

    #[test]
    fn expressions_are_not_strings() {
        assert_eq!(
            message(quote!(check = "db.version(id)")),
            "expected an expression, found a string: write the expression without quotes"
        );
    }

    #[test]
    fn flags_take_no_value() {
        assert!(parse(quote!(strong = true)).is_err());
    }

    #[test]
    fn errors_are_accumulated() {
        let err = parse(quote!(ttl = true, etag = "hsh", tll = 5))
            .err()
            .expect("an error");
        assert_eq!(err.into_iter().count(), 3);
        assert_eq!(message(quote!(ttl = true, etag = "hsh")).lines().count(), 2);
    }

    #[test]
    fn the_correct_arguments_are_kept_beside_the_errors() {
        let mut errors = Errors::new();
        let args = Args::parse(
            quote!(ttl = 0, etag = "bogus", tll = 5, ttl = 6, strong),
            &mut errors,
        );
        assert_eq!(errors.finish().unwrap_err().into_iter().count(), 3);
        assert_eq!(**args.ttl.as_ref().unwrap(), DurationArg(Duration::ZERO));
        assert!(args.etag.is_none());
        assert!(args.strong.is_present());
    }

    #[test]
    fn a_literal_or_a_value_that_is_not_an_expression_is_one_mistake_among_others() {
        assert_eq!(
            message(quote!("images", ttl = , etag = "hsh", crate = pub(crate))),
            [
                "Unexpected meta-item format `literal`",
                "expected an expression",
                "unknown ETag style \"hsh\": did you mean \"hash\"?",
                "expected an expression",
            ]
            .join("\n")
        );
    }

    #[test]
    fn a_repeated_argument_keeps_its_first_correct_value() {
        let args = parse_with_errors(quote!(ttl = true, ttl = 5, ttl = 6));
        assert_eq!(
            **args.ttl.as_ref().unwrap(),
            DurationArg(Duration::from_secs(5))
        );
    }

    #[test]
    fn a_syntax_error_is_the_only_error() {
        assert_eq!(message(quote!(ttl = 0, tll = 5 etag = "x")), "expected `,`");
    }

    #[test]
    fn did_you_mean_needs_a_close_match() {
        assert_eq!(did_you_mean("hsh", &STYLE_NAMES), Some("hash"));
        assert_eq!(did_you_mean("compsite", &STYLE_NAMES), Some("composite"));
        assert_eq!(did_you_mean("zzz", &STYLE_NAMES), None);
    }
}
