use std::process::ExitCode;

/// The proxy allocates and frees many small buffers per request (header maps, parsed bodies,
/// records); with glibc's malloc that was 13% of its instructions, with mimalloc about half.
/// `cargo bench --bench proxy` measures the whole.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tollgate::cli::main()
}
