//! The checked model of `#[invalidates(...)]`: the tags split into literal
//! ones and templates over names the handler's argument patterns bind
//! (checked exactly as `tags(...)` on a read), and the handler's signature
//! checked as a write handler's. Every mistake is reported, each at its
//! token.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Expr, LitStr, Type};

use super::args::Args;
use crate::args::{CratePath, Strings};
use crate::errors::Errors;
use crate::handler::Handler;

/// One tag, checked.
pub(crate) enum Tag {
    /// No placeholder: the tag, unescaped.
    Literal(LitStr),
    /// Placeholders over bound names: the user's literal, for `format!`.
    Template(LitStr),
}

/// Everything the expansion needs, checked.
pub(crate) struct Model {
    /// The handler as written.
    pub handler: Handler,
    /// `crate = ...`, or `::cached_etag`.
    pub krate: syn::Path,
    /// The tags, in the order written.
    pub tags: Vec<Tag>,
    /// `cache = ...`.
    pub cache: Option<Expr>,
}

impl Model {
    /// Parses and checks the attribute's arguments and the item.
    pub(crate) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Model> {
        let mut errors = Errors::new();
        let args = Args::parse(args, &mut errors);
        let handler = match syn::parse2::<syn::ItemFn>(item.clone()) {
            Ok(_) => errors.handle(Handler::parse(item)),
            Err(_) => {
                errors.push(syn::Error::new(
                    item.span(),
                    "#[invalidates] goes on an `async fn` write handler: \
                     this item is not a function",
                ));
                None
            }
        };
        if let Some(handler) = &handler {
            handler.check_as("a write handler", &mut errors);
        }
        if args.tags.is_empty() {
            errors.push(syn::Error::new(
                Span::call_site(),
                "name the tags this write invalidates, as in \
                 #[invalidates(\"camera:{id}\", \"cameras:list\")]",
            ));
        }
        let model = handler.map(|handler| {
            // One at a time, so that the order written is the order sent.
            let tags = args
                .tags
                .into_iter()
                .flat_map(|tag| {
                    let (literal, templated) =
                        crate::model::split_tags(Strings(vec![tag]), &handler, &mut errors);
                    let literal = literal.into_iter().map(Tag::Literal);
                    literal.chain(templated.into_iter().map(Tag::Template))
                })
                .collect();
            Model {
                krate: CratePath::or_default(args.named.krate),
                tags,
                cache: args.named.cache.map(|cache| cache.0),
                handler,
            }
        });
        errors.finish()?;
        Ok(model.expect("no error, so the handler parsed"))
    }

    /// The declared return type, `()` when there is none.
    pub(crate) fn output(&self) -> Option<&Type> {
        self.handler.return_type()
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    const HANDLER: &str =
        "async fn put(Path(id): Path<i64>, State(db): State<Db>) -> StatusCode { todo!() }";

    fn messages(args: TokenStream, item: &str) -> Vec<String> {
        match Model::parse(args, item.parse().unwrap()) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn tags_split_into_literal_and_templated() {
        let model = Model::parse(
            quote!("cameras:list", "camera:{id}"),
            HANDLER.parse().unwrap(),
        )
        .unwrap();
        let [Tag::Literal(list), Tag::Template(camera)] = &model.tags[..] else {
            panic!(
                "{} tags, expected a literal then a template",
                model.tags.len()
            );
        };
        assert_eq!(list.value(), "cameras:list");
        assert_eq!(camera.value(), "camera:{id}");
    }

    #[test]
    fn every_mistake_is_reported() {
        let errors = messages(
            quote!("camera:{idd}", "", 3),
            "fn put(Path(id): Path<i64>) {}",
        );
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("did you mean `{id}`")));
        assert!(errors.iter().any(|e| e.contains("a tag cannot be empty")));
        assert!(errors.iter().any(|e| e.contains("string literal")));
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("a write handler must be an `async fn`"))
        );
    }

    #[test]
    fn tags_are_required_and_items_must_be_functions() {
        assert_eq!(messages(quote!(), HANDLER).len(), 1);
        let errors = messages(quote!("a"), "struct S;");
        assert!(
            errors[0].contains("this item is not a function"),
            "{errors:?}"
        );
    }
}
