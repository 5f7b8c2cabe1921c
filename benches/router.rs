//! placeholder replaced by the criterion router bench
fn main() {}
