//! Cheap validators: what a `check = …` expression may yield.
//!
//! A `check` is the current ETag, computed without doing the handler's work
//! (a version column, a file's modification time). Whatever form it comes
//! in, it becomes an `Option<ETag>`: `None`, an error included, means
//! "unknown", and the handler runs.

use crate::ETag;

/// What a `check = …` expression may yield: the current ETag, or nothing
/// (an error or `None` means "unknown": the handler runs).
#[diagnostic::on_unimplemented(
    message = "`check` must yield an `ETag`, `Option<ETag>` or `Result<ETag, E>`, not `{Self}`",
    label = "this is the value of the `check` expression after `.await`"
)]
pub trait IntoCheck {
    /// The ETag, if known.
    fn into_check(self) -> Option<ETag>;
}

impl IntoCheck for ETag {
    fn into_check(self) -> Option<ETag> {
        Some(self)
    }
}

impl IntoCheck for Option<ETag> {
    fn into_check(self) -> Option<ETag> {
        self
    }
}

impl<E> IntoCheck for Result<ETag, E> {
    fn into_check(self) -> Option<ETag> {
        self.ok()
    }
}

impl<E> IntoCheck for Result<Option<ETag>, E> {
    fn into_check(self) -> Option<ETag> {
        self.ok().flatten()
    }
}

/// The ETag a `check = …` expression yielded.
pub fn check<C: IntoCheck>(value: C) -> Option<ETag> {
    value.into_check()
}
