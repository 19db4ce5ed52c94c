//! Compile-time behaviour of `#[cached_etag]`, `#[invalidates]` and
//! `#[derive(Resource)]`:
//! `ui/pass` must compile, the others must fail with the committed `.stderr`.
//! Regenerate with `TRYBUILD=overwrite cargo test --test ui`, then read every
//! changed `.stderr` (see `ui/README.md` for the compiler they came from).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/args/*.rs");
    t.compile_fail("tests/ui/signature/*.rs");
    t.compile_fail("tests/ui/bounds/*.rs");
    t.compile_fail("tests/ui/invalidates/*.rs");
}
