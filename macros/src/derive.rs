//! `#[derive(Resource)]`: the style traits from a struct's fields.
//! `UpdatedAt` from a field named `updated_at` (or marked
//! `#[resource(updated_at)]`), `Identified` from a field named `id` (or
//! marked `#[resource(id)]`); each only when such a field exists, and at
//! least one must.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, Member, Meta};

use crate::args::CratePath;
use crate::errors::Errors;
use crate::flag::Flag;
use crate::nested::{self, Nested, Seen};

/// The struct, with what its `#[resource(...)]` attributes say.
struct Input {
    ident: syn::Ident,
    generics: syn::Generics,
    fields: Vec<Field>,
    /// The path of the `cached-etag` crate, for re-exporters.
    krate: Option<CratePath>,
}

struct Field {
    ident: Option<syn::Ident>,
    ty: syn::Type,
    /// This field is the update time.
    updated_at: Flag,
    /// This field is the id.
    id: Flag,
}

/// The field playing one role, found by attribute first, then by name.
struct Role {
    member: Member,
    span: proc_macro2::Span,
}

/// Expands the derive; errors (all of them) as `compile_error!`s.
pub(crate) fn resource(input: TokenStream) -> TokenStream {
    let mut errors = Errors::new();
    let output = errors.handle(syn::parse2::<DeriveInput>(input).and_then(|input| expand(&input)));
    match errors.finish() {
        Ok(()) => output.unwrap_or_default(),
        Err(errors) => errors.into_compile_error(),
    }
}

impl Input {
    /// Reads the struct and every `#[resource(...)]` on it and its fields;
    /// every mistake in them is reported, at once.
    fn read(input: &DeriveInput) -> syn::Result<Input> {
        let mut errors = Errors::new();
        let mut krate = None;
        read_attrs(
            &input.attrs,
            &mut errors,
            |name, item, seen, errors| match name {
                "crate" => seen.fill(&mut krate, name, item, errors),
                _ => errors.push(nested::unknown_field(item, name, &["crate"])),
            },
        );
        let expected = "named fields or unnamed fields";
        let fields = match &input.data {
            Data::Struct(data) if matches!(data.fields, Fields::Unit) => {
                errors.push(unsupported_shape("no fields", expected));
                Vec::new()
            }
            Data::Struct(data) => data
                .fields
                .iter()
                .map(|field| Field::read(field, &mut errors))
                .collect(),
            Data::Enum(_) => {
                errors.push(unsupported_shape(
                    "enum",
                    &format!("struct with {expected}"),
                ));
                Vec::new()
            }
            Data::Union(_) => {
                errors.push(unsupported_shape(
                    "union",
                    &format!("struct with {expected}"),
                ));
                Vec::new()
            }
        };
        errors.finish()?;
        Ok(Input {
            ident: input.ident.clone(),
            generics: input.generics.clone(),
            fields,
            krate,
        })
    }
}

impl Field {
    fn read(field: &syn::Field, errors: &mut Errors) -> Field {
        let (mut updated_at, mut id) = (Flag::default(), Flag::default());
        read_attrs(
            &field.attrs,
            errors,
            |name, item, seen, errors| match name {
                "updated_at" => seen.fill(&mut updated_at, name, item, errors),
                "id" => seen.fill(&mut id, name, item, errors),
                _ => errors.push(nested::unknown_field(item, name, &["updated_at", "id"])),
            },
        );
        Field {
            ident: field.ident.clone(),
            ty: field.ty.clone(),
            updated_at,
            id,
        }
    }
}

