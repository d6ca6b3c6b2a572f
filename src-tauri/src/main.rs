fn main() {
    eprintln!("Latchkey's window arrives with issue 3; the core is in the library.");
}
