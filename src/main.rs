//! The `moderato` binary: parses the command line and hands over to [`moderato::cli`].

fn main() -> std::process::ExitCode {
    moderato::cli::main()
}