/// Hands each argument of every `#[resource(...)]` among `attrs` to `read`,
/// with its name; one name written twice, in one attribute or two, is a
/// duplicate.
fn read_attrs(
    attrs: &[Attribute],
    errors: &mut Errors,
    mut read: impl FnMut(&str, &Nested, &mut Seen, &mut Errors),
) {
    let mut seen = Seen::default();
    for attr in attrs {
        if nested::path_to_string(attr.path()) != "resource" {
            continue;
        }
        let tokens = match &attr.meta {
            Meta::List(list) => list.tokens.clone(),
            // `#[resource]`: nothing to read.
            Meta::Path(_) => continue,
            Meta::NameValue(name_value) => {
                let colon = if name_value.path.leading_colon.is_some() {
                    "::"
                } else {
                    ""
                };
                let path = nested::path_to_string(&name_value.path);
                errors.push(syn::Error::new(
                    name_value.span(),
                    format!("Name-value arguments are not supported. Use #[{colon}{path}(...)]"),
                ));
                continue;
            }
        };
        let Some(items) = errors.handle(nested::parse_list(tokens)) else {
            continue;
        };
        for item in &items {
            match item.path() {
                Some(path) => read(&nested::path_to_string(path), item, &mut seen, errors),
                None => errors.push(nested::unexpected_format("literal", item.span())),
            }
        }
    }
}

/// A type the derive does not take, reported at the derive itself.
fn unsupported_shape(shape: &str, expected: &str) -> syn::Error {
    syn::Error::new(
        Span::call_site(),
        format!("Unsupported shape `{shape}`. Expected {expected}."),
    )
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let input = Input::read(input)?;
    let mut errors = Errors::new();
    let updated_at = role(&input.fields, "updated_at", |f| f.updated_at, &mut errors);
    let id = role(&input.fields, "id", |f| f.id, &mut errors);
    if updated_at.is_none() && id.is_none() {
        errors.push(syn::Error::new(
            input.ident.span(),
            "`Resource` needs a field named `updated_at` or `id`, or one marked \
             `#[resource(updated_at)]` or `#[resource(id)]`",
        ));
    }
    errors.finish()?;

    let krate = CratePath::or_default(input.krate);
    let private = quote!(#krate::__private);
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut out = TokenStream::new();
    if let Some(Role { member, span }) = updated_at {
        let call = quote_spanned!(span=> #private::Timestamp::to_system_time(&self.#member));
        out.extend(quote! {
            impl #impl_generics #private::UpdatedAt for #ident #ty_generics #where_clause {
                fn updated_at(&self) -> #private::SystemTime {
                    #call
                }
            }
        });
    }
    if let Some(Role { member, span }) = id {
        let display = quote_spanned!(span=> &self.#member);
        out.extend(quote! {
            impl #impl_generics #private::Identified for #ident #ty_generics #where_clause {
                fn id(&self) -> impl #private::Display + '_ {
                    #display
                }
            }
        });
    }
    Ok(out)
}

