//! Expansion snapshots: each `tests/expand/NAME.rs` is expanded (its
//! `#[cached_etag]` and `#[invalidates]` functions and `#[derive(Resource)]`
//! structs), printed with
//! prettyplease and compared with the committed `NAME.expanded.rs`.
//! `SNAPSHOTS=overwrite cargo test -p cached-etag-macros` rewrites them; read
//! the diff before committing it.

use std::fs;
use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Attribute, Item, Meta};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expand")
}

/// The items of `source`, with the macros under test expanded.
fn expand_file(source: &str) -> String {
    let file: syn::File = syn::parse_str(source).expect("snapshot input parses");
    let mut out = TokenStream::new();
    for item in file.items {
        match item {
            Item::Fn(mut function) => {
                if let Some(args) = take(&mut function.attrs, "cached_etag") {
                    out.extend(super::attribute(args, function.into_token_stream()));
                } else if let Some(args) = take(&mut function.attrs, "invalidates") {
                    out.extend(crate::invalidates::attribute(
                        args,
                        function.into_token_stream(),
                    ));
                } else {
                    function.to_tokens(&mut out);
                }
            }
            Item::Struct(strukt) if derives_resource(&strukt.attrs) => {
                let mut plain = strukt.clone();
                plain.attrs.retain(|attr| !attr.path().is_ident("derive"));
                plain.to_tokens(&mut out);
                out.extend(crate::derive::resource(strukt.into_token_stream()));
            }
            other => other.to_tokens(&mut out),
        }
    }
    let file: syn::File = syn::parse2(out).expect("the expansion parses as a file");
    prettyplease::unparse(&file)
}

/// Removes `#[name(...)]` from `attrs`, returning what was in the parentheses.
fn take(attrs: &mut Vec<Attribute>, name: &str) -> Option<TokenStream> {
    let index = attrs.iter().position(|attr| attr.path().is_ident(name))?;
    Some(match attrs.remove(index).meta {
        Meta::List(list) => list.tokens,
        _ => quote!(),
    })
}

fn derives_resource(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("derive")
            && attr.meta.to_token_stream().to_string().contains("Resource")
    })
}

#[test]
fn snapshots() {
    let overwrite = std::env::var_os("SNAPSHOTS").is_some_and(|v| v == "overwrite");
    let mut inputs: Vec<PathBuf> = fs::read_dir(dir())
        .expect("tests/expand exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .filter(|path| !path.to_string_lossy().ends_with(".expanded.rs"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 5, "snapshot inputs: {inputs:?}");
    let mut stale = Vec::new();
    for input in &inputs {
        let expanded = expand_file(&fs::read_to_string(input).unwrap());
        let snapshot = input.with_extension("expanded.rs");
        if overwrite {
            fs::write(&snapshot, &expanded).unwrap();
        } else if fs::read_to_string(&snapshot).ok().as_deref() != Some(expanded.as_str()) {
            eprintln!(
                "--- {} differs; new expansion:\n{expanded}",
                snapshot.display()
            );
            stale.push(snapshot);
        }
    }
    assert!(
        stale.is_empty(),
        "stale snapshots {stale:?}: rerun with SNAPSHOTS=overwrite and review the diff"
    );
}
