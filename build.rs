//! Rebuilds when the PostgreSQL schema or the sqlx offline data changes: `sqlx::migrate!` and
//! `sqlx::query!` read those folders at compile time, and the compiler only watches files that
//! already existed when they were read (a new migration would otherwise not be embedded).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=.sqlx");
}