/// The field marked for `name`, else the field called `name`. Two marked
/// fields are an error at the second.
fn role(
    fields: &[Field],
    name: &str,
    marked: impl Fn(&Field) -> Flag,
    errors: &mut Errors,
) -> Option<Role> {
    let member = |index: usize, field: &Field| {
        field
            .ident
            .clone()
            .map_or_else(|| Member::from(index), Member::Named)
    };
    let mut found: Option<Role> = None;
    for (index, field) in fields.iter().enumerate() {
        let flag = marked(field);
        if !flag.is_present() {
            continue;
        }
        if found.is_some() {
            errors.push(syn::Error::new(
                flag.span(),
                format!("only one field can be `#[resource({name})]`"),
            ));
            continue;
        }
        found = Some(Role {
            member: member(index, field),
            span: field.ty.span(),
        });
    }
    found.or_else(|| {
        fields.iter().enumerate().find_map(|(index, field)| {
            field
                .ident
                .as_ref()
                .filter(|ident| *ident == name)
                .map(|_| Role {
                    member: member(index, field),
                    span: field.ty.span(),
                })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn derive(input: TokenStream) -> String {
        resource(input).to_string()
    }

    #[test]
    fn both_traits_from_named_fields() {
        let out = derive(quote! {
            struct Image { id: i64, updated_at: SystemTime, name: String }
        });
        assert_eq!(
            out,
            "impl :: cached_etag :: __private :: UpdatedAt for Image { \
             fn updated_at (& self) -> :: cached_etag :: __private :: SystemTime { \
             :: cached_etag :: __private :: Timestamp :: to_system_time (& self . updated_at) } } \
             impl :: cached_etag :: __private :: Identified for Image { \
             fn id (& self) -> impl :: cached_etag :: __private :: Display + '_ { & self . id } }"
        );
    }

    #[test]
    fn only_the_traits_whose_field_exists() {
        let out = derive(quote!(
            struct Settings {
                updated_at: SystemTime,
            }
        ));
        assert!(
            out.contains("UpdatedAt") && !out.contains("Identified"),
            "{out}"
        );
        let out = derive(quote!(
            struct Tag {
                id: u32,
            }
        ));
        assert!(
            !out.contains("UpdatedAt") && out.contains("Identified"),
            "{out}"
        );
    }

    #[test]
    fn marked_fields_win_over_names() {
        let out = derive(quote! {
            struct Camera {
                id: i64,
                #[resource(id)] slug: String,
                #[resource(updated_at)] modified: DateTime<Utc>,
            }
        });
        assert!(out.contains("to_system_time (& self . modified)"), "{out}");
        assert!(out.contains("{ & self . slug }"), "{out}");
    }

    #[test]
    fn tuple_fields_by_index_and_generics_kept() {
        let out = derive(quote! {
            #[resource(crate = my::ce)]
            struct Versioned<T: Clone>(#[resource(id)] u64, T, #[resource(updated_at)] SystemTime) where T: Send;
        });
        assert!(out.starts_with("impl < T : Clone > my :: ce :: __private :: UpdatedAt for Versioned < T > where T : Send"), "{out}");
        assert!(out.contains("to_system_time (& self . 2)"), "{out}");
        assert!(out.contains("{ & self . 0 }"), "{out}");
    }

    #[test]
    fn errors() {
        let out = derive(quote!(
            struct Plain {
                name: String,
            }
        ));
        assert!(
            out.contains("`Resource` needs a field named `updated_at` or `id`"),
            "{out}"
        );
        let out = derive(quote!(
            enum E {
                A,
            }
        ));
        assert!(out.contains("compile_error"), "{out}");
        let out = derive(quote!(
            struct S {
                #[resource(id)]
                a: u8,
                #[resource(id)]
                b: u8,
            }
        ));
        assert!(
            out.contains("only one field can be `#[resource(id)]`"),
            "{out}"
        );
        let out = derive(quote!(
            struct S {
                #[resource(idd)]
                a: u8,
            }
        ));
        assert!(out.contains("Did you mean `id`?"), "{out}");
    }

    /// The messages of `out`'s `compile_error!`s, in order.
    fn messages(out: &str) -> Vec<String> {
        out.split("compile_error ! {")
            .skip(1)
            .map(|rest| rest.split('"').nth(1).unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn every_attribute_mistake_is_reported_together() {
        let out = derive(quote! {
            #[resource(crate = 5, "x")]
            struct S {
                #[resource(idd)]
                a: u8,
                #[resource(id)]
                #[resource(id, updated_at = true)]
                b: u8,
                #[resource = "id"]
                c: u8,
            }
        });
        assert_eq!(
            messages(&out),
            [
                "Unexpected type `int`",
                "Unexpected meta-item format `literal`",
                "Unknown field: `idd`. Did you mean `id`?",
                "Duplicate field `id`",
                "Unexpected type `bool`",
                "Name-value arguments are not supported. Use #[resource(...)]",
            ]
        );
    }

    #[test]
    fn only_structs_with_fields() {
        let shape = |input| messages(&derive(input));
        assert_eq!(
            shape(quote!(
                enum E {
                    A,
                }
            )),
            ["Unsupported shape `enum`. Expected struct with named fields or unnamed fields."]
        );
        assert_eq!(
            shape(quote!(
                struct Unit;
            )),
            ["Unsupported shape `no fields`. Expected named fields or unnamed fields."]
        );
        assert!(
            derive(quote!(
                struct Id(#[resource(id)] u64);
            ))
            .contains("Identified")
        );
    }
}
