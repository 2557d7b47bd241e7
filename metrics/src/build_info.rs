//! What build this is, for `gatehouse_build_info`.

/// The crate version the binary was built from.
pub const BUILD_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git revision, from `GATEHOUSE_GIT_REV` at build time, else "unknown".
pub const BUILD_REVISION: &str = match option_env!("GATEHOUSE_GIT_REV") {
    Some(rev) => rev,
    None => "unknown",
};
