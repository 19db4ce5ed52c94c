//! An attribute's argument list as written, read over plain syn (its `Meta`
//! types and parse streams), and what the three macros share in reading it:
//! a value with the span it was written at, the messages for an unknown, a
//! repeated or a misshapen argument.
//!
//! No argument-parsing crate is used, for compile cost: darling's crates
//! would build for this crate alone, and darling turns on syn's
//! `extra-traits` feature, which makes syn itself, on which every proc-macro
//! in a user's tree waits, much slower to build. syn's own `meta::parser`
//! stops at the first mistake and takes no literal argument (the tags of
//! `#[invalidates]`), so the list is read here with darling's grammar: every
//! argument is a literal (`"camera:{id}"`), a word (`strong`), a list
//! (`tags("a")`) or `name = value`, and a value that is not an expression is
//! one mistake among the others, not the end of the list. The messages keep
//! darling's wording, which users of other derive macros know.

use std::collections::BTreeSet;
use std::ops::Deref;

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::discouraged::Speculative;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::token::{Brace, Bracket, Paren};
use syn::{
    Expr, ExprLit, Ident, Lit, MacroDelimiter, Meta, MetaList, MetaNameValue, Path, PathSegment,
    Token,
};

use crate::errors::Errors;

/// One argument of the list.
#[derive(Clone)]
pub(crate) enum Nested {
    /// A literal: `"camera:{id}"`.
    Lit(Lit),
    /// `name`, `name(...)` or `name = value`.
    Meta(Meta),
    /// `name = ...` where `...` is not an expression: the name, and the
    /// error that reading the value gave.
    Invalid(Path, syn::Error),
}

impl Nested {
    /// The argument's name, unless it is a literal.
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Nested::Lit(_) => None,
            Nested::Meta(meta) => Some(meta.path()),
            Nested::Invalid(path, _) => Some(path),
        }
    }

    /// Where the argument starts: errors about the whole argument point here.
    pub(crate) fn span(&self) -> Span {
        match self {
            Nested::Lit(lit) => lit.span(),
            Nested::Meta(meta) => meta.span(),
            Nested::Invalid(path, _) => path.span(),
        }
    }

    /// The argument's value read as a `T`.
    pub(crate) fn parse<T: FromMeta>(&self) -> syn::Result<T> {
        match self {
            Nested::Lit(lit) => Err(unexpected_format("literal", lit.span())),
            Nested::Meta(meta) => T::from_meta(meta),
            Nested::Invalid(_, error) => Err(error.clone()),
        }
    }
}

/// Reads a comma-separated argument list. Only a mistake in the list's
/// syntax is an error here; what each argument holds is read later, so that
/// every mistake in the values is reported.
pub(crate) fn parse_list(tokens: TokenStream) -> syn::Result<Vec<Nested>> {
    Punctuated::<Nested, Token![,]>::parse_terminated
        .parse2(tokens)
        .map(|list| list.into_iter().collect())
}

impl syn::parse::Parse for Nested {
    fn parse(input: ParseStream<'_>) -> syn::Result<Nested> {
        // `true = 1` is a (wrong) name, not the literal `true`.
        if input.peek(Lit) && !(input.peek(syn::LitBool) && input.peek2(Token![=])) {
            input.parse().map(Nested::Lit)
        } else if input.peek(Ident::peek_any)
            || input.peek(Token![::]) && input.peek3(Ident::peek_any)
        {
            let path = path(input)?;
            after_path(path, input)
        } else {
            Err(input.error("expected identifier or literal"))
        }
    }
}

/// A path whose segments may be keywords, as in `crate = ...`.
fn path(input: ParseStream<'_>) -> syn::Result<Path> {
    let leading_colon = input.parse()?;
    let mut segments = Punctuated::new();
    while input.peek(Ident::peek_any) {
        segments.push_value(PathSegment::from(Ident::parse_any(input)?));
        if !input.peek(Token![::]) {
            break;
        }
        segments.push_punct(input.parse()?);
    }
    if segments.is_empty() {
        return Err(input.error("expected identifier"));
    }
    if segments.trailing_punct() {
        return Err(input.error("expected path segment after `::`"));
    }
    Ok(Path {
        leading_colon,
        segments,
    })
}

