//! Arbitrary input through the attributes' parse, check and expand entry
//! points (`#[cached_etag]`, `#[invalidates]`) and `#[derive(Resource)]`
//! (the item, and a struct with the arguments in `#[resource(...)]`): a
//! mistake must come back as a compile error, never a panic. Two shapes of
//! input: raw text lexed into token streams (anything the compiler could
//! hand the macro), and attribute-like arguments over a generated function,
//! which reach the checks past the parser. When the item is a function, the
//! output must be Rust again: the expansion, or the function followed by
//! its errors.
//!
//! A proc-macro crate exports only its macros, so the macro crate's modules
//! are compiled into this target from their source files (below): the code
//! fuzzed is the code the attribute runs, with no library split out of it.
#![no_main]

use std::str::FromStr;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use proc_macro2::TokenStream;

/// The macro crate's modules, as its `lib.rs` declares them. Paths in them
/// (`crate::args`, `crate::model`…) resolve through the `use` below.
#[path = "../../macros/src"]
#[allow(dead_code, unused_imports)]
mod macros {
    pub(crate) mod args;
    pub(crate) mod derive;
    pub(crate) mod duration;
    pub(crate) mod errors;
    pub(crate) mod expand;
    pub(crate) mod flag;
    pub(crate) mod handler;
    pub(crate) mod invalidates;
    pub(crate) mod model;
    pub(crate) mod nested;
    pub(crate) mod template;
}

#[allow(unused_imports)]
use macros::{
    args, derive, duration, errors, expand, flag, handler, invalidates, model, nested, template,
};

fuzz_target!(|data: &[u8]| {
    let mut input = Unstructured::new(data);
    let Ok(structured) = input.arbitrary::<bool>() else {
        return;
    };
    let made = if structured {
        attribute_like(&mut input)
    } else {
        raw(input.take_rest())
    };
    let Some((args, item)) = made else {
        return;
    };
    let is_fn = syn::parse2::<syn::ItemFn>(item.clone()).is_ok();
    for output in [
        expand::attribute(args.clone(), item.clone()),
        invalidates::attribute(args.clone(), item.clone()),
    ] {
        if is_fn {
            if let Err(error) = syn::parse2::<syn::File>(output.clone()) {
                panic!("the output is not Rust ({error}):\n{output}");
            }
        }
    }
    let _ = derive::resource(item);
    // The same arguments in `#[resource(...)]`, on the struct and a field.
    let _ = derive::resource(quote::quote! {
        #[resource(#args)]
        struct Resource {
            #[resource(#args)]
            id: u64,
        }
    });
});

/// Text lexed into the attribute's arguments and item: everything before
/// the first NUL byte is the arguments, the rest the item.
fn raw(data: &[u8]) -> Option<(TokenStream, TokenStream)> {
    let text = std::str::from_utf8(data).ok()?;
    let (args, item) = text.split_once('\0').unwrap_or((text, ""));
    Some((
        TokenStream::from_str(args).ok()?,
        TokenStream::from_str(item).ok()?,
    ))
}

/// Arguments built from the attributes' own vocabulary (names, durations,
/// styles, tag templates, headers) with arbitrary values mixed in, over a
/// function whose signature pieces come from what handlers write.
fn attribute_like(input: &mut Unstructured<'_>) -> Option<(TokenStream, TokenStream)> {
    let args = arguments(input).ok()?;
    let item = function(input).ok()?;
    Some((
        TokenStream::from_str(&args).ok()?,
        TokenStream::from_str(&item).ok()?,
    ))
}

const NAMES: &[&str] = &[
    "ttl",
    "stale_while_revalidate",
    "stale_if_error",
    "advertise_stale",
    "id",
    "updated_at",
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
    "r#crate",
    "ttl_",
    "Tags",
];

const STRINGS: &[&str] = &[
    "",
    "5m",
    "1h30m",
    "250ms",
    "0s",
    "1d1h1m1s1ms",
    "18446744073709551615s",
    "99999999999999999999d",
    "1.5s",
    "m",
    "hash",
    "timestamp",
    "composite",
    "collection",
    "Hash",
    "images",
    "image:{id}",
    "{id}",
    "{id:?}",
    "{id:>8}",
    "{page}-{id}",
    "{0}",
    "{}",
    "{{",
    "}}",
    "{{id}}",
    "{",
    "}",
    "{r#type}",
    "{self}",
    "{missing}",
    "accept-language",
    "Accept",
    "x-a b",
    "no-store",
    "private, max-age=5",
    "é",
];

