fn main() -> std::process::ExitCode {
    nightshift::main()
}