fn after_path(path: Path, input: ParseStream<'_>) -> syn::Result<Nested> {
    if input.peek(Paren) || input.peek(Bracket) || input.peek(Brace) {
        let (delimiter, tokens) = input.step(|cursor| match cursor.token_tree() {
            Some((TokenTree::Group(group), rest)) => {
                let span = group.delim_span();
                let delimiter = match group.delimiter() {
                    Delimiter::Parenthesis => MacroDelimiter::Paren(Paren(span)),
                    Delimiter::Brace => MacroDelimiter::Brace(Brace(span)),
                    Delimiter::Bracket => MacroDelimiter::Bracket(Bracket(span)),
                    Delimiter::None => return Err(cursor.error("expected delimiter")),
                };
                Ok(((delimiter, group.stream()), rest))
            }
            _ => Err(cursor.error("expected delimiter")),
        })?;
        return Ok(Nested::Meta(Meta::List(MetaList {
            path,
            delimiter,
            tokens,
        })));
    }
    if !input.peek(Token![=]) {
        return Ok(Nested::Meta(Meta::Path(path)));
    }
    let eq_token: Token![=] = input.parse()?;
    // A literal ending the list is taken whole (syn reads `-5` as one), as
    // syn's own `Meta` does.
    let ahead = input.fork();
    let lit: Option<Lit> = ahead.parse()?;
    let value = match lit {
        Some(lit) if ahead.is_empty() => {
            input.advance_to(&ahead);
            Expr::Lit(ExprLit {
                attrs: Vec::new(),
                lit,
            })
        }
        _ if input.peek(Token![#]) && input.peek2(Bracket) => {
            return Err(input.error("unexpected attribute inside of attribute"));
        }
        _ => match input.parse::<Expr>() {
            Ok(expr) => expr,
            Err(error) => {
                // Skip to the next argument; the error is this one's.
                input.step(|cursor| {
                    let mut rest = *cursor;
                    while let Some((tree, next)) = rest.token_tree() {
                        match tree {
                            TokenTree::Punct(punct) if punct.as_char() == ',' => break,
                            _ => rest = next,
                        }
                    }
                    Ok(((), rest))
                })?;
                return Ok(Nested::Invalid(path, error));
            }
        },
    };
    Ok(Nested::Meta(Meta::NameValue(MetaNameValue {
        path,
        eq_token,
        value,
    })))
}

/// A value read from one argument. The defaults give darling's errors for a
/// shape the type does not take.
pub(crate) trait FromMeta: Sized {
    fn from_meta(meta: &Meta) -> syn::Result<Self> {
        match meta {
            Meta::Path(_) => Err(unexpected_format("word", meta.span())),
            Meta::List(_) => Err(unexpected_format("list", meta.span())),
            Meta::NameValue(name_value) => Self::from_expr(&name_value.value),
        }
    }

    fn from_expr(expr: &Expr) -> syn::Result<Self> {
        Err(unexpected_type(expr))
    }
}

/// A value and where it was written: the value of `name = value`, else the
/// name.
#[derive(Clone, Copy)]
pub(crate) struct SpannedValue<T> {
    value: T,
    span: Span,
}

impl<T> SpannedValue<T> {
    pub(crate) fn span(&self) -> Span {
        self.span
    }

    pub(crate) fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for SpannedValue<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: FromMeta> FromMeta for SpannedValue<T> {
    fn from_meta(meta: &Meta) -> syn::Result<Self> {
        let value = T::from_meta(meta)?;
        let span = match meta {
            Meta::Path(path) => path.span(),
            Meta::List(list) => list.tokens.span(),
            Meta::NameValue(name_value) => name_value.value.span(),
        };
        Ok(SpannedValue { value, span })
    }
}

impl FromMeta for syn::LitStr {
    fn from_expr(expr: &Expr) -> syn::Result<Self> {
        match expr {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => Ok(lit.clone()),
            Expr::Group(group) => Self::from_expr(&group.expr),
            _ => Err(unexpected_type(expr)),
        }
    }
}

/// `crate = ::path` or, as serde writes it, `crate = "::path"`.
impl FromMeta for Path {
    fn from_expr(expr: &Expr) -> syn::Result<Self> {
        match expr {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => lit.parse().map_err(|_| {
                syn::Error::new(lit.span(), format!("Unknown value: `{}`", lit.value()))
            }),
            Expr::Path(path) => Ok(path.path.clone()),
            Expr::Group(group) => Self::from_expr(&group.expr),
            _ => Err(unexpected_type(expr)),
        }
    }
}

/// The named arguments seen so far, to report the second of a name.
#[derive(Debug, Default)]
pub(crate) struct Seen(BTreeSet<String>);

impl Seen {
    /// Reads `item` into `slot` when it is the first correct one of its
    /// name. Reports its value's mistake when it is the first of its name,
    /// and a duplicate otherwise (whose value is not checked).
    pub(crate) fn fill<S: Slot>(
        &mut self,
        slot: &mut S,
        name: &str,
        item: &Nested,
        errors: &mut Errors,
    ) {
        let first = self.0.insert(name.to_owned());
        if !first {
            errors.push(syn::Error::new(
                item.span(),
                format!("Duplicate field `{name}`"),
            ));
        }
        match item.parse() {
            Ok(value) if !slot.is_filled() => slot.fill(value),
            Ok(_) => {}
            Err(error) if first => errors.push(error),
            Err(_) => {}
        }
    }
}

/// Where one named argument's value goes.
pub(crate) trait Slot {
    type Value: FromMeta;
    fn is_filled(&self) -> bool;
    fn fill(&mut self, value: Self::Value);
}

impl<T: FromMeta> Slot for Option<T> {
    type Value = T;

    fn is_filled(&self) -> bool {
        self.is_some()
    }

    fn fill(&mut self, value: T) {
        *self = Some(value);
    }
}

/// The argument's name as written, `::` between segments.
pub(crate) fn path_to_string(path: &Path) -> String {
    let names: Vec<String> = path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    names.join("::")
}

/// A name that is not one of `names`, with the closest one if close enough,
/// else all of them when they are few.
pub(crate) fn unknown_field(item: &Nested, name: &str, names: &[&str]) -> syn::Error {
    let names: BTreeSet<&str> = names.iter().copied().collect();
    let mut best: Option<(f64, &str)> = None;
    for candidate in &names {
        let score = strsim::jaro_winkler(name, candidate);
        if score > 0.8 && best.is_none_or(|(high, _)| high < score) {
            best = Some((score, candidate));
        }
    }
    let mut message = format!("Unknown field: `{name}`");
    if let Some((_, best)) = best {
        message.push_str(&format!(". Did you mean `{best}`?"));
    } else if !names.is_empty() && names.len() < 10 {
        let names: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
        message.push_str(&format!(". Available values: {}", names.join(", ")));
    }
    syn::Error::new(item.span(), message)
}

/// A literal, a word or a list where the argument takes another shape.
pub(crate) fn unexpected_format(format: &str, span: Span) -> syn::Error {
    syn::Error::new(span, format!("Unexpected meta-item format `{format}`"))
}

/// A value of a kind the argument does not take, named as darling names it.
pub(crate) fn unexpected_type(expr: &Expr) -> syn::Error {
    let kind = match expr {
        Expr::Group(group) => return unexpected_type(&group.expr),
        Expr::Lit(lit) => match lit.lit {
            Lit::Str(_) => "string",
            Lit::ByteStr(_) => "byte string",
            Lit::Byte(_) => "byte",
            Lit::Char(_) => "char",
            Lit::Int(_) => "int",
            Lit::Float(_) => "float",
            Lit::Bool(_) => "bool",
            Lit::Verbatim(_) => "verbatim",
            _ => "unknown",
        },
        Expr::Array(_) => "array",
        Expr::Assign(_) => "assign",
        Expr::Async(_) => "async",
        Expr::Await(_) => "await",
        Expr::Binary(_) => "binary",
        Expr::Block(_) => "block",
        Expr::Break(_) => "break",
        Expr::Call(_) => "call",
        Expr::Cast(_) => "cast",
        Expr::Closure(_) => "closure",
        Expr::Const(_) => "const",
        Expr::Continue(_) => "continue",
        Expr::Field(_) => "field",
        Expr::ForLoop(_) => "for_loop",
        Expr::If(_) => "if",
        Expr::Index(_) => "index",
        Expr::Infer(_) => "infer",
        Expr::Let(_) => "let",
        Expr::Loop(_) => "loop",
        Expr::Macro(_) => "macro",
        Expr::Match(_) => "match",
        Expr::MethodCall(_) => "method_call",
        Expr::Paren(_) => "paren",
        Expr::Path(_) => "path",
        Expr::Range(_) => "range",
        Expr::Reference(_) => "reference",
        Expr::Repeat(_) => "repeat",
        Expr::Return(_) => "return",
        Expr::Struct(_) => "struct",
        Expr::Try(_) => "try",
        Expr::TryBlock(_) => "try_block",
        Expr::Tuple(_) => "tuple",
        Expr::Unary(_) => "unary",
        Expr::Unsafe(_) => "unsafe",
        Expr::Verbatim(_) => "verbatim",
        Expr::While(_) => "while",
        Expr::Yield(_) => "yield",
        _ => "unknown",
    };
    syn::Error::new(expr.span(), format!("Unexpected type `{kind}`"))
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn shapes(tokens: TokenStream) -> Vec<&'static str> {
        parse_list(tokens)
            .unwrap()
            .iter()
            .map(|item| match item {
                Nested::Lit(_) => "lit",
                Nested::Meta(Meta::Path(_)) => "word",
                Nested::Meta(Meta::List(_)) => "list",
                Nested::Meta(Meta::NameValue(_)) => "value",
                Nested::Invalid(..) => "invalid",
            })
            .collect()
    }

    #[test]
    fn every_shape_of_argument() {
        assert_eq!(
            shapes(
                quote!("a", 7, strong, tags("a"), vary["b"], ttl = 5, crate = ::x::y, x = pub(crate), y = 1)
            ),
            [
                "lit", "lit", "word", "list", "list", "value", "value", "invalid", "value"
            ]
        );
        assert!(parse_list(quote!()).unwrap().is_empty());
    }

    #[test]
    fn a_negative_literal_ending_the_list_is_one_literal() {
        let items = parse_list(quote!(a = -5, b = -5)).unwrap();
        let values: Vec<bool> = items
            .iter()
            .map(|item| {
                matches!(
                    item,
                    Nested::Meta(Meta::NameValue(MetaNameValue {
                        value: Expr::Lit(_),
                        ..
                    }))
                )
            })
            .collect();
        assert_eq!(values, [false, true]);
    }

    #[test]
    fn syntax_errors() {
        let message = |tokens| parse_list(tokens).err().expect("an error").to_string();
        assert_eq!(message(quote!(ttl = 5 etag = "x")), "expected `,`");
        assert_eq!(message(quote!(= 5)), "expected identifier or literal");
        assert_eq!(
            message(quote!(a::)),
            "unexpected end of input, expected path segment after `::`"
        );
        assert_eq!(
            message(quote!(
                a = #[x]
                5
            )),
            "unexpected attribute inside of attribute"
        );
    }

    #[test]
    fn unknown_field_suggests_or_lists() {
        let item = parse_list(quote!(tagz)).unwrap().remove(0);
        assert_eq!(
            unknown_field(&item, "tagz", &["ttl", "tags"]).to_string(),
            "Unknown field: `tagz`. Did you mean `tags`?"
        );
        assert_eq!(
            unknown_field(&item, "zzz", &["crate", "cache"]).to_string(),
            "Unknown field: `zzz`. Available values: `cache`, `crate`"
        );
        assert_eq!(
            unknown_field(&item, "zzz", &[]).to_string(),
            "Unknown field: `zzz`"
        );
    }

    #[test]
    fn unexpected_types_are_named() {
        let named = |expr: Expr| unexpected_type(&expr).to_string();
        assert_eq!(named(syn::parse_quote!(true)), "Unexpected type `bool`");
        assert_eq!(named(syn::parse_quote!("a")), "Unexpected type `string`");
        assert_eq!(named(syn::parse_quote!(a.b)), "Unexpected type `field`");
        assert_eq!(named(syn::parse_quote!(f())), "Unexpected type `call`");
    }

    #[test]
    fn paths_bare_or_quoted() {
        let path = |tokens: TokenStream| {
            let item = parse_list(tokens).unwrap().remove(0);
            item.parse::<Path>().map(|path| quote!(#path).to_string())
        };
        assert_eq!(path(quote!(crate = ::a::b)).unwrap(), ":: a :: b");
        assert_eq!(path(quote!(crate = "::a::b")).unwrap(), ":: a :: b");
        assert_eq!(
            path(quote!(crate = "1 + 1")).unwrap_err().to_string(),
            "Unknown value: `1 + 1`"
        );
        assert_eq!(
            path(quote!(crate = 5)).unwrap_err().to_string(),
            "Unexpected type `int`"
        );
    }
}
