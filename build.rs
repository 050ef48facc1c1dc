//! Link-time settings for the `psn` binary.
//!
//! Packed relative relocations (`-z pack-relative-relocs`, DT_RELR): a position-independent
//! `psn` otherwise carries ~1 MB of `R_X86_64_RELATIVE` entries that the loader reads at
//! every start, and those pages stay resident (BENCHMARKS.md, idle memory). Packed, they
//! take ~20 kB. The loader must understand them (glibc 2.36 or newer), so this is only
//! done when building on and for x86-64 Linux with such a glibc; elsewhere nothing changes.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let native = var("TARGET") == var("HOST");
    if native
        && var("TARGET") == "x86_64-unknown-linux-gnu"
        && var("PROFILE") == "release"
        && host_glibc().is_some_and(|v| v >= (2, 36))
    {
        println!("cargo:rustc-link-arg-bin=psn=-Wl,-z,pack-relative-relocs");
    }
}

/// The build host's glibc version, from `getconf GNU_LIBC_VERSION` ("glibc 2.36").
fn host_glibc() -> Option<(u32, u32)> {
    let out = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let (major, minor) = text.trim().strip_prefix("glibc ")?.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}
