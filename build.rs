//! Compiles proto/moderato/v1 with a pure-Rust protoc and writes the descriptor set for reflection.

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/moderato/v1/common.proto",
        "proto/moderato/v1/captcha.proto",
        "proto/moderato/v1/comment.proto",
        "proto/moderato/v1/moderation.proto",
        "proto/moderato/v1/admin.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("moderato_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
