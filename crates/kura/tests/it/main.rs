//! Black-box tests: a real `kura server` on loopback, driven by the AWS SDK for Rust and plain HTTP.

mod harness;
mod issuer;

mod agent;
mod attacks;
mod audit;
mod backup;
mod buckets;
mod crash;
mod deploy;
mod iam;
mod identity;
mod listing;
mod multipart;
mod object_lock;
mod objects;
mod operate;
mod presign;
mod signatures;
mod tls;
mod versioning;
mod webhook;
