//! Black-box tests: a real `kura server` on loopback, driven by the AWS SDK for Rust and plain HTTP.

mod harness;
mod issuer;

mod agent;
mod attacks;
mod audit;
mod backup;
mod bucket_settings;
mod buckets;
mod checksums;
mod cors;
mod crash;
mod deploy;
mod encryption;
mod encryption_tamper;
mod full_disk;
mod ha;
mod iam;
mod identity;
mod kms;
mod lifecycle;
mod listing;
mod master_keys;
mod multipart;
mod object_lock;
mod objects;
mod operate;
mod pg_backup;
mod pg_faults;
mod postgres;
mod presign;
mod replicas;
mod signatures;
mod tls;
mod versioning;
mod webhook;
