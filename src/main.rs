use std::process::ExitCode;

/// mimalloc: the proxy's tasks allocate a call's strings on one thread and the store's writer
/// frees them on another; glibc's arenas serialised those threads on a lock (a third of the
/// writer's time in the store bench went to malloc and free).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tollgate::cli::main()
}
