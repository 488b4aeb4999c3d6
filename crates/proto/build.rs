//! Compiles `proto/*.proto` with the vendored `protoc`, so no system protoc is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let mut protos: Vec<PathBuf> =
        std::fs::read_dir(&root)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    protos.retain(|p| p.extension().is_some_and(|e| e == "proto"));
    protos.sort();
    println!("cargo:rerun-if-changed={}", root.display());
    for p in &protos {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Malformed requests are the client's fault: see `src/codec.rs`.
    tonic_prost_build::configure().codec_path("crate::codec::LogsCodec").compile_with_config(
        config,
        &protos,
        &[root],
    )?;
    Ok(())
}
