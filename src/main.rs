//! The `moderato` binary: parses the command line and hands over to [`moderato::cli`].

/// mimalloc instead of the system allocator: the request path makes many small, short-lived allocations (HTTP/2
/// frames, protobuf strings, reasons), and glibc's malloc/free were about a fifth of the server's CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    moderato::cli::main()
}
