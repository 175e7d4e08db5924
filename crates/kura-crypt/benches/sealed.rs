//! Throughput of sealing and opening bodies (filled in below).
fn main() {}
