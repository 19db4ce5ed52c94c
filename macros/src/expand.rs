//! Code generation.
use proc_macro2::TokenStream;
use quote::quote;
use crate::model::Model;

pub(crate) fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    match Model::parse(args, item.clone()) {
        Ok(_model) => item,
        Err(errors) => {
            let errors = errors.write_errors();
            quote!(#item #errors)
        }
    }
}