const EXPRESSIONS: &[&str] = &[
    "db.version(id)",
    "state.cache.clone()",
    "&*CACHE",
    "async { id }",
    "id",
    "missing",
    "self",
    "|| 1",
    "0",
    "crate::x",
    "my_etag",
    "a::b::<C>",
];

const PARAMETERS: &[&str] = &[
    "Path(id): Path<i64>",
    "State(db): State<Db>",
    "Query(Params { page, .. }): Query<Params>",
    "Path((a, b)): Path<(u8, u8)>",
    "Json(body): Json<T>",
    "id: i64",
    "mut page: u32",
    "r#type: u8",
    "_: Extension<X>",
    "(x, y): (u8, u8)",
    "S { id: ref idref, .. }: S",
    "[first, rest @ ..]: [u8; 3]",
    "self",
    "&self",
    "args: ...",
    "__cached_etag: u8",
];

const RETURNS: &[&str] = &[
    "",
    "-> impl IntoResponse",
    "-> Json<Image>",
    "-> Result<Json<Image>, AppError>",
    "-> (StatusCode, Json<Vec<Image>>)",
    "-> String",
    "-> ()",
    "-> !",
    "-> Result<impl IntoResponse, E>",
    "-> Self",
];

const PREFIXES: &[&str] = &[
    "async fn",
    "pub async fn",
    "fn",
    "async unsafe fn",
    "pub(crate) async fn",
    "async extern \"C\" fn",
    "const async fn",
    "#[doc = \"x\"] async fn",
    "#[axum::debug_handler] async fn",
    "struct",
    "impl",
];

/// A string literal: one from the vocabulary, arbitrary text, or both
/// joined.
fn string(input: &mut Unstructured<'_>) -> Result<String> {
    let text = match input.int_in_range(0u8..=2)? {
        0 => (*input.choose(STRINGS)?).to_owned(),
        1 => input.arbitrary::<String>()?,
        _ => format!("{}{}", input.choose(STRINGS)?, input.choose(STRINGS)?),
    };
    Ok(format!("{text:?}"))
}

/// Text the lexer may or may not accept, for values and bodies.
fn tokens(input: &mut Unstructured<'_>) -> Result<String> {
    Ok(match input.int_in_range(0u8..=1)? {
        0 => (*input.choose(EXPRESSIONS)?).to_owned(),
        _ => input.arbitrary::<String>()?,
    })
}

fn arguments(input: &mut Unstructured<'_>) -> Result<String> {
    let mut args = Vec::new();
    for _ in 0..input.int_in_range(0u8..=6)? {
        let name = if input.ratio(1u8, 8)? {
            input.arbitrary::<String>()?
        } else {
            (*input.choose(NAMES)?).to_owned()
        };
        let arg = match input.int_in_range(0u8..=7)? {
            // A flag.
            0 => name,
            1 => format!("{name} = {}", string(input)?),
            2 => format!("{name} = {}", input.arbitrary::<u64>()?),
            3 => format!("{name} = {}", tokens(input)?),
            4 => {
                let mut list = Vec::new();
                for _ in 0..input.int_in_range(0u8..=3)? {
                    list.push(string(input)?);
                }
                format!("{name}({})", list.join(", "))
            }
            5 => format!("{name}({})", tokens(input)?),
            // A bare string: `#[invalidates]`'s tags.
            6 => string(input)?,
            _ => format!("{name} = {}{}", input.arbitrary::<i64>()?, input.choose(&["", "u8", "i128", ".5", "e9"])?),
        };
        args.push(arg);
    }
    let separator = if input.ratio(1u8, 16)? { " " } else { ", " };
    Ok(args.join(separator))
}

fn function(input: &mut Unstructured<'_>) -> Result<String> {
    let prefix = input.choose(PREFIXES)?;
    let generics = *input.choose(&["", "", "<T>", "<'a>", "<const N: usize>"])?;
    let mut parameters = Vec::new();
    for _ in 0..input.int_in_range(0u8..=3)? {
        parameters.push(*input.choose(PARAMETERS)?);
    }
    let output = input.choose(RETURNS)?;
    let clause = *input.choose(&["", "", "where T: Clone"])?;
    let body = if input.arbitrary()? {
        String::new()
    } else {
        tokens(input)?
    };
    Ok(format!(
        "{prefix} handler{generics}({}) {output} {clause} {{ {body} }}",
        parameters.join(", ")
    ))
}
