//! Compiles proto/moderato/v1 with a pure-Rust protoc, writes the descriptor set for reflection, and generates
//! the proto3 JSON mapping (serde impls) of every `moderato.v1` message with pbjson.

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/moderato/v1/common.proto",
        "proto/moderato/v1/captcha.proto",
        "proto/moderato/v1/comment.proto",
        "proto/moderato/v1/moderation.proto",
        "proto/moderato/v1/admin.proto",
        "proto/moderato/v1/http.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("moderato_descriptor.bin"), fds.encode_to_vec())?;
    // Well-known types come from pbjson-types, whose Timestamp has the proto3 JSON mapping (RFC 3339).
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(fds.clone())?;
    pbjson_build::Builder::new()
        .register_descriptors(&fds.encode_to_vec())?
        .out_dir(&out)
        .build(&[".moderato.v1"])?;
    Ok(())
}
