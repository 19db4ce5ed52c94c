//! `#[derive(Resource)]`: the style traits from a struct's fields.
//! `UpdatedAt` from a field named `updated_at` (or marked
//! `#[resource(updated_at)]`), `Identified` from a field named `id` (or
//! marked `#[resource(id)]`); each only when such a field exists, and at
//! least one must.

use darling::{FromDeriveInput, FromField};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Member};

use crate::args::CratePath;
use crate::flag::Flag;

#[derive(FromDeriveInput)]
#[darling(attributes(resource), supports(struct_named, struct_tuple))]
struct Input {
    ident: syn::Ident,
    generics: syn::Generics,
    data: darling::ast::Data<(), Field>,
    /// The path of the `cached-etag` crate, for re-exporters.
    #[darling(rename = "crate")]
    krate: Option<CratePath>,
}

#[derive(FromField)]
#[darling(attributes(resource))]
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
    match syn::parse2::<DeriveInput>(input)
        .map_err(darling::Error::from)
        .and_then(|input| expand(&input))
    {
        Ok(tokens) => tokens,
        Err(errors) => errors.write_errors(),
    }
}

fn expand(input: &DeriveInput) -> darling::Result<TokenStream> {
    let input = Input::from_derive_input(input)?;
    let fields = input
        .data
        .as_ref()
        .take_struct()
        .expect("darling accepts only structs here");
    let mut errors = darling::Error::accumulator();
    let updated_at = role(&fields.fields, "updated_at", |f| f.updated_at, &mut errors);
    let id = role(&fields.fields, "id", |f| f.id, &mut errors);
    if updated_at.is_none() && id.is_none() {
        errors.push(
            darling::Error::custom(
                "`Resource` needs a field named `updated_at` or `id`, or one marked \
                 `#[resource(updated_at)]` or `#[resource(id)]`",
            )
            .with_span(&input.ident),
        );
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
    fields: &[&Field],
    name: &str,
    marked: impl Fn(&Field) -> Flag,
    errors: &mut darling::error::Accumulator,
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
            errors.push(
                darling::Error::custom(format!("only one field can be `#[resource({name})]`"))
                    .with_span(&flag.span()),
            );
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
}
