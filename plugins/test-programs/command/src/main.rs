//! A plain WASI command: a valid component, but of another world than Baton's.
fn main() {
    println!("hello from a wasi:cli/command component");
}
