//! Every user error of one macro invocation, collected so that the user sees
//! all of them in one build. As serde_derive's `Ctxt`, a collection dropped
//! without [`Errors::finish`] panics in debug builds: forgetting to report
//! what was collected is a bug in this crate, never silent.

/// The errors found so far, in the order found.
#[derive(Debug)]
pub(crate) struct Errors {
    /// `None` once finished.
    errors: Option<Vec<syn::Error>>,
}

impl Errors {
    pub(crate) fn new() -> Errors {
        Errors {
            errors: Some(Vec::new()),
        }
    }

    /// Adds an error, each of its messages spanned at one point: a message
    /// a parser spanned over a whole item (`new_spanned`) is shown at the
    /// item's first token (on stable), as every other message here.
    pub(crate) fn push(&mut self, error: syn::Error) {
        let errors = self.errors.get_or_insert_with(Vec::new);
        errors.extend(
            error
                .into_iter()
                .map(|message| syn::Error::new(message.span(), message)),
        );
    }

    /// The value of `result`, or `None` after adding its error.
    pub(crate) fn handle<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    /// Every error collected, as one `syn::Error` (shown as one
    /// `compile_error!` each, in order), or `Ok` if there was none.
    pub(crate) fn finish(mut self) -> syn::Result<()> {
        let mut errors = self.errors.take().unwrap_or_default().into_iter();
        match errors.next() {
            None => Ok(()),
            Some(mut first) => {
                first.extend(errors);
                Err(first)
            }
        }
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        if cfg!(debug_assertions) && self.errors.is_some() && !std::thread::panicking() {
            panic!("`Errors` dropped without `finish`: collected errors would be lost");
        }
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;

    use super::*;

    #[test]
    fn no_error_is_ok() {
        assert!(Errors::new().finish().is_ok());
    }

    #[test]
    fn every_error_in_order() {
        let mut errors = Errors::new();
        errors.push(syn::Error::new(Span::call_site(), "one"));
        assert_eq!(
            errors.handle::<()>(Err(syn::Error::new(Span::call_site(), "two"))),
            None
        );
        assert_eq!(errors.handle(Ok(3)), Some(3));
        let messages: Vec<String> = errors
            .finish()
            .unwrap_err()
            .into_iter()
            .map(|error| error.to_string())
            .collect();
        assert_eq!(messages, ["one", "two"]);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "dropped without `finish`")]
    fn dropping_unfinished_is_a_bug() {
        let _ = Errors::new();
    }
}
