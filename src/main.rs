fn main() -> std::process::ExitCode {
    devstack::main_entry()
}
